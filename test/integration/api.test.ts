// The HTTP API's contract for bad input: a 4xx naming the problem, in the documented error shape,
// and nothing written.
import { LIMITS } from '../../shared/model/limits.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { register, startRuntime, waitForRun, type ApiClient } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;

beforeAll(async () => {
  ({ runtime, api } = await startRuntime());
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

async function workflowIds(): Promise<string[]> {
  const { body } = await api.get('/workflows');
  return body.workflows.map((w: { workflowId: string }) => w.workflowId);
}

describe('POST /workflows', () => {
  it('registers a definition (201), the same content again is 200 with the same version', async () => {
    const definition = { id: 'api_simple', tasks: [{ id: 'a', type: 'pass' }] };
    const first = await api.post('/workflows', definition);
    const again = await api.post('/workflows', definition);
    expect(first.status).toBe(201);
    expect(again).toEqual({ status: 200, body: first.body });
    const fetched = await api.get('/workflows/api_simple');
    expect(fetched.body).toMatchObject({ workflowId: 'api_simple', version: first.body.version });
    expect(fetched.body.versions).toHaveLength(1);
    const byVersion = await api.get(`/workflows/api_simple/versions/${first.body.version}`);
    expect(byVersion.body.definition.tasks[0]).toMatchObject({ id: 'a', type: 'pass' });
  });

  it('refuses malformed JSON with 400', async () => {
    const response = await api.request('POST', '/workflows', '{"id": "x", tasks: [', { 'content-type': 'application/json' });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_ERROR');
    expect(response.body.error.message).toMatch(/not valid JSON/);
  });

  it('refuses a cycle with 400 naming it, and stores nothing', async () => {
    const response = await api.post('/workflows', {
      id: 'api_cycle',
      tasks: [
        { id: 'a', type: 'pass', dependsOn: ['c'] },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
        { id: 'c', type: 'pass', dependsOn: ['b'] },
      ],
    });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/cycle: a -> b -> c -> a/);
    expect(await workflowIds()).not.toContain('api_cycle');
  });

  it('refuses an unknown dependency with 400 naming both tasks', async () => {
    const response = await api.post('/workflows', { id: 'api_dep', tasks: [{ id: 'ship', type: 'pass', dependsOn: ['chrge'] }] });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/"ship".*"chrge"/);
    expect(await workflowIds()).not.toContain('api_dep');
  });

  it('refuses an unknown handler and a missing field with 400', async () => {
    const unknown = await api.post('/workflows', { id: 'api_handler', tasks: [{ id: 'a', handler: 'no_such_handler' }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown handler "no_such_handler"/);
    const missing = await api.post('/workflows', { tasks: [{ id: 'a', type: 'pass' }] });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/^id: /);
  });
});

describe('POST /runs', () => {
  it('refuses an unknown workflow with 404', async () => {
    const response = await api.post('/runs', { workflowId: 'no_such_workflow' });
    expect(response.status).toBe(404);
    expect(response.body.error).toEqual({ code: 'NOT_FOUND', message: 'workflow "no_such_workflow" not found' });
  });

  it('refuses a missing workflowId and unknown fields with 400 naming them', async () => {
    const missing = await api.post('/runs', { input: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/workflowId/);
    const typo = await api.post('/runs', { workflowId: 'api_simple', inptu: {} });
    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toMatch(/inptu/);
  });

  it('refuses an input over the size limit with 413 and creates no run', async () => {
    const { workflowId } = await register(api, { id: 'api_big', tasks: [{ id: 'a', type: 'pass' }] });
    // The local engine keeps large inputs in its S3 server: the limit is the payload limit.
    const response = await api.post('/runs', { workflowId, input: { blob: 'x'.repeat(LIMITS.maxPayloadBytes) } });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await api.get(`/runs?workflowId=${workflowId}`)).body.runs).toEqual([]);
  });

  it('refuses a bad Idempotency-Key with 400', async () => {
    const response = await api.post('/runs', { workflowId: 'api_simple' }, { 'Idempotency-Key': 'x'.repeat(300) });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/Idempotency-Key/);
  });
});

