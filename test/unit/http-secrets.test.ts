// http tasks with `{{secret:NAME}}` headers, on a fake fetch: the value is resolved just before the
// request and sent, and never kept in what the attempt leaves behind (output, error, details).
import { describe, expect, it } from 'vitest';
import type { TaskDefinition } from '../../shared/model/definition.js';
import type { TaskContext } from '../../shared/tasks/context.js';
import { TaskCancelled, toTaskError } from '../../shared/tasks/errors.js';
import { compensationAction, executeAction, type ExecutableAction, type ExecutorEnv } from '../../shared/tasks/executors.js';
import { EnvironmentSecretResolver, secretEnvName, type SecretResolver } from '../../shared/tasks/secrets.js';
import { taskContext } from './support/task-context.js';

const SECRET = 'sk_live_0123456789';

/** Run input that looks like a secret placeholder: it must be sent as text, never resolved. */
function context(overrides: Partial<TaskContext> = {}): TaskContext {
  return taskContext({ input: { orderId: 'o-1', note: '{{secret:payments/stripe-key}}' }, ...overrides });
}


/** A resolver over a map, recording each lookup. */
function resolverOf(values: Record<string, string>) {
  const lookups: string[] = [];
  const resolver = new EnvironmentSecretResolver(
    Object.fromEntries(Object.entries(values).map(([name, value]) => [secretEnvName(name), value])),
  );
  const recording: SecretResolver = {
    resolve: (name) => {
      lookups.push(name);
      return resolver.resolve(name);
    },
  };
  return { resolver: recording, lookups };
}

function fakeFetch(respond: (request: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    requests.push(request);
    return respond(request);
  };
  return { fetch: fetchFn, requests };
}

function env(overrides: Partial<ExecutorEnv> = {}): ExecutorEnv {
  return { handlers: new Map(), httpAllowedHosts: ['api.example.com'], ...overrides };
}

function httpTask(headers: Record<string, string>, url = 'https://api.example.com/charge'): ExecutableAction {
  const task: TaskDefinition = { id: 'charge', type: 'http', dependsOn: [], trigger: 'all_success', critical: true, http: { url, method: 'POST', headers } };
  return task;
}

async function taskErrorOf(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return toTaskError(error);
  }
  throw new Error('expected the attempt to fail');
}

/** The echo of a server that repeats the request's Authorization header. */
const echoAuthorization = (request: Request, status = 200) =>
  new Response(JSON.stringify({ seen: request.headers.get('authorization'), status }), { status, headers: { 'content-type': 'application/json' } });

