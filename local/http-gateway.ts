// The local front door: a node http server that turns each request into the event API Gateway's
// HTTP API sends a Lambda ($default route, payload format 2.0) and writes the handler's structured
// result back. Like API Gateway it refuses bodies over its payload limit without calling the
// handler, and answers a failing handler with a 500 that tells the client nothing internal.
//
// Being an unauthenticated API on the developer's machine, by default it also answers only the
// local machine and only JSON, so that no web page the developer visits can drive it:
// - it listens on 127.0.0.1;
// - a request from a browser page of another origin (an `Origin` header, or `Sec-Fetch-Site`,
//   naming anything but the API's own http://127.0.0.1:<port> or http://localhost:<port>), or one
//   addressed to another host name (a `Host` other than those: DNS rebinding), gets a 403;
// - a body that is not declared `application/json`, or a Content-Type other than that on a method
//   other than GET/HEAD/OPTIONS, gets a 415 (HTML forms can only send other types without CORS);
// - a request node cannot parse (an unknown method, a malformed request line) gets a JSON 400.
// Every refusal has the API's error shape and never reaches the handler.
import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { browserRefusal } from '../client/browser-guard.js';

export interface HttpGatewayOptions {
  /** 0 picks a free port; the gateway reports the real one. */
  port: number;
  host?: string;
  handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  /** Bodies above this get a 413. Default 10 MB, HTTP API's payload limit. */
  maxBodyBytes?: number;
  /** What the handler threw (the client only sees a generic 500). Default: console.error. */
  onError?: (error: unknown) => void;
  /**
   * Refuse (403) requests from browser pages of other origins and requests naming another host.
   * Default true.
   */
  sameOriginOnly?: boolean;
  /** Refuse (415) bodies and Content-Types other than application/json. Default true. */
  jsonOnly?: boolean;
}

export interface HttpGateway {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** API Gateway's own limit on a request body. */
const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
const ACCOUNT_ID = '000000000000';
const API_ID = 'local';
/** In-flight requests get this long to finish after stop() before their sockets are cut. */
const STOP_GRACE_MS = 5_000;

/** Bodies API Gateway passes as text; anything else (and a body without a type) arrives base64-encoded. */
const TEXT_CONTENT_TYPE = /^(text\/|application\/(json|xml|javascript|ecmascript|x-yaml|yaml|graphql)\b|application\/[^;\s]+\+(json|xml)\b)/i;


class PayloadTooLargeError extends Error {}

interface Checks {
  maxBodyBytes: number;
  /** Lower-case `host:port` names of this API; undefined when any origin and host are accepted. */
  ownHosts: ReadonlySet<string> | undefined;
  jsonOnly: boolean;
}

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const host = options.host ?? '127.0.0.1';
  const report = options.onError ?? ((error: unknown) => console.error('[http-gateway]', error));
  const checks: Checks = { maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, ownHosts: undefined, jsonOnly: options.jsonOnly ?? true };

