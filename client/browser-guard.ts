// What a loopback HTTP server that a browser can reach refuses (the local engine's API and the
// dashboard proxy of `dagflow dashboard`, which signs with the user's AWS credentials): a request
// another page sends (an `Origin` that is not one of the server's own names, or `Sec-Fetch-Site:
// cross-site` without one), one addressed to another host name (DNS rebinding), and a body that is
// not JSON (a form posted from another page needs no preflight; a JSON body does).
import type { IncomingMessage } from 'node:http';

/** Methods that carry no body: a Content-Type on them is ignored (unless a body comes anyway). */
export const BODYLESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** `Sec-Fetch-Site` values of requests that are not cross-site: the page itself, or the user. */
const SAME_SITE_FETCHES = new Set(['same-origin', 'none']);

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

export interface BrowserGuard {
  /** Lower-case `host:port` names of the server; undefined when any origin and host are accepted. */
  ownHosts: ReadonlySet<string> | undefined;
  /** Refuse bodies (and declared Content-Types) other than application/json. */
  jsonOnly: boolean;
  /** How the messages name the server, e.g. `the local API`. */
  server: string;
}

/** Why the request must not be served, if it must not. */
export function browserRefusal(request: IncomingMessage, guard: BrowserGuard): Refusal | undefined {
  const { ownHosts, server } = guard;
  if (ownHosts !== undefined) {
    const origin = request.headers.origin;
    if (origin !== undefined && !isOwnOrigin(origin, ownHosts)) {
      return { status: 403, code: 'FORBIDDEN_ORIGIN', message: `requests from ${JSON.stringify(origin)} are not accepted: ${server} answers only its own origin` };
    }
    const fetchSite = request.headers['sec-fetch-site'];
    if (origin === undefined && fetchSite !== undefined && !SAME_SITE_FETCHES.has(fetchSite.toLowerCase())) {
      return { status: 403, code: 'FORBIDDEN_ORIGIN', message: `${fetchSite} requests are not accepted: ${server} answers only its own origin` };
    }
    const hostHeader = request.headers.host;
    if (hostHeader !== undefined && !ownHosts.has(hostHeader.toLowerCase())) {
      return { status: 403, code: 'FORBIDDEN_HOST', message: `host ${JSON.stringify(hostHeader)} is not a name of ${server}: use ${[...ownHosts][0] ?? '127.0.0.1'}` };
    }
  }
  if (guard.jsonOnly) {
    const contentType = request.headers['content-type'];
    const method = (request.method ?? 'GET').toUpperCase();
    const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
    const declaresType = contentType !== undefined && !BODYLESS_METHODS.has(method);
    if ((hasBody || declaresType) && !isJson(contentType)) {
      return {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `request bodies must be application/json${contentType === undefined ? ' (no Content-Type was sent)' : `, not ${contentType}`}`,
      };
    }
  }
  return undefined;
}

function isOwnOrigin(origin: string, ownHosts: ReadonlySet<string>): boolean {
  const match = /^http:\/\/([^/]+)$/i.exec(origin.trim());
  return match?.[1] !== undefined && ownHosts.has(match[1].toLowerCase());
}

function isJson(contentType: string | undefined): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}
