// The SSRF guard of `http` tasks: which hosts a task may call. Entries are exact hosts
// (`api.example.com`), subdomain patterns (`*.example.com`, which matches `a.example.com` and
// `a.b.example.com` but not `example.com` itself) and either of those with a port
// (`localhost:8080`, `*.example.com:8443`), which then matches that port only. Matching is
// case-insensitive and ignores a trailing dot; an entry that cannot be read matches nothing.

interface HostRule {
  /** Lower-case host without a trailing dot; for a pattern, the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  /** Undefined: any port. */
  port: number | undefined;
}

/** `host`, `[ipv6]`, either optionally followed by `:port`. */
const ENTRY = /^(\[[0-9a-f:.]+\]|[^:[\]\s/]+)(?::([0-9]{1,5}))?$/i;

/** The comma-separated form of the allow-list setting (HTTP_ALLOWED_HOSTS) as a list. */
export function parseAllowedHosts(setting: string | undefined): string[] {
  return (setting ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Whether a request to `url` is allowed by `allowedHosts`. */
export function isHostAllowed(url: URL, allowedHosts: readonly string[]): boolean {
  const host = normalizeHost(url.hostname);
  const port = effectivePort(url);
  return allowedHosts.some((entry) => {
    const rule = parseEntry(entry);
    if (rule === undefined) return false;
    if (rule.port !== undefined && rule.port !== port) return false;
    return rule.wildcard ? host.endsWith(`.${rule.host}`) : host === rule.host;
  });
}

function parseEntry(entry: string): HostRule | undefined {
  const trimmed = entry.trim();
  const wildcard = trimmed.startsWith('*.');
  const match = ENTRY.exec(wildcard ? trimmed.slice(2) : trimmed);
  if (match?.[1] === undefined) return undefined;
  const host = canonicalHost(match[1]);
  if (host === undefined || host === '') return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65_535) return undefined;
  return { host, wildcard, port };
}

/** The host as URL parsing writes it (lower case, IDN as punycode), so both sides compare alike. */
function canonicalHost(host: string): string | undefined {
  try {
    return normalizeHost(new URL(`http://${host}/`).hostname);
  } catch {
    return undefined;
  }
}

function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}
