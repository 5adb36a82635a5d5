// `dagflow dashboard`: the dashboard page of a deployed stack in a local browser. A deployed API
// answers only requests signed with SigV4, which a browser cannot make, so this serves a local
// HTTP server that forwards every request (method, path, query, body, content type) to the API,
// signed with the caller's AWS credentials, and streams the answer back (status, content type,
// body). The page and its calls to the API go through it unchanged.
//
// Anything that can reach the proxy acts with those credentials, so it listens on loopback only,
// and, like the local engine's gateway (local/http-gateway.ts), it refuses what a web page the user
// visits could send it: requests from another origin (Origin, Sec-Fetch-Site), requests naming
// another host (DNS rebinding), bodies other than JSON (what an HTML form can post), and
// proxy-style absolute URLs (only a path is put after the target's origin).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { BODYLESS_METHODS, browserRefusal, type Refusal } from '../client/browser-guard.js';

export const DEFAULT_DASHBOARD_PORT = 3300;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);
/** The HTTP API's payload limit: a larger body would be refused there anyway. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Request headers the API reads; others (cookies, the browser's own) stay here. */
const FORWARDED_HEADERS = ['content-type', 'accept', 'idempotency-key'];

export interface DashboardProxyOptions {
  /** The API every request goes to (a stack's ApiUrl); its path, if any, prefixes each request's. */
  target: string;
  /** Default 3300; 0 picks a free port. */
  port?: number;
  /** 127.0.0.1 (default), localhost or ::1; any other address is refused. */
  host?: string;
  /** Signs each forwarded request (client/sigv4.ts); none: forwarded as it is. */
  sign?: (request: Request) => Promise<Request> | Request;
  /** Hears of each request that could not be forwarded (default: nothing). */
  onError?: (message: string) => void;
  fetch?: typeof fetch;
}

export interface DashboardProxy {
  server: Server;
  /** http://127.0.0.1:<port>, without a trailing slash. */
  url: string;
  port: number;
  /** Stops listening and cuts open connections (the page's keep-alive ones would hold it open). */
  close(): Promise<void>;
}

class PayloadTooLargeError extends Error {}

export async function startDashboardProxy(options: DashboardProxyOptions): Promise<DashboardProxy> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new Error(`the dashboard proxy signs requests with your AWS credentials, so it listens on 127.0.0.1, localhost or ::1 only, not ${host}`);
  }
  const target = new URL(options.target);
  const ownHosts = new Set<string>();
  const server = createServer((request, response) => {
    forward(request, response, { ...options, target, ownHosts }).catch((error: unknown) => {
      options.onError?.(`${request.method} ${request.url}: ${messageOf(error)}`);
      response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_DASHBOARD_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  for (const name of ['127.0.0.1', 'localhost', '[::1]']) ownHosts.add(`${name}:${port}`);
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface ForwardContext extends Omit<DashboardProxyOptions, 'target'> {
  target: URL;
  ownHosts: ReadonlySet<string>;
}

async function forward(request: IncomingMessage, response: ServerResponse, context: ForwardContext): Promise<void> {
  const refusal = refusalOf(request, context.ownHosts);
  if (refusal !== undefined) {
    request.resume();
    return answerError(response, refusal.status, refusal.code, refusal.message);
  }
  const method = (request.method ?? 'GET').toUpperCase();
  let body: Buffer | undefined;
  try {
    body = BODYLESS_METHODS.has(method) ? undefined : await readBody(request);
  } catch (error) {
    if (!(error instanceof PayloadTooLargeError)) return void response.destroy(); // the browser went away
    request.resume();
    return answerError(response, 413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  if (body === undefined) request.resume();
  let upstream: Response;
  try {
    upstream = await send(outgoingRequest(request, method, body, context.target), context);
  } catch (error) {
    context.onError?.(`${method} ${request.url}: ${messageOf(error)}`);
    return answerError(response, 502, 'BAD_GATEWAY', messageOf(error));
  }
  const contentType = upstream.headers.get('content-type');
  response.writeHead(upstream.status, contentType === null ? {} : { 'content-type': contentType });
  if (upstream.body === null) return void response.end();
  // A browser that leaves mid-answer (a reload) ends the stream: nothing to report.
  await pipeline(Readable.fromWeb(upstream.body as ReadableStream<Uint8Array>), response).catch(() => response.destroy());
}

/** The request to the API: the same method, path, query, body and content type, addressed to the target's host. */
function outgoingRequest(request: IncomingMessage, method: string, body: Buffer | undefined, target: URL): Request {
  const basePath = target.pathname.replace(/\/+$/, '');
  const headers = new Headers();
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers.set(name, value);
  }
  // fetch sets Host from the URL, so the API (and the signature) see the target's host name.
  return new Request(`${target.origin}${basePath}${request.url ?? '/'}`, {
    method,
    headers,
    redirect: 'manual',
    ...(body === undefined || body.length === 0 ? {} : { body }),
  });
}

async function send(request: Request, context: ForwardContext): Promise<Response> {
  let signed: Request;
  try {
    signed = context.sign === undefined ? request : await context.sign(request);
  } catch (error) {
    throw new Error(`cannot sign the request: ${messageOf(error)}`);
  }
  try {
    return await (context.fetch ?? globalThis.fetch)(signed);
  } catch (error) {
    throw new Error(`cannot reach ${context.target.origin}: ${causeOf(error)}`);
  }
}

/** Why a request must not be forwarded, if it must not (see the header comment). */
function refusalOf(request: IncomingMessage, ownHosts: ReadonlySet<string>): Refusal | undefined {
  // Only a path goes after the target's origin: a proxy-style absolute URL could name another host.
  if (request.url?.startsWith('/') !== true) return { status: 400, code: 'VALIDATION_ERROR', message: 'the request must name a path (/...)' };
  return browserRefusal(request, { ownHosts, jsonOnly: true, server: 'the dashboard proxy' });
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An answer in the API's error shape, so that the page shows it as it shows the API's own. */
function answerError(response: ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ error: { code, message } }));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return cause?.code ?? cause?.message ?? messageOf(error);
}
