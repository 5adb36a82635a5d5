// GET /runs/{runId} on the real path: `why` on a PENDING dependent while its dependency runs, and
// the critical path of the run once it has completed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import type { TaskHandler } from '../../shared/tasks/context.js';
import { register, startRunViaApi, startRuntime, waitForRun, type ApiClient } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
/** Lets the gated task finish: it runs until the test has seen its dependent waiting. */
let open: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  open = resolve;
});
const gated: TaskHandler = async () => {
  await gate;
  return { ok: true };
};

beforeAll(async () => {
  ({ runtime, api } = await startRuntime({ insights_gated: gated }));
}, 120_000);

afterAll(async () => {
  open();
  await runtime?.stop();
});

async function viewWhen(runId: string, until: (view: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api.get(`/runs/${runId}`);
    if (until(body)) return body;
    if (Date.now() > deadline) throw new Error(`run ${runId} never got there: ${JSON.stringify(body.tasks)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('GET /runs/{runId} insights', () => {
  it('says why a dependent waits while its dependency runs, then shows the completed run\'s critical path', async () => {
    await register(api, {
      id: 'insights',
      tasks: [
        { id: 'side', type: 'pass' },
        { id: 'slow', handler: 'insights_gated' },
        { id: 'after', type: 'pass', dependsOn: ['slow'] },
      ],
    });
    const runId = await startRunViaApi(api, 'insights');

    const running = await viewWhen(runId, (view) => view.tasks.find((task: any) => task.taskId === 'slow')?.status === 'RUNNING');
    const byId = new Map<string, any>(running.tasks.map((task: any) => [task.taskId, task]));
    expect(byId.get('after')).toMatchObject({ status: 'PENDING', why: { code: 'waiting_for_dependencies', waitingFor: ['slow'] } });
    expect(byId.get('after').why.message).toContain('slow (RUNNING)');
    expect(byId.get('slow').why).toMatchObject({ code: 'running', attempt: 1, since: expect.any(String), leaseUntil: expect.any(String) });
    expect(running).not.toHaveProperty('criticalPath');

    open();
    const done = await waitForRun(api, runId);
    expect(done.status).toBe('COMPLETED');
    expect(done.tasks.some((task: any) => 'why' in task)).toBe(false);
    expect(done.criticalPath.map((step: any) => step.taskId)).toEqual(['slow', 'after']);
    for (const step of done.criticalPath) {
      expect(step).toEqual({ taskId: expect.any(String), startedAt: expect.any(String), completedAt: expect.any(String), durationMs: expect.any(Number), waitMs: expect.any(Number) });
      expect(step.durationMs).toBeGreaterThanOrEqual(0);
      expect(step.waitMs).toBeGreaterThanOrEqual(0);
    }
    expect(done.tasks.filter((task: any) => task.onCriticalPath === true).map((task: any) => task.taskId)).toEqual(['slow', 'after']);
  });
});
