// RunControl on the in-memory ports: start, cancel and resume, as the API calls them.
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../../shared/model/errors.js';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import { TaskFailure } from '../../../shared/tasks/context.js';
import type { TaskHandler } from '../../../shared/tasks/context.js';
import { Engine } from '../support/engine.js';

const SECOND = 1_000;

/** a -> b -> c, and a -> d: b fails (its handler says so), so c is skipped and the run FAILS. */
const orders: WorkflowDefinitionInput = {
  id: 'orders',
  tasks: [
    { id: 'a', handler: 'source' },
    { id: 'b', handler: 'fragile', dependsOn: ['a'] },
    { id: 'c', type: 'pass', dependsOn: ['b'] },
    { id: 'd', type: 'pass', dependsOn: ['a'] },
  ],
};

function handlers(state: { broken: boolean }): Record<string, TaskHandler> {
  return {
    source: async () => ({ total: 42 }),
    fragile: async (ctx) => {
      if (state.broken) throw new TaskFailure('Broken', 'the payment service said no', { retryable: false });
      return { charged: (ctx.upstream['a']?.output as { total: number }).total };
    },
  };
}

/** Runs every message sent until none is left, then lets the scheduler catch up with the stream. */
async function drive(engine: Engine, taskHandlers: Record<string, TaskHandler>): Promise<void> {
  const worker = engine.worker(taskHandlers, { chain: false });
  for (let outgoing = engine.queue.take(); outgoing.length > 0; outgoing = engine.queue.take()) {
    for (const { message } of outgoing) await worker.process(message);
    await engine.settle();
  }
}

/** A run of `orders` that FAILED: a and d SUCCEEDED, b FAILED, c SKIPPED. */
async function failedRun(): Promise<{ engine: Engine; runId: string; state: { broken: boolean } }> {
  const engine = new Engine();
  const definition = await engine.define(orders);
  const runId = await engine.start(definition, { orderId: 'o-1' });
  const state = { broken: true };
  await drive(engine, handlers(state));
  expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', failedTasks: ['b'] });
  expect(engine.store.tasksOf(runId).map((task) => `${task.taskId}:${task.status}`)).toEqual(['a:SUCCEEDED', 'b:FAILED', 'c:SKIPPED', 'd:SUCCEEDED']);
  return { engine, runId, state };
}

