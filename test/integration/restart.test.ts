// A restart of the local engine on existing data: the SQS server keeps messages in memory, so
// tasks that were QUEUED when the engine stopped have lost their messages. They must go on within
// seconds of the restart, not after the sweeper's delivery grace of minutes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { handlers as exampleHandlers } from '../../workflows/index.js';
import { ApiClient, register, startRunViaApi, waitForRun } from './e2e-support.js';

const started: LocalRuntime[] = [];
let dataDir = '';

afterAll(async () => {
  for (const runtime of started) await runtime.stop();
  if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
});

function start(workerConcurrency: number): Promise<LocalRuntime> {
  return startLocalRuntime({ port: 0, dataDir, handlers: exampleHandlers, logLevel: 'SILENT', workerConcurrency }).then((runtime) => {
    started.push(runtime);
    return runtime;
  });
}

describe('a restart on existing data', () => {
  it('sends the lost messages of queued tasks again at once, and the runs complete', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dagflow-restart-'));
    // No worker: the runs' first tasks stay QUEUED, their messages only in this SQS server.
    const first = await start(0);
    const api = new ApiClient(first.apiUrl);
    const { workflowId } = await register(api, { id: 'restarted', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    const runIds = await Promise.all([1, 2, 3].map(() => startRunViaApi(api, workflowId)));
    for (;;) {
      const tasks = await Promise.all(runIds.map(async (runId) => (await api.get(`/runs/${runId}`)).body.tasks[0].status as string));
      if (tasks.every((status) => status === 'QUEUED')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await first.stop();
    started.length = 0;

    const restartedAt = Date.now();
    const second = await start(2);
    expect(second.recovered).toMatchObject({ resent: 3 });
    const again = new ApiClient(second.apiUrl);
    for (const runId of runIds) expect((await waitForRun(again, runId, 30_000)).status).toBe('COMPLETED');
    // Well within the delivery grace (300 s) the sweeper would otherwise wait for.
    expect(Date.now() - restartedAt).toBeLessThan(30_000);
  }, 120_000);
});