describe('http tasks with secret headers', () => {
  it('sends the resolved value, looking each secret up once', async () => {
    const { resolver, lookups } = resolverOf({ 'payments/stripe-key': SECRET });
    const fake = fakeFetch(() => new Response('{}'));
    await executeAction(
      httpTask({ Authorization: 'Bearer {{secret:payments/stripe-key}}', 'x-key': '{{secret:payments/stripe-key}}', 'x-order': '{{input.orderId}}' }),
      context(),
      env({ fetch: fake.fetch, secrets: resolver }),
    );
    const sent = fake.requests[0]?.headers;
    expect(sent?.get('authorization')).toBe(`Bearer ${SECRET}`);
    expect(sent?.get('x-key')).toBe(SECRET);
    expect(sent?.get('x-order')).toBe('o-1');
    expect(lookups).toEqual(['payments/stripe-key']);
  });

  it('reads DAGFLOW_SECRET_<NAME> from the environment when no resolver is given', async () => {
    process.env['DAGFLOW_SECRET_UNIT_DEFAULT_KEY'] = SECRET;
    try {
      const fake = fakeFetch(() => new Response('{}'));
      await executeAction(httpTask({ 'x-key': '{{secret:unit.default-key}}' }), context(), env({ fetch: fake.fetch }));
      expect(fake.requests[0]?.headers.get('x-key')).toBe(SECRET);
    } finally {
      delete process.env['DAGFLOW_SECRET_UNIT_DEFAULT_KEY'];
    }
  });

  it('never resolves a secret named by a value from the input', async () => {
    const { resolver, lookups } = resolverOf({ 'payments/stripe-key': SECRET });
    const fake = fakeFetch(() => new Response('{}'));
    await executeAction(httpTask({ 'x-note': '{{input.note}}' }), context(), env({ fetch: fake.fetch, secrets: resolver }));
    expect(fake.requests[0]?.headers.get('x-note')).toBe('{{secret:payments/stripe-key}}');
    expect(lookups).toEqual([]);
  });

  it('masks the value in an output that echoes it', async () => {
    const { resolver } = resolverOf({ 'payments/stripe-key': SECRET });
    const fake = fakeFetch((request) => echoAuthorization(request));
    const output = await executeAction(
      httpTask({ Authorization: 'Bearer {{secret:payments/stripe-key}}' }),
      context(),
      env({ fetch: fake.fetch, secrets: resolver }),
    );
    expect(output).toEqual({ seen: 'Bearer ***', status: 200 });
  });

  it('masks the value in the message and details of a failure that echoes it', async () => {
    const { resolver } = resolverOf({ 'payments/stripe-key': SECRET });
    const redirect = fakeFetch(() => new Response(null, { status: 302, headers: { location: `https://api.example.com/login?key=${SECRET}` } }));
    const failing = fakeFetch((request) => echoAuthorization(request, 401));
    const action = httpTask({ Authorization: 'Bearer {{secret:payments/stripe-key}}' });
    const denied = await taskErrorOf(executeAction(action, context(), env({ fetch: failing.fetch, secrets: resolver })));
    expect(denied).toMatchObject({ name: 'HttpError', retryable: false, details: { status: 401, body: '{"seen":"Bearer ***","status":401}' } });
    const moved = await taskErrorOf(executeAction(action, context(), env({ fetch: redirect.fetch, secrets: resolver })));
    expect(JSON.stringify(moved)).not.toContain(SECRET);
    expect(moved.message).toContain('https://api.example.com/login?key=***');
  });

  it('refuses a header value a secret makes invalid without quoting it', async () => {
    const { resolver } = resolverOf({ k: `${SECRET}\r\nX-Injected: 1` });
    const fake = fakeFetch(() => new Response('{}'));
    const error = await taskErrorOf(executeAction(httpTask({ 'x-key': '{{secret:k}}' }), context(), env({ fetch: fake.fetch, secrets: resolver })));
    expect(error).toMatchObject({ name: 'InvalidHttpRequest', retryable: false });
    expect(error.message).toBe('POST https://api.example.com/charge: header "x-key" is invalid: its value, which holds a secret, has characters a header cannot carry');
    expect(fake.requests).toHaveLength(0);
  });

  it('fails for good on a missing secret, naming the variable to set, and sends nothing', async () => {
    const { resolver } = resolverOf({});
    const fake = fakeFetch(() => new Response('{}'));
    const error = await taskErrorOf(executeAction(httpTask({ a: '{{secret:payments/stripe-key}}' }), context(), env({ fetch: fake.fetch, secrets: resolver })));
    expect(error).toMatchObject({ name: 'SecretNotFound', retryable: false });
    expect(error.message).toContain('DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY');
    expect(fake.requests).toHaveLength(0);
  });

  it('looks up no secret for a host outside the allow-list', async () => {
    const { resolver, lookups } = resolverOf({ k: SECRET });
    const error = await taskErrorOf(
      executeAction(httpTask({ a: '{{secret:k}}' }, 'https://evil.example.org/'), context(), env({ fetch: fakeFetch(() => new Response('')).fetch, secrets: resolver })),
    );
    expect(error.name).toBe('HostNotAllowed');
    expect(lookups).toEqual([]);
  });

  it('refuses a malformed name of a definition that skipped the checks', async () => {
    const { resolver, lookups } = resolverOf({});
    const error = await taskErrorOf(executeAction(httpTask({ a: '{{secret:../x}}' }), context(), env({ secrets: resolver })));
    expect(error).toMatchObject({ name: 'InvalidHttpRequest', retryable: false });
    expect(lookups).toEqual([]);
  });

  it('gives up a lookup when the attempt signal fires', async () => {
    const controller = new AbortController();
    const hanging: SecretResolver = { resolve: () => new Promise(() => undefined) };
    const attempt = executeAction(httpTask({ a: '{{secret:k}}' }), context({ signal: controller.signal }), env({ secrets: hanging }));
    const reason = new TaskCancelled();
    controller.abort(reason);
    await expect(attempt).rejects.toBe(reason);
  });

  it('resolves the secrets of an http compensation too', async () => {
    const { resolver } = resolverOf({ 'payments/refund-key': SECRET });
    const fake = fakeFetch(() => new Response('{}'));
    const compensation = compensationAction({
      type: 'http',
      http: { url: 'https://api.example.com/refund', method: 'POST', headers: { Authorization: 'Bearer {{secret:payments/refund-key}}' } },
    });
    await executeAction(compensation, context(), env({ fetch: fake.fetch, secrets: resolver }));
    expect(fake.requests[0]?.headers.get('authorization')).toBe(`Bearer ${SECRET}`);
  });
});