describe('RunControl', () => {
  describe('start', () => {
    it('writes the run and its input, and queues its roots at once (their messages sent)', async () => {
      const engine = new Engine();
      const definition = await engine.define({ id: 'roots', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }, { id: 'c', type: 'pass', dependsOn: ['a', 'b'] }] });
      expect(await engine.runControl().start({ runId: 'run-1', definition, input: { n: 1 } })).toEqual({ runId: 'run-1', created: true });
      expect(engine.store.run('run-1')).toMatchObject({ status: 'RUNNING', phase: 0, taskCount: 3, groupCount: 1, dueAt: engine.clock.ms + engine.timings.reconcileIntervalSeconds * SECOND });
      expect(await engine.store.runs.getRunInput('run-1')).toEqual({ n: 1 });
      expect(engine.store.tasksOf('run-1').map((task) => `${task.taskId}:${task.status}:${task.attempt}`)).toEqual(['a:QUEUED:1', 'b:QUEUED:1']);
      expect(engine.queue.messages().map((message) => message.taskId).sort()).toEqual(['a', 'b']);
    });

    it('gives a run with a timeout its deadline, and looks at it then', async () => {
      const engine = new Engine();
      const definition = await engine.define({ id: 'quick', timeoutSeconds: 30, tasks: [{ id: 'a', type: 'pass' }] });
      await engine.runControl().start({ runId: 'run-1', definition, input: {} });
      expect(engine.store.run('run-1')).toMatchObject({ deadlineAt: engine.clock.ms + 30 * SECOND, dueAt: engine.clock.ms + 30 * SECOND });
    });

    it('returns the first run for a repeated idempotency key, and queues nothing more', async () => {
      const engine = new Engine();
      const definition = await engine.define({ id: 'one', tasks: [{ id: 'a', type: 'pass' }] });
      const runControl = engine.runControl();
      const idempotency = { key: 'order-1', requestFingerprint: 'hash' };
      expect(await runControl.start({ runId: 'first', definition, input: {}, idempotency })).toEqual({ runId: 'first', created: true });
      expect(await runControl.start({ runId: 'second', definition, input: {}, idempotency })).toEqual({ runId: 'first', created: false });
      expect(engine.store.run('second')).toBeUndefined();
      expect(engine.queue.messages()).toEqual([expect.objectContaining({ runId: 'first', taskId: 'a', attempt: 1 })]);
      await expect(runControl.start({ runId: 'third', definition, input: {}, idempotency: { key: 'order-1', requestFingerprint: 'other' } })).rejects.toThrow(ConflictError);
    });
  });

  describe('cancel', () => {
    it('moves a running run to CANCELLING and cancels its tasks at once', async () => {
      const engine = new Engine();
      const definition = await engine.define(orders);
      const runId = await engine.start(definition);
      expect(await engine.runControl().cancel(runId, 'customer changed their mind')).toEqual({ runId, status: 'CANCELLING' });
      expect(engine.store.run(runId)).toMatchObject({ status: 'CANCELLING', cancel: { reason: 'customer changed their mind', outcome: 'CANCELLED' } });
      expect(engine.store.tasksOf(runId).map((task) => task.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'CANCELLED']);
    });

    it('refuses to cancel a finished run with a ConflictError naming its status', async () => {
      const engine = new Engine();
      const definition = await engine.define({ id: 'one', tasks: [{ id: 'a', type: 'pass' }] });
      const runId = await engine.start(definition);
      await engine.worker().process(engine.messageFor('a'));
      expect(engine.store.run(runId)?.status).toBe('COMPLETED');
      const refused = engine.runControl().cancel(runId);
      await expect(refused).rejects.toThrow(ConflictError);
      await expect(refused).rejects.toMatchObject({ message: expect.stringContaining('COMPLETED'), details: { status: 'COMPLETED' } });
      expect(engine.store.run(runId)?.status).toBe('COMPLETED');
    });

    it('says a run that does not exist is not found', async () => {
      await expect(new Engine().runControl().cancel('nope')).rejects.toThrow(NotFoundError);
    });

    it('is accepted once the run is CANCELLING, even when the table fails the tasks at once; the stream cancels them', async () => {
      const engine = new Engine();
      const definition = await engine.define(orders);
      const runId = await engine.start(definition);
      engine.store.fail('tasks.cancel');
      expect(await engine.runControl().cancel(runId)).toEqual({ runId, status: 'CANCELLING' });
      expect(engine.store.run(runId)?.status).toBe('CANCELLING');
      engine.store.heal();
      await engine.settle();
      expect(engine.store.run(runId)?.status).toBe('CANCELLED');
      expect(engine.store.tasksOf(runId).map((task) => task.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED', 'CANCELLED']);
    });

    it('still fails for an error that is not the table being unavailable', async () => {
      const engine = new Engine();
      const definition = await engine.define(orders);
      const runId = await engine.start(definition);
      engine.store.fail('tasks.cancel', { error: () => new TypeError('a bug') });
      await expect(engine.runControl().cancel(runId)).rejects.toThrow('a bug');
    });
  });

  describe('start', () => {
    it('answers with the run it created even when its roots cannot be queued now; the run goes on', async () => {
      const engine = new Engine();
      const definition = await engine.define({ id: 'one', tasks: [{ id: 'a', type: 'pass' }] });
      engine.store.fail('tasks.advance', { times: 1 });
      const { runId, created } = await engine.runControl().start({ runId: 'r-1', definition, input: {} });
      expect({ runId, created }).toEqual({ runId: 'r-1', created: true });
      expect(engine.queue.messages()).toEqual([]);
      // The scheduler queues the root from the run's record, and the run completes.
      await engine.settle();
      await engine.worker().process(engine.messageFor('a'));
      expect(engine.store.run(runId)?.status).toBe('COMPLETED');
    });
  });

  describe('resume', () => {
    it('runs the failed and skipped tasks of a FAILED run again in phase 1, keeping the SUCCEEDED ones and their outputs', async () => {
      const { engine, runId } = await failedRun();
      const before = engine.store.tasksOf(runId);
      expect(await engine.runControl().resume(runId)).toEqual({ runId, status: 'RUNNING' });

      expect(engine.store.run(runId)).toMatchObject({ status: 'RUNNING', phase: 1, failedCount: 0, failedTasks: [], doneGroups: [] });
      expect(engine.store.run(runId)?.error).toBeUndefined();
      expect(engine.store.run(runId)?.resume).toBeUndefined();
      // Kept as they were: same phase, same output.
      expect(engine.store.task(runId, 'a')).toEqual(before.find((task) => task.taskId === 'a'));
      expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'SUCCEEDED', phase: 0, output: { total: 42 } });
      expect(engine.store.task(runId, 'd')).toMatchObject({ status: 'SUCCEEDED', phase: 0 });
      // The failed one is ready again (its upstream was kept): queued for its next attempt, counted afresh.
      expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', phase: 1, attempt: 2, attemptBase: 1, dependencies: { succeeded: ['a'], failed: [] } });
      expect(engine.store.task(runId, 'b')?.error).toBeUndefined();
      expect(engine.store.task(runId, 'c')).toMatchObject({ status: 'PENDING', phase: 1, dependencies: { succeeded: [], skipped: [] } });
      expect(engine.store.task(runId, 'c')?.reason).toBeUndefined();
      expect(engine.queue.messages()).toEqual([expect.objectContaining({ taskId: 'b', attempt: 2 })]);
      // The kept successes count as finished in the new phase.
      expect(engine.store.doneGroup(runId, 1, '0')?.finished).toEqual(['a', 'd']);
      // What the history needs of phase 0 is archived.
      expect(await engine.store.runs.phaseArchives(runId)).toEqual([
        expect.objectContaining({ phase: 0, status: 'FAILED', error: expect.objectContaining({ name: 'TaskFailed' }), ended: [expect.objectContaining({ taskId: 'c', status: 'SKIPPED', reason: 'upstream b FAILED' })] }),
      ]);
    });

    it('lets a resumed run run to COMPLETED, the kept outputs handed to the tasks that run again', async () => {
      const { engine, runId, state } = await failedRun();
      await engine.runControl().resume(runId);
      state.broken = false;
      await drive(engine, handlers(state));
      expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'SUCCEEDED', phase: 1, output: { charged: 42 } });
      expect(engine.store.task(runId, 'c')).toMatchObject({ status: 'SUCCEEDED', phase: 1 });
      expect(engine.store.run(runId)).toMatchObject({ status: 'COMPLETED', phase: 1 });
    });

    it('refuses a run that is not FAILED or CANCELLED', async () => {
      const engine = new Engine();
      const runId = await engine.start(await engine.define({ id: 'one', tasks: [{ id: 'a', type: 'pass' }] }));
      await expect(engine.runControl().resume(runId)).rejects.toMatchObject({ details: { status: 'RUNNING' } });
      expect(engine.store.run(runId)).toMatchObject({ status: 'RUNNING', phase: 0 });
    });

    it('is taken over after its lease when its owner dies half-way, and finished', async () => {
      const { engine, runId } = await failedRun();
      // The owner began, moved one task into phase 1, and died.
      const begun = await engine.store.runs.beginResume({ runId, owner: 'dead-owner', expiresAt: engine.clock.ms + engine.timings.resumeLeaseSeconds * SECOND });
      expect(begun.outcome).toBe('resuming');
      await engine.store.tasks.resetForPhase({ runId, taskId: 'b', workflowId: 'orders', version: engine.store.run(runId)?.version ?? '', fromPhase: 0, phase: 1, succeededDependencies: ['a'], joinGroups: {}, allJoinGroups: [], newIdempotencyKey: false });
      const runControl = engine.runControl();

      // Within the lease the owner may still be at work: nothing is taken over.
      await runControl.takeOverResume(runId);
      expect(engine.store.run(runId)).toMatchObject({ status: 'RESUMING', phase: 0, resume: { owner: 'dead-owner', from: 'FAILED' } });

      engine.clock.advance(engine.timings.resumeLeaseSeconds * SECOND + 1);
      await runControl.takeOverResume(runId);
      expect(engine.store.run(runId)).toMatchObject({ status: 'RUNNING', phase: 1 });
      expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', phase: 1, attempt: 2, attemptBase: 1 });
      expect(engine.store.task(runId, 'c')).toMatchObject({ status: 'PENDING', phase: 1 });
      expect(engine.queue.messages()).toEqual([expect.objectContaining({ taskId: 'b', attempt: 2 })]);
      expect((await engine.store.runs.phaseArchives(runId)).map((summary) => summary.status)).toEqual(['FAILED']);
    });

    it('is taken over when its owner ran out of time (its budget) after moving some tasks', async () => {
      const { engine, runId } = await failedRun();
      // A budget spent at once: the first slice of tasks is moved, then the owner stops.
      await engine.runControl().resume(runId, -1);
      expect(engine.store.run(runId)).toMatchObject({ status: 'RESUMING' });
      expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'PENDING', phase: 1 });
      engine.clock.advance(engine.timings.resumeLeaseSeconds * SECOND + 1);
      await engine.runControl().takeOverResume(runId);
      expect(engine.store.run(runId)).toMatchObject({ status: 'RUNNING', phase: 1 });
      expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    });
  });
});
