// The `http` task kind: render the request from the run input and upstream outputs, refuse hosts
// outside the allow-list, resolve the secrets its headers name, send it with the attempt's signal,
// and turn the response into an output or a classified TaskFailure (2xx output; 408/429/5xx and
// network errors retryable; the rest not).
import { renderTemplate, secretNameProblem, secretReferences, type JsonValue, type ValueScope } from '../model/condition.js';
import { UnresolvedPlaceholderError } from '../model/errors.js';
import type { TaskDefinition } from '../model/definition.js';
import { LIMITS, jsonDepthExceeds } from '../model/limits.js';
import { TaskFailure, type TaskContext } from './context.js';
import { truncateUtf8 } from './errors.js';
import { isHostAllowed } from './host-allow-list.js';
import { EnvironmentSecretResolver, maskSecrets, type SecretResolver } from './secrets.js';
import { untilAborted } from './until-aborted.js';

/** The `http` block of a task or of an inline compensation, as the schema normalizes it. */
export type HttpSpec = Extract<TaskDefinition, { type: 'http' }>['http'];

export interface HttpTaskEnv {
  /** Hosts the task may call; see host-allow-list.ts for the patterns. */
  httpAllowedHosts: readonly string[];
  /** Defaults to the global fetch; tests pass a fake. */
  fetch?: typeof fetch;
  /** Resolves `{{secret:NAME}}` in header values; environment variables when not given. */
  secrets?: SecretResolver;
}

const environmentSecrets = new EnvironmentSecretResolver();

/** A successful response body larger than this fails the attempt with `ResponseTooLarge`. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** How much of a failed response's body is kept in the error's details. */
export const ERROR_BODY_BYTES = 1024;

interface RenderedTarget {
  url: URL;
  /** `METHOD origin/path`, for messages: no query string or credentials, which may hold secrets. */
  label: string;
}

interface RenderedRequest extends RenderedTarget {
  method: HttpSpec['method'];
  headers: Headers;
  body: string | undefined;
}

/** `callback`: the token a callback task's request may quote (`{{callback.token}}`). */
export async function executeHttp(spec: HttpSpec, ctx: TaskContext, env: HttpTaskEnv, callback?: { token: string }): Promise<unknown> {
  const scope: ValueScope = { input: ctx.input, upstream: ctx.upstream, ...(ctx.item === undefined ? {} : { item: ctx.item }), ...(callback === undefined ? {} : { callback }) };
  const target = renderTarget(spec, scope);
  if (!isHostAllowed(target.url, env.httpAllowedHosts)) {
    throw new TaskFailure(
      'HostNotAllowed',
      `${target.label}: host "${target.url.host}" is not in the allowed hosts of http tasks`,
      { retryable: false, details: { host: target.url.host } },
    );
  }
  // Only for a request that may be sent: a secret is never fetched for a host the task may not call.
  const secrets = await resolveSecrets(spec.headers, env.secrets ?? environmentSecrets, ctx.signal);
  const request = renderRequest(spec, ctx, scope, target, secrets);
  const values = [...secrets.values()];
  try {
    return maskSecrets(await send(request, ctx.signal, env), values);
  } catch (error) {
    throw maskFailure(error, values);
  }
}

async function send(request: RenderedRequest, signal: AbortSignal, env: HttpTaskEnv): Promise<unknown> {
  const sendFn = env.fetch ?? fetch;
  let response: Response;
  try {
    response = await sendFn(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal,
      // A redirect could lead outside the allow-list, so it is reported rather than followed.
      redirect: 'manual',
    });
  } catch (error) {
    throw networkFailure(error, request.label, signal);
  }
  const { status } = response;
  if (status >= 200 && status < 300) {
    const text = await readText(response, MAX_RESPONSE_BYTES, 'fail', request.label, signal);
    return parseOutput(status, text, request.label);
  }
  throw await statusFailure(response, request, signal);
}

function renderTarget(spec: HttpSpec, scope: ValueScope): RenderedTarget {
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
  return { url, label: `${spec.method} ${url.origin}${url.pathname}` };
}

/**
 * The value of every secret the header templates name, by name. Only the templates are read (never
 * rendered values), so run input or an upstream output can never name a secret to be sent.
 */
async function resolveSecrets(
  headers: Readonly<Record<string, string>>,
  resolver: SecretResolver,
  signal: AbortSignal,
): Promise<ReadonlyMap<string, string>> {
  const names = [...new Set(Object.values(headers).flatMap((template) => secretReferences(template)))];
  if (names.length === 0) return new Map();
  for (const name of names) {
    // Definitions are checked at registration; this guards a definition that skipped the check.
    const problem = secretNameProblem(name);
    if (problem !== undefined) throw invalidRequest(`http.headers: ${problem}`);
  }
  // Not the attempt's signal for the lookup itself: a cached lookup is shared by other attempts.
  const values = await untilAborted(Promise.all(names.map((name) => resolver.resolve(name))), signal);
  return new Map(names.map((name, i) => [name, values[i] ?? '']));
}

function renderRequest(
  spec: HttpSpec,
  ctx: TaskContext,
  scope: ValueScope,
  target: RenderedTarget,
  secrets: ReadonlyMap<string, string>,
): RenderedRequest {
  const { label } = target;
  const headers = new Headers();
  for (const [name, template] of Object.entries(spec.headers)) {
    try {
      headers.set(name, headerText(renderTemplate(template, scope, { where: `http.headers.${name}`, secrets })));
    } catch (error) {
      if (error instanceof UnresolvedPlaceholderError) throw error;
      throw invalidRequest(`${label}: header "${name}" is invalid: ${headerProblem(error, template)}`);
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
  return { ...target, method: spec.method, headers, body };
}

/** Why a header was refused. Headers' own message quotes the value, so not for one holding a secret. */
function headerProblem(error: unknown, template: string): string {
  if (secretReferences(template).length > 0) return 'its value, which holds a secret, has characters a header cannot carry';
  return error instanceof Error ? error.message : String(error);
}

/**
 * A failure with every secret value masked: the message and details of an http failure quote the
 * server's answer, which may echo what it was sent.
 */
function maskFailure(error: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0 || !(error instanceof TaskFailure)) return error;
  const message = maskSecrets(error.message, secrets);
  const details = maskSecrets(error.details, secrets);
  if (message === error.message && JSON.stringify(details) === JSON.stringify(error.details)) return error;
  return new TaskFailure(error.errorName, message, { retryable: error.retryable, ...(details === undefined ? {} : { details }) });
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
