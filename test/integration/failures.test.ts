// Failure semantics through the real path: retries with backoff, critical and non-critical
// failures, dead-lettered messages, cancellation, resuming a failed run, checkpoints, history.
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { TaskFailure, type TaskHandler } from '../../shared/tasks/context.js';
import { handlers as exampleHandlers, orderProcessing } from '../../workflows/index.js';
import { ApiClient, ExecutionLog, register, startRunViaApi, streamRecordsOf, waitForRun } from './e2e-support.js';

const log = new ExecutionLog();
const signalFired = new Set<string>();
/** Compensations as they ran: `runId compensated-task start end`. */
const undone: Array<{ runId: string; taskId: string; start: number; end: number; output: unknown }> = [];
let bFails = true;
let shipFails = true;
/** Idempotency keys the `charge_like` handler saw, per run. */
const chargeKeys = new Map<string, string[]>();

const testHandlers: Record<string, TaskHandler> = {
  step: log.handler(20),
  flaky: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    if (ctx.attempt <= 2) throw new Error(`transient failure on attempt ${ctx.attempt}`);
    return { attempt: ctx.attempt };
  },
  always_fails: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    throw new Error('this never works');
  },
  flag_fail: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    if (bFails) throw Object.assign(new Error('b is broken'), { name: 'Broken' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return { fixed: true };
  },
  charge_like: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    chargeKeys.set(ctx.runId, [...(chargeKeys.get(ctx.runId) ?? []), ctx.idempotencyKey]);
    return { chargeId: `ch_${ctx.idempotencyKey}` };
  },
  ship_like: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    if (shipFails) throw new TaskFailure('ShipmentFailed', 'no courier', { retryable: false });
    return { shipped: true };
  },
  long_task: async (ctx) => {
    const start = Date.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 60_000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        signalFired.add(ctx.runId);
        reject(ctx.signal.reason as Error);
      });
    });
    log.record(ctx, start, Date.now());
    return { finished: true };
  },
  undo: async (ctx) => {
    const start = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const taskId = ctx.taskId.replace('compensate:', '');
    undone.push({ runId: ctx.runId, taskId, start, end: Date.now(), output: ctx.upstream[taskId]?.output });
    return { undid: taskId };
  },
  checkpointer: async (ctx) => {
    log.record(ctx, Date.now(), Date.now());
    if (ctx.attempt === 1) {
      await ctx.saveCheckpoint({ step: 1 });
      await ctx.saveCheckpoint({ step: 2 });
      throw new Error('crashed after step 2');
    }
    return { resumedFrom: ctx.checkpoint };
  },
};

let runtime: LocalRuntime;
let api: ApiClient;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    port: 0,
    handlers: new Map([...exampleHandlers, ...Object.entries(testHandlers)]),
    logLevel: 'SILENT',
    workerConcurrency: 8,
    // Short visibility: a poison message reaches the DLQ after 5 deliveries in seconds.
    visibilityTimeoutSeconds: 1,
    sweepIntervalMs: 300,
    cancelPollMs: 200,
    // Full jitter drawn at its top: each retry waits (almost) the whole backoff ceiling.
    random: () => 0.999,
    // Every unfinished run is checked against its tasks every 2 s (AWS: 15 min)...
    reconcileIntervalSeconds: 2,
    // ...and the stream record of `lost_a` succeeding never reaches the scheduler, as if AWS had
    // given up on it after the mapping's retries.
    dropStreamRecord: (record) =>
      record.dynamodb?.Keys?.['sk']?.S === 'TASK#lost_a' && record.dynamodb.NewImage?.['status']?.S === 'SUCCEEDED',
  });
  api = new ApiClient(runtime.apiUrl);
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

const taskOf = (run: any, taskId: string) => run.tasks.find((t: { taskId: string }) => t.taskId === taskId);

async function history(runId: string): Promise<any[]> {
  const { status, body } = await api.get(`/runs/${runId}/history`);
  expect(status).toBe(200);
  return body.events;
}