describe('GET /', () => {
  it('serves the dashboard page, which reads the JSON API', async () => {
    const response = await fetch(`${runtime.apiUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain('<title>dagflow</title>');
    for (const path of ["'/workflows'", "'/runs?'", "'/runs/'", "'/stats'", "'/layout'", "'/history'", "'/cancel'", "'/retry'"]) expect(page).toContain(path);
  });
});

describe('reading', () => {
  it('answers 404 for an unknown run and route, 405 for a wrong method, 400 for a bad query', async () => {
    expect((await api.get('/runs/no-such-run')).status).toBe(404);
    expect((await api.get('/nowhere')).status).toBe(404);
    expect((await api.request('DELETE', '/workflows')).status).toBe(405);
    const badQuery = await api.get('/runs?workflowId=api_simple&limit=0');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toMatch(/limit/);
    const badToken = await api.get('/runs?workflowId=api_simple&nextToken=garbage');
    expect(badToken.status).toBe(400);
  });
});

describe('edges that once answered 500', () => {
  const huge = 'x'.repeat(3_000);

  it('refuses ids, versions and run ids of any length or shape with 400 naming the parameter', async () => {
    const routes: Array<[string, string, string]> = [
      ['GET', `/workflows/${huge}`, 'workflowId'],
      ['GET', `/workflows/api_simple/versions/${huge}`, 'version'],
      ['GET', `/workflows/${huge}/versions/0123456789abcdef`, 'workflowId'],
      ['GET', `/workflows/${huge}/stats`, 'workflowId'],
      ['GET', `/runs/${huge}`, 'runId'],
      ['GET', `/runs/${huge}/history`, 'runId'],
      ['POST', `/runs/${huge}/cancel`, 'runId'],
      ['POST', `/runs/${huge}/retry`, 'runId'],
      ['GET', `/runs?workflowId=${huge}`, 'workflowId'],
    ];
    for (const [method, path, parameter] of routes) {
      const response = await api.request(method, path);
      expect({ path: path.slice(0, 40), status: response.status }).toEqual({ path: path.slice(0, 40), status: 400 });
      expect(response.body.error.code).toBe('VALIDATION_ERROR');
      expect(response.body.error.message).toContain(parameter);
    }
    for (const body of [{ workflowId: huge }, { workflowId: 'api_simple', version: huge }]) {
      const response = await api.post('/runs', body);
      expect(response.status).toBe(400);
    }
  });

  it('refuses a well-formed nextToken that this API did not return with 400', async () => {
    const token = (key: unknown) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
    const crafted = [
      { pk: `RUN#${huge}`, sk: 'RUN', gsi1pk: 'WF#api_simple', gsi1sk: `2026-01-01T00:00:00.000Z#${huge}` },
      { pk: 'RUN#r1', sk: 'X'.repeat(2_000), gsi1pk: 'WF#api_simple', gsi1sk: '2026-01-01T00:00:00.000Z#r1' },
      { pk: 'RUN#r1', sk: 'RUN', gsi1pk: 'WF#api_simple', gsi1sk: 'anything' },
    ];
    for (const key of crafted) {
      const response = await api.get(`/runs?workflowId=api_simple&nextToken=${token(key)}`);
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(/nextToken/);
    }
  });

  it('refuses an input nested thousands of levels deep with 400, and creates no run', async () => {
    const { workflowId } = await register(api, { id: 'api_deep', tasks: [{ id: 'a', type: 'pass' }] });
    const deep = `${'['.repeat(2_500)}${']'.repeat(2_500)}`;
    const response = await api.request('POST', '/runs', `{"workflowId":"${workflowId}","input":${deep}}`, { 'content-type': 'application/json' });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/deeper than 64 levels/);
    expect((await api.get(`/runs?workflowId=${workflowId}`)).body.runs).toEqual([]);
  });

  it('lists runs by status in any case, and answers 404 for an unknown workflow', async () => {
    const lower = await api.get('/runs?workflowId=api_simple&status=failed');
    expect(lower.status).toBe(200);
    expect(lower.body.runs).toEqual([]);
    const bad = await api.get('/runs?workflowId=api_simple&status=exploded');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/status must be one of/);
    const unknown = await api.get('/runs?workflowId=no_such_workflow');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe('workflow "no_such_workflow" not found');
  });

  it('refuses an attempt timeout no worker invocation can meet, naming the limit', async () => {
    const response = await api.post('/workflows', { id: 'api_timeout', tasks: [{ id: 'slow', type: 'pass', timeoutSeconds: 3600 }] });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/tasks\.slow\.timeoutSeconds: timeoutSeconds must be at most 880: .*900 s/);
  });
});

describe('data comes back exactly as sent', () => {
  it('keeps a __proto__ key of a run input, and tells it apart for the Idempotency-Key', async () => {
    const { workflowId } = await register(api, { id: 'api_echo', tasks: [{ id: 'echo', type: 'pass' }] });
    const withProto = `{"workflowId":"${workflowId}","input":{"a":1,"__proto__":{"admin":true}}}`;
    const created = await api.request('POST', '/runs', withProto, { 'content-type': 'application/json', 'Idempotency-Key': 'proto-key' });
    expect(created.status).toBe(201);
    const run = await waitForRun(api, created.body.runId);
    const raw = await (await fetch(`${runtime.apiUrl}/runs/${created.body.runId}`)).text();
    expect(raw).toContain('"__proto__":{"admin":true}');
    expect(run.tasks[0].status).toBe('SUCCEEDED');
    expect(JSON.stringify(run.tasks[0].output)).toBe('{"a":1,"__proto__":{"admin":true}}');
    // The same key without the key inside the input is another request: 409, not the same run.
    const without = await api.post('/runs', { workflowId, input: { a: 1 } }, { 'Idempotency-Key': 'proto-key' });
    expect(without.status).toBe(409);
  });

  it('refuses a definition with a __proto__ key with 400 naming where', async () => {
    const response = await api.request(
      'POST',
      '/workflows',
      '{"id":"api_proto","tasks":[{"id":"p","type":"pass","output":{"__proto__":{"x":1}}}]}',
      { 'content-type': 'application/json' },
    );
    expect(response.status).toBe(400);
    expect(response.body.error.message).toBe('tasks.p.output.__proto__: "__proto__" cannot be used as a key in a definition');
  });
});
