import { describe, expect, it, vi } from 'vitest';
import type { TaskDefinition } from '../../shared/model/definition.js';
import { PayloadTooLargeError } from '../../shared/model/errors.js';
import { TaskFailure, type TaskContext, type TaskHandler } from '../../shared/tasks/context.js';
import {
  LambdaDeadline,
  MAX_ERROR_DETAILS_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  TaskCancelled,
  TaskTimedOut,
  toTaskError,
} from '../../shared/tasks/errors.js';
import {
  compensationAction,
  executeAction,
  type ExecutableAction,
  type ExecutorEnv,
  type LambdaInvoker,
} from '../../shared/tasks/executors.js';
import { isHostAllowed, parseAllowedHosts } from '../../shared/tasks/host-allow-list.js';
import { MAX_RESPONSE_BYTES } from '../../shared/tasks/http-task.js';
import { failureOf, taskContext } from './support/task-context.js';

/** A context whose input and upstream the templates below read. */
function fakeContext(overrides: Partial<TaskContext> = {}): TaskContext {
  return taskContext({
    input: { orderId: 'o 1/2', amount: 42, customer: { name: 'Ann' } },
    upstream: { validate: { output: { amount: 42.5, approved: true, tags: ['a'] } } },
    ...overrides,
  });
}


function env(overrides: Partial<ExecutorEnv> = {}): ExecutorEnv {
  return { handlers: new Map(), httpAllowedHosts: ['api.example.com'], ...overrides };
}

/** A fetch that records each request and answers with `respond`. */
function fakeFetch(respond: (request: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    requests.push(request);
    return respond(request);
  };
  return { fetch: fetchFn, requests };
}

function httpTask(http: Partial<Extract<TaskDefinition, { type: 'http' }>['http']>): ExecutableAction {
  return {
    id: 'charge',
    type: 'http',
    dependsOn: ['validate'],
    trigger: 'all_success',
    critical: true,
    http: { url: 'https://api.example.com/charge', method: 'POST', headers: {}, ...http },
  };
}

const task = <T extends ExecutableAction>(action: T): T => action;

async function taskErrorOf(promise: Promise<unknown>) {
  return toTaskError(await failureOf(promise));
}

describe('executeAction: built-in kinds', () => {
  const common = { dependsOn: [] as string[], trigger: 'all_success' as const, critical: true };

  it('pass returns its output, or the run input without one', async () => {
    await expect(executeAction(task({ id: 'p', type: 'pass', output: { a: 1 }, ...common }), fakeContext(), env())).resolves.toEqual({ a: 1 });
    await expect(executeAction(task({ id: 'p', type: 'pass', ...common }), fakeContext({ input: [1, 2] }), env())).resolves.toEqual([1, 2]);
    await expect(executeAction(task({ id: 'p', type: 'pass', ...common }), fakeContext({ input: undefined }), env())).resolves.toBeNull();
  });

  it('fail throws a non-retryable TaskFailure with its error and message', async () => {
    const failure = await taskErrorOf(
      executeAction(task({ id: 'f', type: 'fail', error: 'OutOfStock', message: 'no more', ...common }), fakeContext(), env()),
    );
    expect(failure).toEqual({ name: 'OutOfStock', message: 'no more', retryable: false });
    const bare = await taskErrorOf(executeAction(task({ id: 'f', type: 'fail', error: 'Nope', ...common }), fakeContext(), env()));
    expect(bare).toEqual({ name: 'Nope', message: 'Nope', retryable: false });
  });

  it('wait returns null at once: the scheduler only queues it when it is due', async () => {
    await expect(executeAction(task({ id: 'w', type: 'wait', seconds: 3600, ...common }), fakeContext(), env())).resolves.toBeNull();
  });

  it('runs nothing once the signal has fired', async () => {
    const controller = new AbortController();
    controller.abort(new TaskCancelled());
    const error = await failureOf(executeAction(task({ id: 'p', type: 'pass', ...common }), fakeContext({ signal: controller.signal }), env()));
    expect(error).toBeInstanceOf(TaskCancelled);
  });
});

