// The `http` task kind: render the request from the run input and upstream outputs, refuse hosts
// outside the allow-list, send it with the attempt's signal, and turn the response into an output
// or a classified TaskFailure (2xx output; 408/429/5xx and network errors retryable; the rest not).
import { renderTemplate, type JsonValue, type ValueScope } from '../model/condition.js';
import { UnresolvedPlaceholderError } from '../model/errors.js';
import type { TaskDefinition } from '../model/definition.js';
import { LIMITS, jsonDepthExceeds } from '../model/limits.js';
import { TaskFailure, type TaskContext } from './context.js';
import { truncateUtf8 } from './errors.js';
import { isHostAllowed } from './host-allow-list.js';

/** The `http` block of a task or of an inline compensation, as the schema normalizes it. */
export type HttpSpec = Extract<TaskDefinition, { type: 'http' }>['http'];

export interface HttpTaskEnv {
  /** Hosts the task may call; see host-allow-list.ts for the patterns. */
  httpAllowedHosts: readonly string[];
  /** Defaults to the global fetch; tests pass a fake. */
  fetch?: typeof fetch;
}

/** A successful response body larger than this fails the attempt with `ResponseTooLarge`. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** How much of a failed response's body is kept in the error's details. */
export const ERROR_BODY_BYTES = 1024;

interface RenderedRequest {
  url: URL;
  method: HttpSpec['method'];
  headers: Headers;
  body: string | undefined;
  /** `METHOD origin/path`, for messages: no query string or credentials, which may hold secrets. */
  label: string;
}

export async function executeHttp(spec: HttpSpec, ctx: TaskContext, env: HttpTaskEnv): Promise<unknown> {
  const request = renderRequest(spec, ctx);
  if (!isHostAllowed(request.url, env.httpAllowedHosts)) {
    throw new TaskFailure(
      'HostNotAllowed',
      `${request.label}: host "${request.url.host}" is not in the allowed hosts of http tasks`,
      { retryable: false, details: { host: request.url.host } },
    );
  }
  const send = env.fetch ?? fetch;
  let response: Response;
  try {
    response = await send(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: ctx.signal,
      // A redirect could lead outside the allow-list, so it is reported rather than followed.
      redirect: 'manual',
    });
  } catch (error) {
    throw networkFailure(error, request.label, ctx.signal);
  }
  const { status } = response;
  if (status >= 200 && status < 300) {
    const text = await readText(response, MAX_RESPONSE_BYTES, 'fail', request.label, ctx.signal);
    return parseOutput(status, text, request.label);
  }
  throw await statusFailure(response, request, ctx.signal);
}

function renderRequest(spec: HttpSpec, ctx: TaskContext): RenderedRequest {
  const scope: ValueScope = { input: ctx.input, upstream: ctx.upstream };
  const renderedUrl = renderTemplate(spec.url, scope, { escape: encodeURIComponent, where: 'http.url' });
  const urlText = typeof renderedUrl === 'string' ? renderedUrl : JSON.stringify(renderedUrl);
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw invalidRequest(`http.url renders to "${truncateUtf8(urlText, 512)}", which is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidRequest(`http.url must use http or https, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidRequest('http.url must not carry credentials; send them in a header');
  }
  const label = `${spec.method} ${url.origin}${url.pathname}`;

  const headers = new Headers();
  for (const [name, template] of Object.entries(spec.headers)) {
    try {
      headers.set(name, headerText(renderTemplate(template, scope, { where: `http.headers.${name}` })));
    } catch (error) {
      if (error instanceof UnresolvedPlaceholderError) throw error;
      throw invalidRequest(`${label}: header "${name}" is invalid: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  let body: string | undefined;
  if (spec.body !== undefined) {
    if (spec.method === 'GET') throw invalidRequest(`${label}: a GET request cannot carry a body`);
    body = JSON.stringify(renderTemplate(spec.body, scope, { where: 'http.body' }));
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  // A key the task sets itself wins: some APIs want their own format.
  if (!headers.has('idempotency-key')) headers.set('idempotency-key', ctx.idempotencyKey);
  return { url, method: spec.method, headers, body, label };
}

/** A header value from a rendered template: a lone placeholder may yield any JSON value. */
function headerText(value: JsonValue): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  return JSON.stringify(value);
}

function invalidRequest(message: string): TaskFailure {
  return new TaskFailure('InvalidHttpRequest', message, { retryable: false });
}

/** Output of a 2xx: the JSON body, `{ status, body }` for text that is not JSON, null when empty. */
function parseOutput(status: number, text: string, label: string): unknown {
  if (text.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status, body: text };
  }
  if (jsonDepthExceeds(parsed, LIMITS.maxJsonDepth)) {
    throw new TaskFailure('InvalidResponse', `${label} returned JSON nested deeper than ${LIMITS.maxJsonDepth} levels`, {
      retryable: false,
    });
  }
  return parsed;
}

async function statusFailure(response: Response, request: RenderedRequest, signal: AbortSignal): Promise<TaskFailure> {
  const { status } = response;
  let body: string;
  try {
    body = await readText(response, ERROR_BODY_BYTES, 'truncate', request.label, signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    body = `(body unreadable: ${error instanceof Error ? error.message : String(error)})`;
  }
  const details: Record<string, unknown> = { status, body };
  const location = response.headers.get('location');
  const retryAfter = response.headers.get('retry-after');
  if (location !== null) details['location'] = location;
  if (retryAfter !== null) details['retryAfter'] = retryAfter;
  const retryable = status === 408 || status === 429 || status >= 500;
  const redirect = status >= 300 && status < 400 && location !== null ? ` (redirects are not followed: to ${location})` : '';
  return new TaskFailure('HttpError', `${request.label} returned ${status}${redirect}`, { retryable, details });
}

/**
 * The body as text, reading at most `maxBytes` (+ one chunk): past it, `fail` throws
 * ResponseTooLarge and `truncate` keeps the first `maxBytes`. Stopping early cancels the body,
 * which closes the connection instead of downloading the rest.
 */
async function readText(
  response: Response,
  maxBytes: number,
  overflow: 'fail' | 'truncate',
  label: string,
  signal: AbortSignal,
): Promise<string> {
  if (response.body === null) return '';
  const tooLarge = (bytes: string) =>
    new TaskFailure('ResponseTooLarge', `${label} returned a body of ${bytes} bytes, over the limit of ${maxBytes}`, {
      retryable: false,
    });
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (overflow === 'fail' && declared > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge(String(declared));
  }
  // Node's types give the body stream `any` chunks; fetch always yields bytes.
  const reader = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        if (overflow === 'fail') throw tooLarge(`more than ${maxBytes}`);
        break;
      }
    }
  } catch (error) {
    if (error instanceof TaskFailure) throw error;
    throw networkFailure(error, label, signal);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return total > maxBytes ? truncateUtf8(text, maxBytes) : text;
}

/** A failed send or read: the signal's reason when we aborted it, else a retryable network error. */
function networkFailure(error: unknown, label: string, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof TaskFailure) return error;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  const reason = cause?.message ?? (error instanceof Error ? error.message : String(error));
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new TaskFailure('HttpNetworkError', `${label} failed: ${reason}`, {
    retryable: true,
    cause: error,
    ...(typeof code === 'string' ? { details: { code } } : {}),
  });
}
