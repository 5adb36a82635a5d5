// Engine defects the port-level tests found, each reproduced as it happened, on the in-memory
// ports: a group's critical failure lost when the stream split its records across batches; a
// resumed fan-in decided on the counts of the phase that failed; a commit tried again after its
// answer was lost taken for stale; a wait task retried after a dead letter that could never end.
import { describe, expect, it } from 'vitest';
import { handleDeadLetter } from '../../../shared/engine/dead-letters.js';
import { TaskFailure, type TaskHandler } from '../../../shared/tasks/context.js';
import { Engine } from '../support/engine.js';

describe('a completion group counted by a worker that died before marking it done', () => {
  async function failedAndCounted() {
    const engine = new Engine();
    const definition = await engine.define({ id: 'one', tasks: [{ id: 'a', handler: 'broken' }] });
    const runId = await engine.start(definition);
    // The worker fails a (no handler: not retried), counts it, and dies before marking the group done.
    engine.store.fail('runs.markGroupDone', { times: 1, error: () => new Error('the worker died') });
    await expect(engine.worker().process(engine.messageFor('a'))).rejects.toThrow('the worker died');
    expect(engine.store.doneGroup(runId, 0, '0')).toEqual({ finished: ['a'], failed: ['a'] });
    return { engine, runId };
  }

  it('ends the run FAILED when the stream shows the task and the group in different batches', async () => {
    const { engine, runId } = await failedAndCounted();
    const changes = engine.store.drainChanges();
    const scheduler = engine.scheduler();
    await scheduler.handleBatch(changes.filter((change) => change.kind !== 'done'));
    await scheduler.handleBatch(changes.filter((change) => change.kind === 'done'));
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', failedCount: 1 });
  });

  it('ends the run FAILED when they are in one batch', async () => {
    const { engine, runId } = await failedAndCounted();
    await engine.scheduler().handleBatch(engine.store.drainChanges());
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', failedCount: 1 });
  });
});

describe('a fan-in of more than 32 dependencies in a resumed run', () => {
  async function drive(engine: Engine, handlers: Record<string, TaskHandler>, first?: string) {
    const worker = engine.worker(handlers, { chain: false });
    for (let out = engine.queue.take(); out.length > 0; out = engine.queue.take()) {
      const messages = out.map((outgoing) => outgoing.message).sort((a, b) => Number(b.taskId === first) - Number(a.taskId === first));
      for (const message of messages) await worker.process(message);
      await engine.settle();
    }
  }

  it('is decided on the outcomes of the new phase, not on the join counts of the phase that failed', async () => {
    const engine = new Engine();
    const deps = Array.from({ length: 40 }, (_, i) => `d${i}`);
    const definition = await engine.define({ id: 'fan', tasks: [...deps.map((id) => ({ id, handler: 'maybe' })), { id: 'join', type: 'pass', dependsOn: deps }] });
    const runId = await engine.start(definition);
    let broken = true;
    const handlers: Record<string, TaskHandler> = {
      maybe: async (ctx) => {
        if (broken && (ctx.taskId === 'd0' || ctx.taskId === 'd35')) throw new TaskFailure('Broken', 'no', { retryable: false });
        return 1;
      },
    };
    await drive(engine, handlers);
    expect(engine.store.run(runId)?.status).toBe('FAILED');
    expect(engine.store.task(runId, 'join')).toMatchObject({ status: 'SKIPPED' });

    await engine.runControl().resume(runId);
    broken = false;
    // d35 (join group 1) runs again before d0 (group 0): group 1 completes first.
    await drive(engine, handlers, 'd35');
    expect(engine.store.task(runId, 'join')).toMatchObject({ status: 'SUCCEEDED', phase: 1 });
    expect(engine.store.run(runId)?.status).toBe('COMPLETED');
  });
});

describe('a commit whose answer was lost, tried again', () => {
  it('is recognized: the worker dispatches the dependents and counts the task', async () => {
    const engine = new Engine();
    const definition = await engine.define({ id: 'chain', tasks: [{ id: 'a', handler: 'step' }, { id: 'b', handler: 'step', dependsOn: ['a'] }] });
    const runId = await engine.start(definition);
    engine.store.fail('tasks.finish', { times: 1, afterApply: true });
    const outcome = await engine.worker({ step: async () => 1 }, { chain: false }).process(engine.messageFor('a'));
    expect(outcome).toBe('succeeded');
    expect(engine.store.task(runId, 'a')?.status).toBe('SUCCEEDED');
    expect(engine.store.task(runId, 'b')?.status).toBe('QUEUED');
    expect(engine.store.doneGroup(runId, 0, '0')?.finished).toEqual(['a']);
  });

  it('of a retry: the next attempt is queued and its message sent', async () => {
    const engine = new Engine();
    const definition = await engine.define({ id: 'flaky', tasks: [{ id: 'a', handler: 'boom', retry: { maxRetries: 2 } }] });
    const runId = await engine.start(definition);
    const first = engine.messageFor('a');
    engine.queue.take();
    engine.store.fail('tasks.retry', { times: 1, afterApply: true });
    const boom: TaskHandler = async () => {
      throw new TaskFailure('Flaky', 'x', { retryable: true });
    };
    expect(await engine.worker({ boom }).process(first)).toBe('retrying');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect(engine.queue.messages()).toEqual([expect.objectContaining({ attempt: 2 })]);
  });
});