async function waitForTask(runId: string, taskId: string, status: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((taskOf((await api.get(`/runs/${runId}`)).body, taskId)?.status as string) !== status) {
    if (Date.now() > deadline) throw new Error(`task ${taskId} never became ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('retries', () => {
  it('retries a task that fails twice, with the backoff of its policy, and it succeeds on attempt 3', async () => {
    const { workflowId } = await register(api, {
      id: 'retrying',
      tasks: [{ id: 'flaky', handler: 'flaky', retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 10 } }],
    });
    const runId = await startRunViaApi(api, workflowId);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    expect(taskOf(run, 'flaky')).toMatchObject({ status: 'SUCCEEDED', attempt: 3, output: { attempt: 3 } });
    expect(log.count(runId, 'flaky')).toBe(3);

    const events = (await history(runId)).filter((e) => e.taskId === 'flaky');
    expect(events.map((e) => `${e.type}:${e.attempt}`)).toEqual([
      'TaskStarted:1',
      'TaskRetried:1',
      'TaskStarted:2',
      'TaskRetried:2',
      'TaskStarted:3',
      'TaskSucceeded:3',
    ]);
    expect(events[1].error).toMatchObject({ name: 'Error', message: 'transient failure on attempt 1', retryable: true });
    // Backoff ceilings are 1 s then 2 s; with the jitter at its top each gap is the whole ceiling.
    const gap = (retried: number, started: number) => Date.parse(events[started].at) - Date.parse(events[retried].at);
    expect(gap(1, 2)).toBeGreaterThanOrEqual(950);
    expect(gap(1, 2)).toBeLessThan(1_000 + 3_000);
    expect(gap(3, 4)).toBeGreaterThanOrEqual(1_950);
    expect(gap(3, 4)).toBeLessThan(2_000 + 3_000);
  });

  it('fails a task after maxRetries + 1 attempts, skips its dependents and fails the run', async () => {
    const { workflowId } = await register(api, {
      id: 'doomed',
      tasks: [
        { id: 'bad', handler: 'always_fails', retry: { maxRetries: 2, initialDelaySeconds: 0 } },
        { id: 'after', handler: 'step', dependsOn: ['bad'] },
        { id: 'after_after', handler: 'step', dependsOn: ['after'] },
        { id: 'independent', handler: 'step' },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ name: 'TaskFailed' });
    expect(taskOf(run, 'bad')).toMatchObject({ status: 'FAILED', attempt: 3, error: { message: 'this never works' } });
    expect(log.count(runId, 'bad')).toBe(3);
    expect(taskOf(run, 'after').status).toBe('SKIPPED');
    expect(taskOf(run, 'after_after').status).toBe('SKIPPED');
    expect(taskOf(run, 'independent').status).toBe('SUCCEEDED');
    expect(log.count(runId, 'after')).toBe(0);
  });

  it('reports per-task attempt counts, duration percentiles, failure and retry rates', async () => {
    const retrying = (await api.get('/workflows/retrying/stats')).body;
    expect(retrying.runs).toBe(1);
    expect(retrying.tasks).toEqual([
      expect.objectContaining({ taskId: 'flaky', count: 1, attempts: 3, failureRate: 0, retryRate: 2 / 3 }),
    ]);
    expect(retrying.tasks[0].p50Ms).toBeGreaterThanOrEqual(0);
    const doomed = (await api.get('/workflows/doomed/stats')).body;
    const bad = doomed.tasks.find((t: { taskId: string }) => t.taskId === 'bad');
    expect(bad).toMatchObject({ count: 1, attempts: 3, failureRate: 1, retryRate: 2 / 3 });
    expect(doomed.tasks.find((t: { taskId: string }) => t.taskId === 'after')).toMatchObject({ count: 0, attempts: 0, p50Ms: null });
    expect((await api.get('/workflows/no_such/stats')).status).toBe(404);
    expect((await api.get('/workflows/doomed/stats?runs=0')).status).toBe(400);
    expect((await api.get('/workflows/doomed/stats?version=nope')).status).toBe(400);
  });

  it("reports a version's statistics over that version's runs only", async () => {
    const first = await register(api, { id: 'versioned_stats', tasks: [{ id: 'only', handler: 'step' }] });
    await waitForRun(api, await startRunViaApi(api, 'versioned_stats'));
    const second = await register(api, { id: 'versioned_stats', tasks: [{ id: 'only', handler: 'step' }, { id: 'more', handler: 'step', dependsOn: ['only'] }] });
    for (let i = 0; i < 2; i += 1) await waitForRun(api, await startRunViaApi(api, 'versioned_stats'));
    const old = (await api.get(`/workflows/versioned_stats/stats?version=${first.version}`)).body;
    expect(old).toMatchObject({ version: first.version, runs: 1 });
    expect(old.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['only']);
    const latest = (await api.get(`/workflows/versioned_stats/stats?version=${second.version}`)).body;
    expect(latest).toMatchObject({ version: second.version, runs: 2 });
    expect(latest.tasks.find((t: { taskId: string }) => t.taskId === 'more')).toMatchObject({ count: 2 });
    expect((await api.get('/workflows/versioned_stats/stats?version=0123456789abcdef')).status).toBe(404);
  });

  it('lets the run go on past a non-critical failure', async () => {
    const { workflowId } = await register(api, {
      id: 'optional',
      tasks: [
        { id: 'nice_to_have', handler: 'always_fails', critical: false },
        { id: 'needs_it', handler: 'step', dependsOn: ['nice_to_have'] },
        { id: 'cleanup', handler: 'step', dependsOn: ['nice_to_have'], trigger: 'all_done' },
        { id: 'main', handler: 'step' },
      ],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId));
    expect(run.status).toBe('COMPLETED');
    expect(taskOf(run, 'nice_to_have').status).toBe('FAILED');
    expect(taskOf(run, 'needs_it').status).toBe('SKIPPED');
    expect(taskOf(run, 'cleanup').status).toBe('SUCCEEDED');
    expect(taskOf(run, 'main').status).toBe('SUCCEEDED');
  });
});

describe('dead-lettered messages', () => {
  it('fails the task of a poison message with the reason and leaves other runs alone', async () => {
    const { workflowId } = await register(api, {
      id: 'poisoned',
      tasks: [
        { id: 'w', type: 'wait', seconds: 60 },
        { id: 'after', handler: 'step', dependsOn: ['w'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    await waitForTask(runId, 'w', 'WAITING');
    // A message no worker can process: it names a version that does not exist.
    const poison = JSON.stringify({ runId, taskId: 'w', attempt: 1, workflowId, version: '0000000000000000' });
    await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: runtime.taskQueueUrl, MessageBody: poison }));

    const { workflowId: other } = await register(api, {
      id: 'bystander',
      tasks: [
        { id: 'a', handler: 'step' },
        { id: 'b', handler: 'step', dependsOn: ['a'] },
      ],
    });
    const others = await Promise.all(Array.from({ length: 5 }, () => startRunViaApi(api, other)));

    const run = await waitForRun(api, runId, 60_000);
    expect(run.status).toBe('FAILED');
    const w = taskOf(run, 'w');
    expect(w.status).toBe('FAILED');
    expect(w.error.name).toBe('DeadLettered');
    expect(w.error.message).toMatch(/dead-lettered after \d+ deliveries/);
    expect(w.error.details.body).toBe(poison);
    expect(taskOf(run, 'after').status).toBe('SKIPPED');
    for (const otherRun of await Promise.all(others.map((id) => waitForRun(api, id)))) {
      expect(otherRun.status).toBe('COMPLETED');
    }
  }, 90_000);
});

describe('cancellation', () => {
  it('cancels a run during a long task: the signal fires, nothing else starts, and the run ends CANCELLED', async () => {
    const { workflowId } = await register(api, {
      id: 'cancellable',
      tasks: [
        { id: 'first', handler: 'step', compensate: 'undo' },
        { id: 'second', handler: 'step', dependsOn: ['first'], compensate: 'undo' },
        { id: 'long', handler: 'long_task', dependsOn: ['second'], compensate: 'undo' },
        { id: 'last', handler: 'step', dependsOn: ['long'] },
        { id: 'side', type: 'wait', seconds: 60 },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    await waitForTask(runId, 'long', 'RUNNING');
    const cancelled = await api.post(`/runs/${runId}/cancel`);
    expect(cancelled.status).toBe(202);
    const cancelledAt = Date.now();

    const run = await waitForRun(api, runId, 10_000);
    expect(run.status).toBe('CANCELLED');
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
    expect(signalFired.has(runId)).toBe(true);
    expect(taskOf(run, 'first').status).toBe('SUCCEEDED');
    expect(taskOf(run, 'long')).toMatchObject({ status: 'CANCELLED', error: { name: 'Cancelled' } });
    expect(taskOf(run, 'last').status).toBe('CANCELLED');
    expect(taskOf(run, 'side').status).toBe('CANCELLED');
    expect(log.count(runId, 'last')).toBe(0);

    // The saga: finished tasks are compensated, downstream first; the cancelled one is not.
    const compensations = undone.filter((entry) => entry.runId === runId);
    expect(compensations.map((entry) => entry.taskId)).toEqual(['second', 'first']);
    expect(compensations[1]?.start).toBeGreaterThanOrEqual(compensations[0]?.end ?? Infinity);
    expect(compensations[0]?.output).toEqual({ ok: true });
    expect(run.compensations.map((c: { taskId: string; status: string }) => `${c.taskId}:${c.status}`).sort()).toEqual([
      'first:SUCCEEDED',
      'second:SUCCEEDED',
    ]);

    const again = await api.post(`/runs/${runId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    const types = (await history(runId)).map((e) => e.type);
    expect(types).toContain('TaskCancelled');
    expect(types.at(-1)).toBe('RunCancelled');
  });

  it('answers 404 for cancelling a run that does not exist', async () => {
    expect((await api.post('/runs/no-such-run/cancel')).status).toBe(404);
  });
});