  const server = createServer((request, response) => {
    serve(request, response, options.handler, checks, report).catch((error: unknown) => {
      report(error);
      response.destroy();
    });
  });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostName = host.includes(':') ? `[${host}]` : host;
  if (options.sameOriginOnly ?? true) {
    checks.ownHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `${hostName.toLowerCase()}:${port}`]);
  }
  return {
    url: `http://${hostName}:${port}`,
    port,
    stop: () => close(server),
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  handler: HttpGatewayOptions['handler'],
  checks: Checks,
  report: (error: unknown) => void,
): Promise<void> {
  const requestId = randomBytes(12).toString('base64');
  response.setHeader('apigw-requestid', requestId);
  const refusal = browserRefusal(request, { ownHosts: checks.ownHosts, jsonOnly: checks.jsonOnly, server: 'the local API' });
  if (refusal !== undefined) {
    // Close the connection: whatever body follows is not worth reading.
    response.setHeader('connection', 'close');
    writeJson(response, refusal.status, { error: { code: refusal.code, message: refusal.message } });
    request.resume();
    return;
  }
  const { maxBodyBytes } = checks;
  let body: Buffer;
  try {
    body = await readBody(request, maxBodyBytes);
  } catch (error) {
    if (error instanceof PayloadTooLargeError) {
      // Close the connection: the rest of the body is not worth reading.
      response.setHeader('connection', 'close');
      writeJson(response, 413, { error: { code: 'PAYLOAD_TOO_LARGE', message: `request body exceeds ${maxBodyBytes} bytes` } });
      request.resume();
      return;
    }
    // The client went away mid-body: no one to answer.
    response.destroy();
    return;
  }
  try {
    const result = await handler(toApiGatewayEvent(request, body, requestId));
    if (typeof result !== 'object' || result === null) throw new Error('the handler returned no structured result');
    // A result node cannot write (a bad status code or header value) is the handler's failure too.
    writeResult(response, result);
  } catch (error) {
    report(error);
    for (const name of response.getHeaderNames()) if (name !== 'apigw-requestid') response.removeHeader(name);
    writeJson(response, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
  }
}

/**
 * Node answers a request it cannot parse with a bare 400: this one has the API's JSON error shape.
 * (As in node's own handler, a socket already writing a response is cut instead.)
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  const busy = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (error.code === 'ECONNRESET' || !socket.writable || busy) {
    socket.destroy();
    return;
  }
  const [status, code, message] = clientErrorOf(error.code);
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function clientErrorOf(code: string | undefined): [number, string, string] {
  switch (code) {
    case 'HPE_INVALID_METHOD':
      return [400, 'BAD_REQUEST', 'unknown HTTP method'];
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'HEADERS_TOO_LARGE', 'request headers are too large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'PAYLOAD_TOO_LARGE', 'chunk extensions are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'REQUEST_TIMEOUT', 'the request took too long to arrive'];
    default:
      return [400, 'BAD_REQUEST', 'malformed HTTP request'];
  }
}

function readBody(request: IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) return Promise.reject(new PayloadTooLargeError());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        // A chunked body with no declared length: stop collecting once it is over the limit.
        request.off('data', onData);
        reject(new PayloadTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks)));
    request.once('error', reject);
  });
}

/** The payload format 2.0 event of an HTTP API's $default route. */
export function toApiGatewayEvent(request: IncomingMessage, body: Buffer, requestId: string): APIGatewayProxyEventV2 {
  const target = request.url ?? '/';
  const queryStart = target.indexOf('?');
  const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : target.slice(queryStart + 1);
  const sourceIp = (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');

  // API Gateway lowercases names and joins repeated headers with commas; cookies travel apart.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    const value = raw[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(...value.split(';').map((cookie) => cookie.trim()).filter((cookie) => cookie !== ''));
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  headers['x-forwarded-for'] ??= sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-port'] ??= String(request.socket.localPort ?? '');

  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    queryStringParameters[name] = name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
  }

  const now = new Date();
  const domainName = headers['host'] ?? 'localhost';
  const isText = TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies.length === 0 ? {} : { cookies }),
    headers,
    ...(rawQueryString === '' ? {} : { queryStringParameters }),
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: API_ID,
      domainName,
      domainPrefix: domainName.replace(/:\d+$/, '').split('.')[0] ?? '',
      http: {
        method: request.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0 ? {} : { body: isText ? body.toString('utf8') : body.toString('base64') }),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

function writeResult(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, String(value));
  if (result.cookies !== undefined && result.cookies.length > 0) response.setHeader('set-cookie', result.cookies);
  response.statusCode = result.statusCode ?? 200;
  const body = result.body ?? '';
  response.end(result.isBase64Encoded === true ? Buffer.from(body, 'base64') : body);
}

function writeJson(response: ServerResponse, statusCode: number, value: unknown): void {
  response.statusCode = statusCode;
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify(value));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** requestContext.time's format, e.g. `12/Mar/2020:19:03:58 +0000`. */
function clfTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

async function close(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
  await closed;
  clearTimeout(cut);
}
