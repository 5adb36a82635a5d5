// GET /runs without a workflowId: the runs of every workflow, newest first, through the HTTP API,
// the typed client and `dagflow list`; a token that the API did not write is a 400.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DagflowClient } from '../../client/index.js';
import { EXIT, main } from '../../cli/dagflow.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { register, startRunViaApi, startRuntime, waitForRun, type ApiClient } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
/** Runs started by the test, oldest first, and how each ended. */
const started: Array<{ runId: string; workflowId: string; status: string }> = [];

beforeAll(async () => {
  ({ runtime, api } = await startRuntime());
  await register(api, { id: 'listed_ok', tasks: [{ id: 'a', type: 'pass' }] });
  await register(api, { id: 'listed_failing', tasks: [{ id: 'boom', type: 'fail', error: 'Boom', message: 'no' }] });
  for (let i = 0; i < 7; i++) {
    const workflowId = i % 3 === 2 ? 'listed_failing' : 'listed_ok';
    const runId = await startRunViaApi(api, workflowId);
    started.push({ runId, workflowId, status: (await waitForRun(api, runId)).status });
  }
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

const newestFirst = () => [...started].reverse();

describe('GET /runs without a workflowId', () => {
  it('lists the runs of every workflow, newest first, in pages that give each run once', async () => {
    const all = await api.get('/runs');
    expect(all.status).toBe(200);
    expect(all.body.runs.map((run: { runId: string }) => run.runId)).toEqual(newestFirst().map((run) => run.runId));
    expect(all.body.runs[0]).toMatchObject({ workflowId: newestFirst()[0]?.workflowId, status: newestFirst()[0]?.status, taskCount: 1 });
    expect(all.body.nextToken).toBeUndefined();

    const paged: string[] = [];
    let path = '/runs?limit=3';
    for (;;) {
      const page = await api.get(path);
      expect(page.status).toBe(200);
      expect(page.body.runs.length).toBeLessThanOrEqual(3);
      paged.push(...page.body.runs.map((run: { runId: string }) => run.runId));
      if (page.body.nextToken === undefined) break;
      path = `/runs?limit=3&nextToken=${encodeURIComponent(page.body.nextToken)}`;
    }
    expect(paged).toEqual(newestFirst().map((run) => run.runId));
  });

  it('filters by status in any case, and still lists one workflow with its workflowId', async () => {
    const failed = await api.get('/runs?status=failed&limit=1');
    expect(failed.body.runs.map((run: { runId: string }) => run.runId)).toEqual(
      newestFirst()
        .filter((run) => run.status === 'FAILED')
        .slice(0, 1)
        .map((run) => run.runId),
    );
    const rest = await api.get(`/runs?status=FAILED&nextToken=${encodeURIComponent(failed.body.nextToken)}`);
    expect([...failed.body.runs, ...rest.body.runs].map((run: { runId: string }) => run.runId)).toEqual(
      newestFirst()
        .filter((run) => run.status === 'FAILED')
        .map((run) => run.runId),
    );
    const one = await api.get('/runs?workflowId=listed_failing');
    expect(one.body.runs.every((run: { workflowId: string }) => run.workflowId === 'listed_failing')).toBe(true);
    expect((await api.get('/runs?workflowId=no_such_workflow')).status).toBe(404);
  });

  it('refuses with 400 a nextToken it did not write, crafted or of the per-workflow listing', async () => {
    const token = (value: unknown) => encodeURIComponent(Buffer.from(JSON.stringify(value), 'utf8').toString('base64url'));
    const perWorkflow = (await api.get('/runs?workflowId=listed_ok&limit=1')).body.nextToken as string;
    const acrossWorkflows = (await api.get('/runs?limit=1')).body.nextToken as string;
    const crafted = [
      'garbage',
      token({ day: '2026-03-10', lastDay: '1970-01-01' }),
      token({ day: '2026-03-10', before: `2026-03-10T00:00:00.000Z#${'x'.repeat(3_000)}`, lastDay: '2026-03-03' }),
      token({ day: '2026-03-10', before: '2026-03-10T00:00:00.000Z#r1', lastDay: '2026-03-03', pk: 'RUN#r1' }),
      encodeURIComponent(perWorkflow),
    ];
    for (const bad of crafted) {
      const response = await api.get(`/runs?nextToken=${bad}`);
      expect({ token: bad.slice(0, 40), status: response.status }).toEqual({ token: bad.slice(0, 40), status: 400 });
      expect(response.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringMatching(/nextToken/) });
    }
    expect((await api.get(`/runs?workflowId=listed_ok&nextToken=${encodeURIComponent(acrossWorkflows)}`)).status).toBe(400);
  });

  it('is what the client and `dagflow list` without a workflow id read', async () => {
    const client = new DagflowClient({ url: runtime.apiUrl });
    expect((await client.listRuns()).runs.map((run) => run.runId)).toEqual(newestFirst().map((run) => run.runId));
    expect((await client.listRuns({ status: 'COMPLETED', limit: 2 })).runs.map((run) => run.workflowId)).toEqual(['listed_ok', 'listed_ok']);

    const out: string[] = [];
    const code = await main(['list', '--limit', '2'], { out: (line) => out.push(line), err: (line) => out.push(line) }, { DAGFLOW_URL: runtime.apiUrl });
    expect(code).toBe(EXIT.ok);
    const [newest, second] = newestFirst();
    expect(out[0]).toMatch(new RegExp(`^${newest?.runId}  ${newest?.status} .*  ${newest?.workflowId}  version `));
    expect(out[1]).toMatch(new RegExp(`^${second?.runId}  `));
    expect(out.at(-1)).toMatch(/more/);
    const usage: string[] = [];
    expect(await main(['list', 'a', 'b'], { out: () => {}, err: (line) => usage.push(line) }, { DAGFLOW_URL: runtime.apiUrl })).toBe(EXIT.usage);
    expect(usage[0]).toMatch(/at most one workflow id/);
  });
});
