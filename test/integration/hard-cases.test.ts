// The hard cases a review found, on the whole local path, with AWS's failure modes injected into
// the engine's own SDK clients (DynamoDB Local and the SQS server never produce them):
// - many tasks finishing at once while writes conflict and are throttled: every success is kept
//   (once, a conflict made the commit throw and the task ended TimedOut, failing the run);
// - a cancel while the writes that carry it conflict: the running task still sees its signal
//   (once, a conflict was taken for "no longer running" and the request was lost);
// - a resume whose owner dies half-way: the run is not left RESUMING forever; the sweeper takes
//   the resume over once its lease runs out and the run completes, nothing that had succeeded run
//   again (once, such a run hung, shown as RUNNING, and could not even be cancelled).
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import { createFaultInjector } from '../../shared/aws/fault-injection.js';
import { SqsTaskQueue } from '../../shared/aws/sqs-queue.js';
import { DefinitionCache } from '../../shared/engine/definition-cache.js';
import type { TaskStore } from '../../shared/engine/ports.js';
import { RunControl } from '../../shared/engine/run-control.js';
import { TaskFailure, type TaskHandler } from '../../shared/tasks/context.js';
import { ApiClient, ExecutionLog, register, startRunViaApi, waitForRun } from './e2e-support.js';

const faults = createFaultInjector();
const log = new ExecutionLog();
const signalled = new Map<string, number>();
let broken = true;

const handlers: Record<string, TaskHandler> = {
  step: log.handler(30),
  breakable: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    if (broken) throw new TaskFailure('Broken', 'broken until fixed', { retryable: false });
    return { fixed: true };
  },
  until_cancelled: (ctx) =>
    new Promise((_, reject) => {
      ctx.signal.addEventListener('abort', () => {
        signalled.set(ctx.runId, Date.now());
        reject(ctx.signal.reason as Error);
      });
    }),
};

let runtime: LocalRuntime;
let api: ApiClient;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    port: 0,
    handlers: new Map(Object.entries(handlers)),
    logLevel: 'SILENT',
    workerConcurrency: 8,
    sweepIntervalMs: 300,
    cancelPollMs: 200,
    faults,
    // A resume's owner that goes quiet is taken for dead after 2 s (AWS: 60 s). A message that
    // went missing under the faults is sent again by the sweeper after 15 s (AWS: 300 s), within
    // the tests' waits: every task must still succeed once, on its first attempt.
    timings: { resumeLeaseSeconds: 2, deliveryGraceSeconds: 15 },
    onError: () => undefined,
  });
  api = new ApiClient(runtime.apiUrl);
}, 120_000);

afterAll(async () => {
  faults.disable();
  await runtime?.stop();
});

const taskOf = (run: any, taskId: string) => run.tasks.find((t: { taskId: string }) => t.taskId === taskId);

describe('a wide fan-out finishing while writes conflict and are throttled', () => {
  it('keeps every success: each task SUCCEEDED on its first attempt, the run COMPLETED', async () => {
    const width = 60;
    const { workflowId } = await register(api, {
      id: 'contended',
      tasks: [
        { id: 'root', handler: 'step' },
        ...Array.from({ length: width }, (_, i) => ({ id: `m${i}`, handler: 'step', dependsOn: ['root'] })),
        { id: 'sink', handler: 'step', dependsOn: Array.from({ length: width }, (_, i) => `m${i}`) },
      ],
    });
    faults.configure({ seed: 21, rules: { transactionConflict: { '*': 0.25 }, throttle: { '*': 0.2 } } });
    try {
      const runIds = await Promise.all([1, 2, 3].map(() => startRunViaApi(api, workflowId)));
      for (const runId of runIds) {
        const run = await waitForRun(api, runId, 90_000);
        expect(run.status).toBe('COMPLETED');
        expect(run.tasks).toHaveLength(width + 2);
        for (const task of run.tasks) expect({ taskId: task.taskId, status: task.status, attempt: task.attempt }).toEqual({ taskId: task.taskId, status: 'SUCCEEDED', attempt: 1 });
        for (const task of run.tasks) expect(log.count(runId, task.taskId)).toBe(1);
      }
      const stats = faults.stats();
      const conflicts = Object.values(stats).reduce((sum, kinds) => sum + (kinds.transactionConflict ?? 0), 0);
      expect(conflicts).toBeGreaterThan(20);
    } finally {
      faults.disable();
    }
  }, 120_000);
});