describe('executeAction: handler tasks', () => {
  const handlerTask = (handler: string) =>
    task({ id: 'charge', type: 'handler', handler, dependsOn: [], trigger: 'all_success', critical: true });

  it('calls the registered handler with the context and returns its output', async () => {
    const handler = vi.fn<TaskHandler>((ctx) => Promise.resolve({ key: ctx.idempotencyKey }));
    const ctx = fakeContext();
    await expect(executeAction(handlerTask('run_charge'), ctx, env({ handlers: new Map([['run_charge', handler]]) }))).resolves.toEqual({
      key: 'run-1:charge',
    });
    expect(handler).toHaveBeenCalledWith(ctx);
  });

  it("hands the task's static params to the handler as ctx.params", async () => {
    const handler = vi.fn<TaskHandler>((ctx) => Promise.resolve({ got: ctx.params }));
    const withParams = task({ id: 'charge', type: 'handler', handler: 'run_charge', params: { currency: 'EUR', tiers: [1, 2] }, dependsOn: [], trigger: 'all_success', critical: true });
    await expect(executeAction(withParams, fakeContext(), env({ handlers: new Map([['run_charge', handler]]) }))).resolves.toEqual({
      got: { currency: 'EUR', tiers: [1, 2] },
    });
  });

  it('turns an undefined output into null', async () => {
    const handlers = new Map<string, TaskHandler>([['noop', () => Promise.resolve(undefined)]]);
    await expect(executeAction(handlerTask('noop'), fakeContext(), env({ handlers }))).resolves.toBeNull();
  });

  it('fails an unknown handler without retries', async () => {
    const error = await taskErrorOf(executeAction(handlerTask('missing'), fakeContext(), env()));
    expect(error).toMatchObject({ name: 'UnknownHandler', retryable: false });
    expect(error.message).toContain('"missing"');
  });

  it('turns a synchronous throw into a rejection', async () => {
    const handlers = new Map<string, TaskHandler>([
      [
        'sync',
        () => {
          throw new RangeError('bad');
        },
      ],
    ]);
    const error = await taskErrorOf(executeAction(handlerTask('sync'), fakeContext(), env({ handlers })));
    expect(error).toEqual({ name: 'RangeError', message: 'bad', retryable: true });
  });

  it('ends the attempt when the signal fires, even if the handler ignores it', async () => {
    const controller = new AbortController();
    let started = () => undefined as void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const handlers = new Map<string, TaskHandler>([
      [
        'stubborn',
        () => {
          started();
          return new Promise(() => undefined);
        },
      ],
    ]);
    const attempt = executeAction(handlerTask('stubborn'), fakeContext({ signal: controller.signal }), env({ handlers }));
    await running;
    controller.abort(new TaskTimedOut(30));
    const error = await failureOf(attempt);
    expect(error).toBeInstanceOf(TaskTimedOut);
    expect(toTaskError(error)).toEqual({ name: 'TimedOut', message: 'task timed out after 30 s', retryable: true });
  });
});