describe('a wait task whose wake-up was dead-lettered', () => {
  it('ends FAILED even when its retry policy lists DeadLettered (a retried wait could never end)', async () => {
    const engine = new Engine();
    const definition = await engine.define({
      id: 'nap',
      tasks: [{ id: 'nap', type: 'wait', seconds: 10, retry: { maxRetries: 1, initialDelaySeconds: 0, maxDelaySeconds: 0, retryableErrors: ['DeadLettered'] } }],
    });
    const runId = await engine.start(definition);
    const message = engine.messageFor('nap');
    engine.clock.advance(10_000);
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, { messageId: 'm', receiveCount: '5', body: '{}' })).toBe('failed');
    expect(engine.store.task(runId, 'nap')).toMatchObject({ status: 'FAILED', error: { name: 'DeadLettered' } });
    await engine.settle();
    expect(engine.store.run(runId)?.status).toBe('FAILED');
  });
});

/** root -> each of `dependents`, started; root's message taken, and a `step` handler that notes what ran. */
async function fanWithRootDue(dependents: readonly string[]) {
  const engine = new Engine();
  const definition = await engine.define({
    id: 'fan',
    tasks: [{ id: 'root', handler: 'step' }, ...dependents.map((id) => ({ id, handler: 'step', dependsOn: ['root'] }))],
  });
  const runId = await engine.start(definition);
  const message = engine.messageFor('root');
  engine.queue.take();
  const ran: string[] = [];
  const step: TaskHandler = async (ctx) => {
    ran.push(ctx.taskId);
    return 1;
  };
  return { engine, runId, message, ran, step };
}

describe('a worker whose sends fail for good after it claimed a dependent to run itself', () => {
  it('still runs the claimed dependent, then fails the message (the sweeper re-sends what was lost)', async () => {
    const { engine, runId, message, ran, step } = await fanWithRootDue(['x', 'y', 'z']);
    // Every send fails, retries included: the messages of the two dependents not claimed are lost.
    engine.queue.fail(1_000, () => Object.assign(new Error('SQS is throttling'), { retryable: true }));
    await expect(engine.worker({ step }).process(message)).rejects.toThrow('SQS is throttling');
    // The dependent claimed in the worker ran, and was not left RUNNING with nobody on it.
    const claimed = ran.filter((id) => id !== 'root');
    expect(claimed.length).toBeGreaterThan(0);
    for (const id of claimed) expect(engine.store.task(runId, id)?.status).toBe('SUCCEEDED');
    expect(engine.store.task(runId, 'root')?.status).toBe('SUCCEEDED');
  });
});

describe('a saga resumed and failing again', () => {
  it('compensates the new work too: the compensation runs again in the new phase, under a new idempotency key', async () => {
    const engine = new Engine();
    const definition = await engine.define({
      id: 'saga',
      tasks: [
        { id: 'charge', handler: 'charge', compensate: 'refund' },
        { id: 'ship', handler: 'ship', dependsOn: ['charge'] },
      ],
    });
    const charges: string[] = [];
    const refunds: string[] = [];
    const handlers: Record<string, TaskHandler> = {
      charge: async (ctx) => {
        charges.push(ctx.idempotencyKey);
        return { charged: true };
      },
      refund: async (ctx) => {
        refunds.push(ctx.idempotencyKey);
        return { refunded: true };
      },
      ship: async () => {
        throw new TaskFailure('NoStock', 'nothing left to ship', { retryable: false });
      },
    };
    const drive = async () => {
      const worker = engine.worker(handlers, { chain: false });
      for (let outgoing = engine.queue.take(); outgoing.length > 0; outgoing = engine.queue.take()) {
        for (const { message } of outgoing) await worker.process(message);
        await engine.settle();
      }
    };
    const runId = await engine.start(definition);
    await drive();
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', phase: 0 });
    expect(refunds).toEqual([`${runId}:compensate:charge`]);

    // Resumed: the refunded charge runs again (a new key), shipping fails again, and the new
    // charge must be refunded too, with a key of its own (the provider would drop a repeat).
    await engine.runControl().resume(runId);
    // The first refund is no compensation of the new phase: it is not counted in it (the run
    // would end as soon as it began compensating, without a refund).
    expect(engine.store.doneGroup(runId, 1, 'C')).toBeUndefined();
    await engine.scheduler().reconcile(runId);
    expect(engine.store.doneGroup(runId, 1, 'C')).toBeUndefined();
    await drive();
    expect(charges).toEqual([`${runId}:charge`, `${runId}:charge:1`]);
    expect(refunds).toEqual([`${runId}:compensate:charge`, `${runId}:compensate:charge:1`]);
    expect(engine.store.task(runId, 'compensate:charge')).toMatchObject({ status: 'SUCCEEDED', phase: 1 });
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', phase: 1 });
  });
});

describe("a worker whose write of one dependent fails (throttled for good) while it dispatches the others", () => {
  it('still sends the others, runs the one it claimed, then fails the message; the stream does the failed one', async () => {
    const { engine, runId, message, ran, step } = await fanWithRootDue(['w', 'x', 'y', 'z']);
    engine.store.fail('tasks.advance', { when: (params: { taskId: string }) => params.taskId === 'y' });
    await expect(engine.worker({ step }).process(message)).rejects.toThrow();
    // The one claimed here ran and committed; the others that were queued have their messages.
    expect(ran[0]).toBe('root');
    const claimed = ran.slice(1);
    expect(claimed.length).toBe(1);
    expect(engine.store.task(runId, claimed[0] ?? '')?.status).toBe('SUCCEEDED');
    const queued = ['w', 'x', 'z'].filter((id) => !claimed.includes(id));
    expect(engine.queue.messages().map((sent) => sent.taskId).sort()).toEqual(queued.sort());
    expect(engine.store.task(runId, 'y')).toBeUndefined();
    // The scheduler does the failed one from the root's record.
    engine.store.heal();
    engine.queue.take();
    await engine.settle();
    expect(engine.store.task(runId, 'y')?.status).toBe('QUEUED');
    expect(engine.queue.messages().map((sent) => sent.taskId)).toEqual(['y']);
  });
});
