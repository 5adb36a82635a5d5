// The Worker on the in-memory ports: claim, run, commit, then eager dispatch (and chaining).
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../../shared/model/limits.js';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { TaskContext, TaskHandler } from '../../../shared/tasks/context.js';
import { TaskFailure } from '../../../shared/tasks/context.js';
import { Engine } from '../support/engine.js';

const chain: WorkflowDefinitionInput = {
  id: 'chain',
  tasks: [
    { id: 'a', handler: 'step' },
    { id: 'b', handler: 'step', dependsOn: ['a'] },
    { id: 'c', handler: 'step', dependsOn: ['b'] },
  ],
};

/** Handlers that record which task ran, in order. */
function recording(): { ran: string[]; handlers: Record<string, TaskHandler> } {
  const ran: string[] = [];
  return { ran, handlers: { step: async (ctx) => (ran.push(ctx.taskId), { from: ctx.taskId }) } };
}

async function started(input: WorkflowDefinitionInput, runInput: unknown = {}) {
  const engine = new Engine();
  const definition = await engine.define(input);
  const runId = await engine.start(definition, runInput);
  return { engine, definition, runId };
}

/** Resolves never; rejects with the signal's reason when it fires. */
function untilSignal(ctx: TaskContext): Promise<never> {
  return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
}