describe('run deadlines', () => {
  it('stops a run that passes its deadline and fails it as timed out', async () => {
    const { workflowId } = await register(api, {
      id: 'deadline',
      timeoutSeconds: 1,
      tasks: [
        { id: 'long', handler: 'long_task' },
        { id: 'after', handler: 'step', dependsOn: ['long'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    const run = await waitForRun(api, runId, 20_000);
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatchObject({ name: 'RunTimedOut' });
    expect(signalFired.has(runId)).toBe(true);
    expect(taskOf(run, 'long').status).toBe('CANCELLED');
    expect(taskOf(run, 'after').status).toBe('CANCELLED');
  });
});

describe('compensation', () => {
  it('refunds the charge when shipping fails in order_processing, and the run ends FAILED', async () => {
    await register(api, orderProcessing.toJSON());
    const runId = await startRunViaApi(api, 'order_processing', { orderId: 'o-9', amount: 10, simulate: { shipmentFails: true } });
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    expect(taskOf(run, 'ship_order').status).toBe('FAILED');
    expect(taskOf(run, 'charge_payment').status).toBe('SUCCEEDED');
    expect(run.compensations).toEqual([expect.objectContaining({ taskId: 'charge_payment', status: 'SUCCEEDED' })]);
    const refund = run.compensations[0].output;
    expect(JSON.stringify(refund)).toContain(taskOf(run, 'charge_payment').output.chargeId);
    const types = (await history(runId)).map((e) => `${e.type}:${e.taskId ?? ''}`);
    expect(types).toContain('TaskSucceeded:compensate:charge_payment');
    expect(types.at(-1)).toBe('RunFailed:');
  });
});

describe('resume', () => {
  it('re-runs only the failed and skipped tasks of a failed run', async () => {
    const { workflowId } = await register(api, {
      id: 'resumable',
      tasks: [
        { id: 'a', handler: 'step' },
        { id: 'b', handler: 'flag_fail', dependsOn: ['a'] },
        { id: 'c', handler: 'step', dependsOn: ['b'] },
        { id: 'd', handler: 'step' },
      ],
    });
    bFails = true;
    const runId = await startRunViaApi(api, workflowId);
    const failed = await waitForRun(api, runId);
    expect(failed.status).toBe('FAILED');
    expect(taskOf(failed, 'c').status).toBe('SKIPPED');

    bFails = false;
    const resumed = await api.post(`/runs/${runId}/retry`);
    expect(resumed.status).toBe(202);
    // Replaying every stream record of the first phase (as a bisected or partly failed batch
    // would) while b runs again must not end, cancel or skip anything of the resumed run.
    await waitForTask(runId, 'b', 'RUNNING');
    const replay = await runtime.engine.schedulerHandler({ Records: await streamRecordsOf(runtime, runId) });
    expect(replay.batchItemFailures).toEqual([]);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    for (const task of run.tasks) expect(task.status).toBe('SUCCEEDED');
    expect(taskOf(run, 'a').output).toEqual(taskOf(failed, 'a').output);
    expect([log.count(runId, 'a'), log.count(runId, 'b'), log.count(runId, 'c'), log.count(runId, 'd')]).toEqual([1, 2, 1, 1]);
    expect(taskOf(run, 'b').attempt).toBe(2);

    expect((await api.post(`/runs/${runId}/retry`)).status).toBe(409);
    const types = (await history(runId)).map((e) => e.type);
    expect(types).toContain('RunResumed');
    expect(types.at(-1)).toBe('RunCompleted');
  });
});

describe('resume after compensation', () => {
  it('runs a compensated task again, under a new idempotency key, when the run is resumed', async () => {
    const { workflowId } = await register(api, {
      id: 'undone_and_redone',
      tasks: [
        { id: 'charge', handler: 'charge_like', compensate: 'undo' },
        { id: 'ship', handler: 'ship_like', dependsOn: ['charge'] },
      ],
    });
    shipFails = true;
    const runId = await startRunViaApi(api, workflowId);
    const failed = await waitForRun(api, runId);
    expect(failed.status).toBe('FAILED');
    expect(failed.compensations).toEqual([expect.objectContaining({ taskId: 'charge', status: 'SUCCEEDED' })]);

    shipFails = false;
    expect((await api.post(`/runs/${runId}/retry`)).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    // The refunded charge was made again, with a key the payment provider has not seen.
    expect(log.count(runId, 'charge')).toBe(2);
    expect(chargeKeys.get(runId)).toEqual([`${runId}:charge`, `${runId}:charge:1`]);
    expect(run.compensations).toBeUndefined();
    expect(undone.filter((entry) => entry.runId === runId)).toHaveLength(1);
  });

  it('undoes the new work too when the resumed run fails again: the compensation runs again', async () => {
    const { workflowId } = await register(api, {
      id: 'undone_twice',
      tasks: [
        { id: 'charge', handler: 'charge_like', compensate: 'undo' },
        { id: 'ship', handler: 'ship_like', dependsOn: ['charge'] },
      ],
    });
    shipFails = true;
    const runId = await startRunViaApi(api, workflowId);
    expect((await waitForRun(api, runId)).status).toBe('FAILED');
    expect((await api.post(`/runs/${runId}/retry`)).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    // Charged twice, refunded twice: the second charge is not left standing.
    expect(chargeKeys.get(runId)).toEqual([`${runId}:charge`, `${runId}:charge:1`]);
    expect(undone.filter((entry) => entry.runId === runId)).toHaveLength(2);
    expect(run.compensations).toEqual([expect.objectContaining({ taskId: 'charge', status: 'SUCCEEDED' })]);
  });
});

describe('a stream record the scheduler never handled', () => {
  it('does not leave the run hanging: the sweeper checks the run against its tasks and it goes on', async () => {
    const { workflowId } = await register(api, {
      id: 'lossy',
      tasks: [
        { id: 'lost_a', handler: 'step' },
        { id: 'b', handler: 'step', dependsOn: ['lost_a'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    const run = await waitForRun(api, runId, 30_000);
    expect(run.status).toBe('COMPLETED');
    expect([log.count(runId, 'lost_a'), log.count(runId, 'b')]).toEqual([1, 1]);
  });
});

describe('checkpoints', () => {
  it('gives the next attempt the checkpoint the failed one saved', async () => {
    const { workflowId } = await register(api, {
      id: 'checkpointed',
      tasks: [{ id: 'cp', handler: 'checkpointer', retry: { maxRetries: 1, initialDelaySeconds: 0 } }],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId));
    expect(run.status).toBe('COMPLETED');
    expect(taskOf(run, 'cp')).toMatchObject({ attempt: 2, output: { resumedFrom: { step: 2 } } });
  });
});
