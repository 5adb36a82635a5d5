// The SSRF guard of `http` tasks: which hosts a task may call. Entries are exact hosts
// (`api.example.com`), subdomain patterns (`*.example.com`, which matches `a.example.com` and
// `a.b.example.com` but not `example.com` itself) and either of those with a port
// (`localhost:8080`, `*.example.com:8443`), which then matches that port only. Matching is
// case-insensitive and ignores a trailing dot; an entry that cannot be read matches nothing.
//
// An entry starting with `!` denies what it matches (`!localhost:8000`: that port of localhost;
// `!0.0.0.0`: every port of 0.0.0.0; `!*.internal.example.com`) and wins over every allow entry,
// wherever it stands in the list. Deny entries alone allow nothing: a host is allowed when some
// allow entry matches it and no deny entry does. Hosts compare as URL parsing writes them, so
// `!127.1:8000` denies `127.0.0.1:8000` and `![::ffff:127.0.0.1]` denies `[::ffff:7f00:1]`.
// Matching is on the URL's host name, not on the address it resolves to.

interface HostRule {
  /** Lower-case host without a trailing dot; for a pattern, the suffix after `*.`. */
  host: string;
  wildcard: boolean;
  /** Undefined: any port. */
  port: number | undefined;
  /** A `!` entry: matching it refuses the host whatever else matches. */
  deny: boolean;
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

/** Whether a request to `url` is allowed by `allowedHosts` (allow and `!` deny entries). */
export function isHostAllowed(url: URL, allowedHosts: readonly string[]): boolean {
  const host = normalizeHost(url.hostname);
  const port = effectivePort(url);
  let allowed = false;
  for (const entry of allowedHosts) {
    const rule = parseEntry(entry);
    if (rule === undefined || !matches(rule, host, port)) continue;
    if (rule.deny) return false;
    allowed = true;
  }
  return allowed;
}

function matches(rule: HostRule, host: string, port: number): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  return rule.wildcard ? host.endsWith(`.${rule.host}`) : host === rule.host;
}

function parseEntry(entry: string): HostRule | undefined {
  let trimmed = entry.trim();
  const deny = trimmed.startsWith('!');
  if (deny) trimmed = trimmed.slice(1).trim();
  const wildcard = trimmed.startsWith('*.');
  const match = ENTRY.exec(wildcard ? trimmed.slice(2) : trimmed);
  if (match?.[1] === undefined) return undefined;
  const host = canonicalHost(match[1]);
  if (host === undefined || host === '') return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65_535) return undefined;
  return { host, wildcard, port, deny };
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
