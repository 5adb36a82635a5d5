// What a newcomer sees in the first hour, through the real path: truthful views of waiting and
// failed runs, and a cancel storm that leaves the engine up and every run consistently cancelled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { TaskFailure } from '../../shared/tasks/context.js';
import { register, startRunViaApi, startRuntime, waitForRun, type ApiClient } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
const errors: Array<{ source: string; error: unknown }> = [];
/** Compensations that ran, as `runId:taskId`. */
const compensated: string[] = [];
/** Tasks whose handler finished successfully, as `runId:taskId`. */
const succeeded = new Set<string>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  ({ runtime, api } = await startRuntime({
    decline: async () => {
      throw new TaskFailure('PaymentDeclined', 'card declined', { retryable: false });
    },
    work: async (ctx) => {
      // Ignores ctx.signal on purpose for half the tasks: the engine must cope with both kinds.
      const ms = 20 + (ctx.taskId.charCodeAt(ctx.taskId.length - 1) % 5) * 40;
      if (ctx.taskId.endsWith('0') || ctx.taskId.endsWith('2')) await sleep(ms);
      else
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(ctx.signal.reason as Error);
          });
        });
      succeeded.add(`${ctx.runId}:${ctx.taskId}`);
      return { done: ctx.taskId };
    },
    undo_work: async (ctx) => {
      compensated.push(`${ctx.runId}:${ctx.taskId}`);
      return { undone: true };
    },
  }, (source, error) => errors.push({ source, error })));
  // Anything the engine could not handle would end the process: count it as an error here.
  process.on('unhandledRejection', (error) => errors.push({ source: 'unhandledRejection', error }));
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('views that tell the truth', () => {
  it('shows a wait task as WAITING with its wake-up time, and its attempt spans the wait', async () => {
    const { workflowId } = await register(api, { id: 'fh_wait', tasks: [{ id: 'pause', type: 'wait', seconds: 3 }, { id: 'after', type: 'pass', dependsOn: ['pause'] }] });
    const runId = await startRunViaApi(api, workflowId);
    let waiting: any;
    for (let i = 0; i < 50 && waiting === undefined; i++) {
      const { body } = await api.get(`/runs/${runId}`);
      if (body.tasks[0].status === 'WAITING') waiting = body.tasks[0];
      else await sleep(50);
    }
    expect(waiting).toMatchObject({ taskId: 'pause', status: 'WAITING', wakeAt: expect.any(String) });
    expect(Date.parse(waiting.wakeAt) - Date.parse(waiting.startedAt)).toBeGreaterThanOrEqual(2_900);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    const pause = run.tasks[0];
    expect(pause.status).toBe('SUCCEEDED');
    expect(pause.durationMs).toBeGreaterThanOrEqual(2_900);
    expect(Date.parse(pause.completedAt) - Date.parse(pause.startedAt)).toBeGreaterThanOrEqual(2_900);
    const { body: history } = await api.get(`/runs/${runId}/history`);
    const pauseEvents = history.events.filter((event: any) => event.taskId === 'pause').map((event: any) => event.type);
    expect(pauseEvents).toEqual(['TaskStarted', 'TaskSucceeded']);
  });

  it('names the failed task in the run error, and counts only the definition tasks', async () => {
    const { workflowId } = await register(api, {
      id: 'fh_fail',
      tasks: [
        { id: 'reserve', handler: 'work', compensate: 'undo_work' },
        { id: 'charge', handler: 'decline', dependsOn: ['reserve'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ name: 'TaskFailed', message: 'task charge failed' });
    expect(run.compensations).toEqual([expect.objectContaining({ taskId: 'reserve', status: 'SUCCEEDED' })]);
    const { body } = await api.get(`/runs?workflowId=${workflowId}`);
    expect(body.runs[0]).toMatchObject({ runId, taskCount: 2 });
  });

  it('fails an http task whose template resolves to nothing, naming the placeholder, and sends nothing', async () => {
    const { workflowId } = await register(api, {
      id: 'fh_template',
      tasks: [{ id: 'call', type: 'http', http: { url: 'http://localhost:9/orders/{{input.nope.deep}}', method: 'GET' } }],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId, {}));
    expect(run.status).toBe('FAILED');
    expect(run.tasks[0].error).toMatchObject({ name: 'UnresolvedPlaceholder', retryable: false });
    expect(run.tasks[0].error.message).toContain('{{input.nope.deep}}');
  });
});

describe('a cancel storm', () => {
  it('leaves the engine up and every run CANCELLED, each succeeded task compensated exactly once', async () => {
    const tasks = Array.from({ length: 30 }, (_, i) =>
      i < 10 ? { id: `w${i}`, handler: 'work', compensate: 'undo_work' } : { id: `p${i}`, type: 'pass' },
    );
    const { workflowId } = await register(api, {
      id: 'fh_storm',
      tasks: [...tasks, { id: 'last', handler: 'work', dependsOn: tasks.map((task) => task.id), compensate: 'undo_work' }],
    });
    const runIds = await Promise.all(Array.from({ length: 50 }, () => startRunViaApi(api, workflowId)));
    // Each run is cancelled twice, at random moments from at once to a few hundred ms in.
    await Promise.all(
      runIds.flatMap((runId) =>
        [0, 1].map(async () => {
          await sleep(Math.floor(Math.random() * 400));
          const response = await api.post(`/runs/${runId}/cancel`);
          expect([202, 409]).toContain(response.status);
        }),
      ),
    );
    const runs = await Promise.all(runIds.map((runId) => waitForRun(api, runId, 120_000)));
    // Still up: the API answers, and a new run completes.
    const { workflowId: probe } = await register(api, { id: 'fh_probe', tasks: [{ id: 'a', type: 'pass' }] });
    expect((await waitForRun(api, await startRunViaApi(api, probe))).status).toBe('COMPLETED');
    for (const run of runs) {
      // A run whose every task finished before the cancel arrived completes; the rest are cancelled.
      expect(['CANCELLED', 'COMPLETED']).toContain(run.status);
      if (run.status === 'COMPLETED') continue;
      const compensable = (taskId: string) => taskId.startsWith('w') || taskId === 'last';
      const succeededTasks = run.tasks.filter((task: any) => task.status === 'SUCCEEDED' && compensable(task.taskId));
      const compensations = (run.compensations ?? []).map((c: any) => c.taskId).sort();
      expect(compensations).toEqual(succeededTasks.map((task: any) => task.taskId).sort());
      for (const compensation of run.compensations ?? []) expect(compensation.status).toBe('SUCCEEDED');
      for (const task of run.tasks) expect(['SUCCEEDED', 'CANCELLED', 'SKIPPED']).toContain(task.status);
    }
    expect(runs.filter((run) => run.status === 'CANCELLED').length).toBeGreaterThan(25);
    // Exactly once: no compensation ran twice.
    expect(new Set(compensated).size).toBe(compensated.length);
    expect(errors.filter(({ source }) => source === 'unhandledRejection')).toEqual([]);
  }, 300_000);
});