describe('Worker', () => {
  it('claims the attempt, runs its handler with the run input, and commits SUCCEEDED with the output', async () => {
    const { engine, runId } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'echo' }] }, { n: 7 });
    const worker = engine.worker({ echo: async (ctx) => ({ got: ctx.input, attempt: ctx.attempt, key: ctx.idempotencyKey }) });
    expect(await worker.process(engine.messageFor('a'))).toBe('succeeded');
    expect(engine.store.task(runId, 'a')).toMatchObject({
      status: 'SUCCEEDED',
      attempt: 1,
      output: { got: { n: 7 }, attempt: 1, key: `${runId}:a` },
      attempts: [{ attempt: 1, phase: 0, outcome: 'SUCCEEDED' }],
    });
    expect(engine.store.task(runId, 'a')?.leaseExpiresAt).toBeUndefined();
    expect(engine.metricNames()).toContain('TaskSucceeded');
  });

  it('does not run a duplicate message: the attempt is not claimable any more', async () => {
    const { engine } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'step' }] });
    const { ran, handlers } = recording();
    const worker = engine.worker(handlers);
    const message = engine.messageFor('a');
    expect(await worker.process(message)).toBe('succeeded');
    expect(await worker.process(message)).toBe('not-claimable');
    expect(ran).toEqual(['a']);
  });

  it('queues the next attempt of a failing task with retries left, with the backoff as its delay, and fails it with none left', async () => {
    const { engine, runId } = await started({
      id: 'flaky',
      tasks: [{ id: 'a', handler: 'boom', retry: { maxRetries: 2, initialDelaySeconds: 10, backoffRate: 2, maxDelaySeconds: 60 } }],
    });
    const worker = engine.worker({
      boom: async () => {
        throw new TaskFailure('Flaky', 'try again', { retryable: true });
      },
    });
    const first = engine.messageFor('a');
    engine.queue.take();
    expect(await worker.process(first)).toBe('retrying');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 2, error: { name: 'Flaky' }, attempts: [{ attempt: 1, outcome: 'RETRIED' }] });
    // random() is 0.5: half the first backoff ceiling (10 s).
    expect(engine.queue.take()).toEqual([{ message: expect.objectContaining({ taskId: 'a', attempt: 2 }), delaySeconds: 5 }]);

    expect(await worker.process({ ...first, attempt: 2 })).toBe('retrying');
    expect(engine.queue.take()).toEqual([{ message: expect.objectContaining({ attempt: 3 }), delaySeconds: 10 }]);
    // Attempt 3 of at most 3 (maxRetries: 2).
    expect(await worker.process({ ...first, attempt: 3 })).toBe('failed');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'FAILED', attempt: 3, error: { name: 'Flaky', message: 'try again' } });
    expect(engine.store.task(runId, 'a')?.attempts.map((attempt) => attempt.outcome)).toEqual(['RETRIED', 'RETRIED', 'FAILED']);
    expect(engine.metricNames().filter((name) => name === 'TaskRetried' || name === 'TaskFailed')).toEqual(['TaskRetried', 'TaskRetried', 'TaskFailed']);
  });

  it('ends the attempt CANCELLED when its run asks it to stop while it runs', async () => {
    const { engine, runId } = await started({ id: 'long', tasks: [{ id: 'a', handler: 'long', retry: { maxRetries: 3 } }] });
    const worker = engine.worker({
      long: async (ctx) => {
        // The run is cancelled while the attempt runs: its task item is marked, and polled.
        await engine.store.tasks.requestStop({ runId, taskId: 'a', phase: 0 });
        return untilSignal(ctx);
      },
    });
    expect(await worker.process(engine.messageFor('a'))).toBe('cancelled');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'CANCELLED', attempt: 1, error: { name: 'Cancelled' }, attempts: [{ outcome: 'CANCELLED' }] });
  });

  it('fails the attempt with OutputTooLarge when the output is over the limit, without a retry', async () => {
    const { engine, runId } = await started({ id: 'big', tasks: [{ id: 'a', handler: 'big', retry: { maxRetries: 3 } }] });
    const worker = engine.worker({ big: async () => 'x'.repeat(LIMITS.maxOutputBytes) });
    expect(await worker.process(engine.messageFor('a'))).toBe('failed');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'OutputTooLarge', retryable: false } });
    expect(engine.store.task(runId, 'a')?.output).toBeUndefined();
  });

  it('runs a chain a -> b -> c in one process() call: each dependent is claimed and run here', async () => {
    const { engine, runId } = await started(chain);
    const { ran, handlers } = recording();
    const message = engine.messageFor('a');
    engine.queue.take();
    expect(await engine.worker(handlers).process(message)).toBe('succeeded');
    expect(ran).toEqual(['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) expect(engine.store.task(runId, id)).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });
    // b saw a's output, c saw b's.
    expect(engine.store.task(runId, 'c')?.output).toEqual({ from: 'c' });
    expect(engine.queue.sent).toEqual([]);
  });

  it('hands a chained task its upstream outputs', async () => {
    const { engine, runId } = await started({ id: 'data', tasks: [{ id: 'a', handler: 'source' }, { id: 'b', handler: 'double', dependsOn: ['a'] }] }, { value: 21 });
    await engine.worker({
      source: async (ctx) => ({ value: (ctx.input as { value: number }).value }),
      double: async (ctx) => ({ value: 2 * (ctx.upstream['a']?.output as { value: number }).value }),
    }).process(engine.messageFor('a'));
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'SUCCEEDED', output: { value: 42 } });
  });

  it('queues the dependent instead of running it when chaining is off (chain: false)', async () => {
    const { engine, runId } = await started(chain);
    const { ran, handlers } = recording();
    const message = engine.messageFor('a');
    engine.queue.take();
    expect(await engine.worker(handlers, { chain: false }).process(message)).toBe('succeeded');
    expect(ran).toEqual(['a']);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(engine.queue.messages()).toEqual([expect.objectContaining({ taskId: 'b', attempt: 1 })]);
  });

  it('does not chain a dependent whose lease would outlive the invocation', async () => {
    const { engine, runId } = await started(chain);
    const { ran, handlers } = recording();
    // 30 s of default timeout plus 5 s of grace: more than the 20 s left.
    await engine.worker(handlers).process(engine.messageFor('a'), { getRemainingTimeInMillis: () => 20_000 });
    expect(ran).toEqual(['a']);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED' });
  });

  it('counts each finished task in its completion group, and ends the run COMPLETED with the last one', async () => {
    const { engine, runId } = await started(chain);
    const { handlers } = recording();
    await engine.worker(handlers, { chain: false }).process(engine.messageFor('a'));
    expect(engine.store.doneGroup(runId, 0, '0')?.finished).toEqual(['a']);
    expect(engine.store.run(runId)?.status).toBe('RUNNING');

    await engine.worker(handlers).process(engine.messageFor('b'));
    expect(engine.store.doneGroup(runId, 0, '0')?.finished).toEqual(['a', 'b', 'c']);
    expect(engine.store.run(runId)).toMatchObject({ status: 'COMPLETED', doneGroups: ['0'], failedCount: 0 });
    expect(engine.metricNames()).toContain('RunCompleted');
  });

  it("counts a chain's tasks together, one write per completion group when the chain ends, and ends the run there", async () => {
    const { engine, runId } = await started(chain);
    const { handlers } = recording();
    const before = engine.store.calls.length;
    await engine.worker(handlers).process(engine.messageFor('a'));
    const counts = engine.store.calls.filter((call) => call.operation === 'completion.recordFinished');
    expect(counts.map((call) => (call.params as { taskIds: string[] }).taskIds)).toEqual([['a', 'b', 'c']]);
    expect(engine.store.run(runId)).toMatchObject({ status: 'COMPLETED', doneGroups: ['0'] });
    // A run of one completion group: marked done and ended in one write of the run item.
    const runWrites = engine.store.calls.slice(before).filter((call) => call.operation.startsWith('runs.') && call.operation !== 'runs.getRun');
    expect(runWrites.map((call) => call.operation)).toEqual(['runs.completeWithOnlyGroup']);
  });

  it('counts what a chain holds once it has held it a while (so that the scheduler does not count it too)', async () => {
    const { engine, runId } = await started(chain);
    const ran: string[] = [];
    await engine
      .worker({
        step: async (ctx) => {
          ran.push(ctx.taskId);
          // b runs long: a's count has waited past the hold when b is committed.
          if (ctx.taskId === 'b') engine.clock.advance(1_000);
          return { from: ctx.taskId };
        },
      })
      .process(engine.messageFor('a'));
    const counts = engine.store.calls.filter((call) => call.operation === 'completion.recordFinished');
    expect(counts.map((call) => (call.params as { taskIds: string[] }).taskIds)).toEqual([['a', 'b'], ['c']]);
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(engine.store.run(runId)?.status).toBe('COMPLETED');
  });

  it('ends the run FAILED when a critical task fails for good, and skips its dependents', async () => {
    const { engine, runId } = await started(chain);
    await engine.worker({
      step: async () => {
        throw new TaskFailure('Broken', 'no', { retryable: false });
      },
    }).process(engine.messageFor('a'));
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'SKIPPED', reason: 'upstream a FAILED' });
    // b's skip (and so c's) is the scheduler's to count, from the stream.
    expect(engine.store.run(runId)?.status).toBe('RUNNING');
    await engine.settle();
    expect(engine.store.task(runId, 'c')).toMatchObject({ status: 'SKIPPED', reason: 'upstream b SKIPPED' });
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', failedCount: 1, failedTasks: ['a'], error: { name: 'TaskFailed' } });
  });

  it('retries a commit the store refused for a moment (a retryable EngineError), and the commit lands', async () => {
    const { engine, runId } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'step' }] });
    engine.store.fail('tasks.finish', { times: 1 });
    expect(await engine.worker(recording().handlers).process(engine.messageFor('a'))).toBe('succeeded');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'SUCCEEDED', output: { from: 'a' } });
    expect(engine.store.calls.filter((call) => call.operation === 'tasks.finish')).toHaveLength(2);
    expect(engine.store.run(runId)?.status).toBe('COMPLETED');
  });

  it('lets an error the store does not call retryable escape (SQS delivers the message again)', async () => {
    const { engine, runId } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'step' }] });
    engine.store.fail('tasks.finish', { times: 1, error: () => new Error('a bug') });
    await expect(engine.worker(recording().handlers).process(engine.messageFor('a'))).rejects.toThrow('a bug');
    expect(engine.store.task(runId, 'a')?.status).toBe('RUNNING');
  });

  it('ends a wait task SUCCEEDED when its message comes due, and goes on with its dependents', async () => {
    const { engine, runId } = await started({ id: 'nap', tasks: [{ id: 'nap', type: 'wait', seconds: 60 }, { id: 'b', handler: 'step', dependsOn: ['nap'] }] });
    const { ran, handlers } = recording();
    const worker = engine.worker(handlers);
    const message = engine.messageFor('nap');
    expect(message.notBefore).toBe(engine.clock.ms + 60_000);
    engine.queue.take();
    // Too early: the message is sent again, delayed until the wait's end.
    expect(await worker.process(message)).toBe('not-due');
    expect(engine.queue.take()).toEqual([{ message, delaySeconds: 60 }]);
    expect(engine.store.task(runId, 'nap')?.status).toBe('WAITING');

    engine.clock.advance(60_000);
    expect(await worker.process(message)).toBe('succeeded');
    expect(engine.store.task(runId, 'nap')).toMatchObject({ status: 'SUCCEEDED', output: null, attempts: [{ attempt: 1, outcome: 'SUCCEEDED', durationMs: 60_000 }] });
    expect(ran).toEqual(['b']);
    expect(engine.store.run(runId)?.status).toBe('COMPLETED');
  });
});