describe('a cancel while its writes conflict', () => {
  it('reaches the running task: its signal fires and the run ends CANCELLED', async () => {
    const { workflowId } = await register(api, { id: 'stoppable', tasks: [{ id: 'long', handler: 'until_cancelled' }, { id: 'after', handler: 'step', dependsOn: ['long'] }] });
    const runIds = await Promise.all([1, 2, 3, 4, 5].map(() => startRunViaApi(api, workflowId)));
    for (const runId of runIds) {
      for (;;) {
        const run = (await api.get(`/runs/${runId}`)).body;
        if (taskOf(run, 'long')?.status === 'RUNNING') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    // Half of the writes of the cancel (the run's flag, each task's stop request) conflict.
    faults.configure({ seed: 22, rules: { transactionConflict: { UpdateItem: 0.5, TransactWriteItems: 0.5 } } });
    try {
      for (const runId of runIds) {
        // A 503 (the run's own write still conflicting after the store's tries) says retry: a client does.
        let status = 503;
        for (let tries = 0; status === 503 && tries < 5; tries++) status = (await api.post(`/runs/${runId}/cancel`)).status;
        expect(status).toBe(202);
      }
      for (const runId of runIds) {
        const run = await waitForRun(api, runId, 30_000);
        expect(run.status).toBe('CANCELLED');
        expect(signalled.has(runId)).toBe(true);
        expect(taskOf(run, 'long')).toMatchObject({ status: 'CANCELLED' });
        expect(taskOf(run, 'after').status).toBe('CANCELLED');
        expect(log.count(runId, 'after')).toBe(0);
      }
      expect(faults.stats()['UpdateItem']?.transactionConflict ?? 0).toBeGreaterThan(0);
    } finally {
      faults.disable();
    }
  }, 90_000);
});

describe('a resume whose owner dies half-way', () => {
  it('is taken over by the sweeper once its lease runs out, and the run completes without re-running successes', async () => {
    const width = 250;
    const { workflowId } = await register(api, {
      id: 'resumed_by_sweeper',
      tasks: [
        { id: 'gate', handler: 'breakable' },
        ...Array.from({ length: width }, (_, i) => ({ id: `done${i}`, handler: 'step' })),
        ...Array.from({ length: width }, (_, i) => ({ id: `later${i}`, type: 'pass', dependsOn: ['gate'] })),
      ],
    });
    broken = true;
    const runId = await startRunViaApi(api, workflowId);
    expect((await waitForRun(api, runId, 60_000)).status).toBe('FAILED');
    broken = false;

    // An API invocation that resumes the run and dies after moving 100 of its 251 tasks (its
    // process is gone: no error answer, no clean-up).
    const client = createDocumentClient({ ...LOCAL_AWS, endpoint: runtime.dynamoEndpoint });
    const sqs = new SQSClient({ ...LOCAL_AWS, endpoint: runtime.sqsEndpoint });
    const store = createDynamoStore({ client, tableName: runtime.tableName });
    let moved = 0;
    const dying: TaskStore = Object.create(store.tasks, {
      resetForPhase: {
        value: (params: Parameters<TaskStore['resetForPhase']>[0]) => {
          if (++moved > 100) return new Promise(() => undefined);
          return store.tasks.resetForPhase(params);
        },
      },
    }) as TaskStore;
    const doomed = new RunControl({
      ...store,
      tasks: dying,
      queue: new SqsTaskQueue({ sqs, queueUrl: runtime.taskQueueUrl }),
      definitions: new DefinitionCache(store.definitions),
      timings: { ...runtimeTimings(), resumeLeaseSeconds: 2 },
    });
    void doomed.resume(runId);
    while (moved <= 100) await new Promise((resolve) => setTimeout(resolve, 20));

    // Meanwhile the run reads as RUNNING, and a second resume is refused.
    expect((await api.get(`/runs/${runId}`)).body.status).toBe('RUNNING');
    expect((await api.post(`/runs/${runId}/retry`)).status).toBe(409);

    const run = await waitForRun(api, runId, 60_000);
    expect(run.status).toBe('COMPLETED');
    for (const task of run.tasks) expect(task.status).toBe('SUCCEEDED');
    expect(log.count(runId, 'gate')).toBe(2);
    for (let i = 0; i < width; i++) expect(log.count(runId, `done${i}`)).toBe(1);
    const types = (await api.get(`/runs/${runId}/history`)).body.events.map((event: { type: string }) => event.type);
    expect(types.filter((type: string) => type === 'RunFailed')).toHaveLength(1);
    expect(types).toContain('RunResumed');
    expect(types.at(-1)).toBe('RunCompleted');
    sqs.destroy();
    client.destroy();
  }, 120_000);
});

function runtimeTimings() {
  return runtime.engine.timings;
}