describe('executeAction: lambda tasks', () => {
  const lambdaTask = (payload?: unknown) =>
    task({
      id: 'charge',
      type: 'lambda',
      dependsOn: ['validate'],
      trigger: 'all_success',
      critical: true,
      lambda: { functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:charge', ...(payload === undefined ? {} : { payload: payload as never }) },
    });

  it('fails without retries where no invoker exists (locally)', async () => {
    const error = await taskErrorOf(executeAction(lambdaTask(), fakeContext(), env()));
    expect(error).toEqual({
      name: 'LambdaNotAvailable',
      message: 'lambda tasks need the AWS deployment; they are not available locally',
      retryable: false,
    });
  });

  it('sends the context as the default payload, with the signal', async () => {
    const invoker = vi.fn<LambdaInvoker>(() => Promise.resolve({ ok: true }));
    const ctx = fakeContext({ attempt: 2 });
    await expect(executeAction(lambdaTask(), ctx, env({ lambdaInvoker: invoker }))).resolves.toEqual({ ok: true });
    expect(invoker).toHaveBeenCalledWith(
      'arn:aws:lambda:eu-west-1:123456789012:function:charge',
      { input: ctx.input, upstream: ctx.upstream, runId: 'run-1', taskId: 'charge', attempt: 2, idempotencyKey: 'run-1:charge' },
      ctx.signal,
    );
  });

  it('renders a given payload from the input and upstream outputs', async () => {
    const invoker = vi.fn<LambdaInvoker>(() => Promise.resolve(null));
    await executeAction(lambdaTask({ amount: '{{upstream.validate.output.amount}}', note: 'order {{input.orderId}}' }), fakeContext(), env({ lambdaInvoker: invoker }));
    expect(invoker.mock.calls[0]?.[1]).toEqual({ amount: 42.5, note: 'order o 1/2' });
  });
});

describe('compensationAction', () => {
  it('turns a handler name into a handler action and keeps inline actions', () => {
    expect(compensationAction('refund_charge')).toEqual({ type: 'handler', handler: 'refund_charge' });
    const inline = { type: 'pass' as const, output: 1 };
    expect(compensationAction(inline)).toBe(inline);
  });
});

describe('toTaskError', () => {
  it('keeps what a TaskFailure says', () => {
    const failure = new TaskFailure('CardDeclined', 'declined', { retryable: false, details: { code: 51 } });
    expect(toTaskError(failure)).toEqual({ name: 'CardDeclined', message: 'declined', retryable: false, details: { code: 51 } });
    expect(toTaskError(new TaskFailure('Flaky', 'try again'))).toEqual({ name: 'Flaky', message: 'try again', retryable: true });
  });

  it('names aborts by their reason', () => {
    expect(toTaskError(new TaskTimedOut(5))).toEqual({ name: 'TimedOut', message: 'task timed out after 5 s', retryable: true });
    expect(toTaskError(new TaskCancelled())).toEqual({ name: 'Cancelled', message: 'run cancelled', retryable: false });
    expect(toTaskError(new LambdaDeadline())).toMatchObject({ name: 'TimedOut', retryable: true, details: { reason: 'LambdaDeadline' } });
  });

  it('reads a generic AbortError through the signal that caused it', () => {
    const controller = new AbortController();
    controller.abort(new TaskCancelled('cancelled by user'));
    const abortError = new DOMException('This operation was aborted', 'AbortError');
    expect(toTaskError(abortError, controller.signal)).toEqual({ name: 'Cancelled', message: 'cancelled by user', retryable: false });
    // Not caused by our signal: an ordinary retryable error.
    expect(toTaskError(abortError)).toEqual({ name: 'AbortError', message: 'This operation was aborted', retryable: true });
    expect(toTaskError(abortError, new AbortController().signal)).toMatchObject({ name: 'AbortError', retryable: true });
  });

  it('makes other errors retryable under their own name', () => {
    expect(toTaskError(new TypeError('x is undefined'))).toEqual({ name: 'TypeError', message: 'x is undefined', retryable: true });
    class QuotaError extends Error {
      override name = 'QuotaError';
    }
    expect(toTaskError(new QuotaError('slow down'))).toEqual({ name: 'QuotaError', message: 'slow down', retryable: true });
    const nameless = new Error('m');
    nameless.name = '';
    expect(toTaskError(nameless).name).toBe('Error');
  });

  it('keeps the retryable flag of engine errors', () => {
    expect(toTaskError(new PayloadTooLargeError('output', 500_000, 262_144))).toMatchObject({
      name: 'PayloadTooLargeError',
      retryable: false,
      details: { what: 'output', bytes: 500_000, limit: 262_144 },
    });
  });

  it('describes values that are not errors', () => {
    expect(toTaskError('boom')).toEqual({ name: 'Error', message: 'boom', retryable: true });
    expect(toTaskError(42)).toEqual({ name: 'Error', message: '42', retryable: true });
    expect(toTaskError({ code: 'E1' })).toEqual({ name: 'Error', message: '{"code":"E1"}', retryable: true });
    expect(toTaskError(undefined)).toEqual({ name: 'Error', message: 'undefined', retryable: true });
  });

  it('cuts long messages on a character boundary', () => {
    const error = toTaskError(new Error('é'.repeat(10_000)));
    expect(Buffer.byteLength(error.message, 'utf8')).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
    expect(error.message).toMatch(/^é+… \(truncated\)$/);
  });

  it('keeps details only as storable JSON', () => {
    const big = toTaskError(new TaskFailure('Big', 'm', { details: { blob: 'x'.repeat(MAX_ERROR_DETAILS_BYTES) } }));
    expect(big.details).toEqual({ omitted: expect.stringContaining('over the limit') as unknown });
    const odd = toTaskError(new TaskFailure('Odd', 'm', { details: { n: 1n } }));
    expect(odd.details).toEqual({ omitted: 'details could not be serialized as JSON' });
    const dropped = toTaskError(new TaskFailure('Dates', 'm', { details: { at: new Date(0), f: () => 1 } }));
    expect(dropped.details).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });
});

describe('isHostAllowed', () => {
  const allowed = (url: string, hosts: string[]) => isHostAllowed(new URL(url), hosts);

  it('matches exact hosts case-insensitively, on any port', () => {
    expect(allowed('https://API.Example.com/x', ['api.example.com'])).toBe(true);
    expect(allowed('http://api.example.com:8080/x', ['API.EXAMPLE.COM'])).toBe(true);
    expect(allowed('https://api.example.com./x', ['api.example.com'])).toBe(true);
    expect(allowed('https://evil.com/x', ['api.example.com'])).toBe(false);
    expect(allowed('https://api.example.com.evil.com/x', ['api.example.com'])).toBe(false);
    expect(allowed('https://xapi.example.com/x', ['api.example.com'])).toBe(false);
  });

  it('matches subdomains for *. patterns, but not the bare domain', () => {
    expect(allowed('https://a.example.com/', ['*.example.com'])).toBe(true);
    expect(allowed('https://a.b.EXAMPLE.com/', ['*.example.com'])).toBe(true);
    expect(allowed('https://example.com/', ['*.example.com'])).toBe(false);
    expect(allowed('https://badexample.com/', ['*.example.com'])).toBe(false);
  });

  it('matches host:port entries on that port only, default ports included', () => {
    expect(allowed('http://localhost:8080/', ['localhost:8080'])).toBe(true);
    expect(allowed('http://localhost:8081/', ['localhost:8080'])).toBe(false);
    expect(allowed('http://localhost/', ['localhost:80'])).toBe(true);
    expect(allowed('https://localhost/', ['localhost:443'])).toBe(true);
    expect(allowed('https://localhost/', ['localhost:80'])).toBe(false);
    expect(allowed('https://a.example.com:8443/', ['*.example.com:8443'])).toBe(true);
    expect(allowed('https://a.example.com/', ['*.example.com:8443'])).toBe(false);
  });

  it('handles IP addresses and ignores entries it cannot read', () => {
    expect(allowed('http://127.0.0.1:3000/', ['127.0.0.1'])).toBe(true);
    expect(allowed('http://[::1]:3000/', ['[::1]:3000'])).toBe(true);
    expect(allowed('http://[::1]:3000/', ['[::1]'])).toBe(true);
    expect(allowed('http://localhost/', ['localhost:99999', 'http://localhost', '*', ''])).toBe(false);
    expect(allowed('http://localhost/', [])).toBe(false);
  });

  it('reads the comma-separated setting', () => {
    expect(parseAllowedHosts(' a.com, *.b.com ,,localhost:3000 ')).toEqual(['a.com', '*.b.com', 'localhost:3000']);
    expect(parseAllowedHosts(undefined)).toEqual([]);
  });
});

describe('executeAction: http tasks', () => {
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  it('renders the url (escaped), header values and body from the input and upstream outputs', async () => {
    const fake = fakeFetch(() => json({ ok: true }));
    const action = httpTask({
      url: 'https://api.example.com/orders/{{input.orderId}}/charge?amount={{upstream.validate.output.amount}}',
      headers: { 'x-customer': 'name={{input.customer.name}}', 'x-amount': '{{upstream.validate.output.amount}}' },
      body: {
        amount: '{{upstream.validate.output.amount}}',
        approved: '{{ upstream.validate.output.approved }}',
        tags: '{{upstream.validate.output.tags}}',
        customer: '{{input.customer}}',
        text: 'order {{input.orderId}} for {{upstream.validate.output.amount}}',
        literal: '{{other}}',
      },
    });
    await expect(executeAction(action, fakeContext(), env({ fetch: fake.fetch }))).resolves.toEqual({ ok: true });
    const request = fake.requests[0];
    if (request === undefined) throw new Error('no request sent');
    expect(request.method).toBe('POST');
    expect(request.url).toBe('https://api.example.com/orders/o%201%2F2/charge?amount=42.5');
    expect(request.headers.get('x-customer')).toBe('name=Ann');
    expect(request.headers.get('x-amount')).toBe('42.5');
    expect(request.headers.get('idempotency-key')).toBe('run-1:charge');
    expect(request.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(await request.text())).toEqual({
      amount: 42.5,
      approved: true,
      tags: ['a'],
      customer: { name: 'Ann' },
      text: 'order o 1/2 for 42.5',
      literal: '{{other}}',
    });
  });

  it('keeps a content-type or idempotency key the task sets, and sends no body for GET', async () => {
    const fake = fakeFetch(() => json({}));
    await executeAction(
      httpTask({ body: 'x', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': 'mine' } }),
      fakeContext(),
      env({ fetch: fake.fetch }),
    );
    await executeAction(httpTask({ method: 'GET' }), fakeContext(), env({ fetch: fake.fetch }));
    const [post, get] = fake.requests;
    expect(post?.headers.get('content-type')).toBe('text/plain');
    expect(post?.headers.get('idempotency-key')).toBe('mine');
    expect(await post?.text()).toBe('"x"');
    expect(get?.method).toBe('GET');
    expect(get?.headers.get('content-type')).toBeNull();
    expect(get?.headers.get('idempotency-key')).toBe('run-1:charge');
  });

  it('returns the JSON body, text that parses as JSON, { status, body } for other text, null for none', async () => {
    const answer = async (response: Response) =>
      executeAction(httpTask({}), fakeContext(), env({ fetch: fakeFetch(() => response).fetch }));
    await expect(answer(json({ id: 'c1' }, 201))).resolves.toEqual({ id: 'c1' });
    await expect(answer(new Response('[1,2]', { headers: { 'content-type': 'text/plain' } }))).resolves.toEqual([1, 2]);
    await expect(answer(new Response('accepted', { status: 202 }))).resolves.toEqual({ status: 202, body: 'accepted' });
    await expect(answer(new Response(null, { status: 204 }))).resolves.toBeNull();
    await expect(answer(new Response('', { status: 200 }))).resolves.toBeNull();
  });

  it.each([408, 429, 500, 502, 503])('makes %i retryable', async (status) => {
    const fake = fakeFetch(() => json({ error: 'busy' }, status));
    const error = await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: fake.fetch })));
    expect(error).toEqual({
      name: 'HttpError',
      message: `POST https://api.example.com/charge returned ${status}`,
      retryable: true,
      details: { status, body: '{"error":"busy"}' },
    });
  });

  it.each([400, 401, 403, 404, 409, 422])('makes %i final', async (status) => {
    const fake = fakeFetch(() => json({ error: 'no' }, status));
    const error = await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: fake.fetch })));
    expect(error).toMatchObject({ name: 'HttpError', retryable: false, details: { status } });
  });

  it('reports a redirect instead of following it, since it could leave the allow-list', async () => {
    const fake = fakeFetch(() => new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/' } }));
    const error = await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: fake.fetch })));
    expect(error).toMatchObject({ name: 'HttpError', retryable: false, details: { status: 302, location: 'http://169.254.169.254/' } });
    expect(fake.requests[0]?.redirect).toBe('manual');
  });

  it('keeps the first KB of an error body and names Retry-After', async () => {
    const fake = fakeFetch(() => new Response('e'.repeat(5000), { status: 429, headers: { 'retry-after': '7' } }));
    const error = await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: fake.fetch })));
    const details = error.details as { body: string; retryAfter: string };
    expect(Buffer.byteLength(details.body)).toBeLessThanOrEqual(1024);
    expect(details.retryAfter).toBe('7');
  });

  it('refuses a host outside the allow-list before sending anything', async () => {
    const fake = fakeFetch(() => json({}));
    const error = await taskErrorOf(
      executeAction(httpTask({ url: 'http://169.254.169.254/latest/meta-data' }), fakeContext(), env({ fetch: fake.fetch })),
    );
    expect(error).toMatchObject({ name: 'HostNotAllowed', retryable: false, details: { host: '169.254.169.254' } });
    expect(error.message).toContain('169.254.169.254');
    expect(fake.requests).toHaveLength(0);
  });

  it('checks the host after rendering, so a templated host cannot escape the list', async () => {
    const fake = fakeFetch(() => json({}));
    const error = await taskErrorOf(
      executeAction(httpTask({ url: 'https://{{input.host}}/x' }), fakeContext({ input: { host: 'evil.com' } }), env({ fetch: fake.fetch })),
    );
    expect(error.name).toBe('HostNotAllowed');
    expect(fake.requests).toHaveLength(0);
  });

  it('makes network errors retryable and names the request without its query string', async () => {
    const failing: typeof fetch = () =>
      Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }));
    const error = await taskErrorOf(executeAction(httpTask({ url: 'https://api.example.com/x?token=secret' }), fakeContext(), env({ fetch: failing })));
    expect(error).toEqual({
      name: 'HttpNetworkError',
      message: 'POST https://api.example.com/x failed: connect ECONNREFUSED',
      retryable: true,
      details: { code: 'ECONNREFUSED' },
    });
  });

  it('rethrows the signal reason when the request was aborted by it', async () => {
    const controller = new AbortController();
    const aborting: typeof fetch = () => {
      controller.abort(new TaskCancelled());
      return Promise.reject(new DOMException('aborted', 'AbortError'));
    };
    const error = await failureOf(executeAction(httpTask({}), fakeContext({ signal: controller.signal }), env({ fetch: aborting })));
    expect(error).toBeInstanceOf(TaskCancelled);
  });

  it('passes the attempt signal to fetch', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | null | undefined;
    const spy: typeof fetch = (_input, init) => {
      seen = init?.signal;
      return Promise.resolve(json({}));
    };
    await executeAction(httpTask({}), fakeContext({ signal: controller.signal }), env({ fetch: spy }));
    expect(seen).toBe(controller.signal);
  });

  it('refuses responses over the size limit', async () => {
    const big = 'x'.repeat(MAX_RESPONSE_BYTES + 1);
    const declared = fakeFetch(() => new Response(big));
    expect(await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: declared.fetch })))).toMatchObject({
      name: 'ResponseTooLarge',
      retryable: false,
    });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const streamed = fakeFetch(() => new Response(stream));
    expect(await taskErrorOf(executeAction(httpTask({}), fakeContext(), env({ fetch: streamed.fetch })))).toMatchObject({
      name: 'ResponseTooLarge',
      retryable: false,
    });
  });

  it('refuses requests that cannot be sent, without retries', async () => {
    const fake = fakeFetch(() => json({}));
    const run = (http: Parameters<typeof httpTask>[0], input?: unknown) =>
      taskErrorOf(executeAction(httpTask(http), fakeContext(input === undefined ? {} : { input }), env({ fetch: fake.fetch })));
    expect(await run({ method: 'GET', body: { a: 1 } })).toMatchObject({ name: 'InvalidHttpRequest', retryable: false });
    expect(await run({ headers: { 'x-bad': '{{input.text}}' } }, { text: 'a\r\nInjected: 1' })).toMatchObject({
      name: 'InvalidHttpRequest',
      retryable: false,
    });
    expect(await run({ url: 'https://user:pw@api.example.com/' })).toMatchObject({ name: 'InvalidHttpRequest', retryable: false });
    // A placeholder with nothing behind it, in the url, a header or the body: never sent as "".
    for (const http of [
      { url: 'https://api.example.com/orders/{{input.nope.deep}}' },
      { headers: { 'x-k': 'key {{input.nope}}' } },
      { body: { amount: '{{upstream.validate.output.nope}}' } },
    ]) {
      expect(await run(http)).toMatchObject({ name: 'UnresolvedPlaceholder', retryable: false, message: expect.stringMatching(/resolves to nothing/) });
    }
    expect(fake.requests).toHaveLength(0);
  });
});
