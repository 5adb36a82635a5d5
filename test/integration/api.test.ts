// The HTTP API's contract for bad input: a 4xx naming the problem, in the documented error shape,
// and nothing written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { register, startRuntime, type ApiClient } from './e2e-support.js';

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
    const response = await api.post('/runs', { workflowId, input: { blob: 'x'.repeat(300 * 1024) } });
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
    for (const path of ["'/workflows'", "'/runs?workflowId='", "'/runs/'", "'/stats'"]) expect(page).toContain(path);
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
