// The Sweeper on the in-memory ports, with the clock moved by hand: what nothing else will move.
import { describe, expect, it } from 'vitest';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { TaskMessage } from '../../../shared/engine/messages.js';
import type { DueRef } from '../../../shared/engine/ports.js';
import { Engine } from '../support/engine.js';

const SECOND = 1_000;

async function started(input: WorkflowDefinitionInput, runId = 'run-1') {
  const engine = new Engine();
  const definition = await engine.define(input);
  await engine.start(definition, {}, runId);
  engine.queue.take();
  /** The message of a task's first attempt (the queue was emptied above). */
  const firstMessage = (taskId: string): TaskMessage => ({ runId, taskId, attempt: 1, workflowId: definition.workflowId, version: definition.version });
  return { engine, definition, runId, firstMessage };
}

/** Claims the QUEUED attempt of `taskId`, with a lease of `leaseMs`, as a worker would before it crashed. */
async function claimed(engine: Engine, runId: string, taskId: string, leaseMs: number): Promise<number> {
  const attempt = engine.store.task(runId, taskId)?.attempt ?? 0;
  const leaseExpiresAt = engine.clock.ms + leaseMs;
  const claim = await engine.store.tasks.claim({ runId, taskId, attempt, leaseToken: 'crashed-worker', leaseExpiresAt, opToken: `claim-${taskId}` });
  expect(claim.outcome).toBe('claimed');
  return leaseExpiresAt;
}

const one = (retry?: { maxRetries: number }): WorkflowDefinitionInput => ({
  id: 'one',
  tasks: [{ id: 'a', handler: 'h', timeoutSeconds: 10, ...(retry === undefined ? {} : { retry: { ...retry, initialDelaySeconds: 4, maxDelaySeconds: 4 } }) }],
});

describe('Sweeper', () => {
  describe('a RUNNING attempt whose lease ran out (its worker crashed)', () => {
    it('ends TIMED_OUT and is retried by its policy, counted as TaskRetried', async () => {
      const { engine, runId } = await started(one({ maxRetries: 2 }));
      const leaseExpiresAt = await claimed(engine, runId, 'a', 15 * SECOND);
      engine.clock.ms = Math.max(leaseExpiresAt, engine.store.task(runId, 'a')?.dueAt ?? 0) + SECOND;
      expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 1, failed: 0 });
      expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 2, error: { name: 'TimedOut', retryable: true }, attempts: [{ attempt: 1, outcome: 'TIMED_OUT' }] });
      // random() is 0.5: half of the 4 s ceiling.
      expect(engine.queue.take()).toEqual([{ message: expect.objectContaining({ taskId: 'a', attempt: 2 }), delaySeconds: 2 }]);
      expect(engine.metricNames()).toContain('TaskRetried');
      expect(engine.metricNames()).not.toContain('TaskFailed');
    });

    it('ends FAILED without retries, counted as TaskFailed', async () => {
      const { engine, runId } = await started(one());
      const leaseExpiresAt = await claimed(engine, runId, 'a', 15 * SECOND);
      engine.clock.ms = Math.max(leaseExpiresAt, engine.store.task(runId, 'a')?.dueAt ?? 0) + SECOND;
      expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 1 });
      expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'TimedOut' }, attempts: [{ outcome: 'FAILED' }] });
      expect(engine.queue.sent).toEqual([]);
      expect(engine.metricNames()).toContain('TaskFailed');
      // The failed task keeps its due entry: the next sweep may read it once more (within the
      // mark's lag), and none after that.
      const reads = () => engine.store.calls.filter((call) => call.operation === 'tasks.getTask').length;
      engine.clock.advance(60 * SECOND);
      expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 0, failed: 0 });
      const before = reads();
      engine.clock.advance(60 * SECOND);
      expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 0, failed: 0 });
      expect(reads()).toBe(before);
    });
  });

  it('defers an attempt whose lease is still alive (a heartbeat moved it on) to the lease end', async () => {
    const { engine, runId } = await started(one({ maxRetries: 2 }));
    const dueAt = engine.store.task(runId, 'a')?.dueAt ?? 0;
    // Claimed late, with a lease that outlives the delivery's due time.
    engine.clock.ms = dueAt - SECOND;
    const leaseExpiresAt = await claimed(engine, runId, 'a', 60 * SECOND);
    engine.clock.ms = dueAt + SECOND;
    expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 0, failed: 0 });
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'RUNNING', attempt: 1, dueAt: leaseExpiresAt });
    expect(engine.queue.sent).toEqual([]);
  });

  it('re-sends the message of a QUEUED task past its due time, once', async () => {
    const { engine, runId } = await started(one());
    const dueAt = engine.store.task(runId, 'a')?.dueAt ?? 0;
    engine.clock.ms = dueAt - 1;
    expect((await engine.sweeper().sweep()).resent).toBe(0);
    engine.clock.ms = dueAt + SECOND;
    const sweeper = engine.sweeper();
    expect((await sweeper.sweep()).resent).toBe(1);
    expect((await sweeper.sweep()).resent).toBe(0);
    expect((await engine.sweeper().sweep()).resent).toBe(0);
    expect(engine.queue.messages()).toEqual([expect.objectContaining({ runId, taskId: 'a', attempt: 1 })]);
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(engine.store.task(runId, 'a')?.dueAt).toBeGreaterThan(engine.clock.ms);
  });

  it('moves a mark only in a partition where something was due: an idle sweep writes nothing', async () => {
    const { engine, runId } = await started(one());
    const dueAt = engine.store.task(runId, 'a')?.dueAt ?? 0;
    engine.clock.ms = dueAt - 1;
    await engine.sweeper().sweep();
    expect(engine.store.sweepMarks).toEqual({});
    engine.clock.ms = dueAt + SECOND;
    expect((await engine.sweeper().sweep()).resent).toBe(1);
    // Only the task's partition (P1: an odd-length id) moved on; the other had nothing due.
    expect(engine.store.sweepMarks).toEqual({ P1: engine.clock.ms - engine.timings.sweepMarkLagSeconds * SECOND });
    const marks = { ...engine.store.sweepMarks };
    engine.clock.ms += 10 * SECOND;
    await engine.sweeper().sweep();
    expect(engine.store.sweepMarks).toEqual(marks);
  });

  it('re-sends it once however many sweepers overlap (the due time moves on conditionally)', async () => {
    const { engine, runId } = await started(one());
    engine.clock.ms = (engine.store.task(runId, 'a')?.dueAt ?? 0) + SECOND;
    const reports = await Promise.all([engine.sweeper().sweep(), engine.sweeper().sweep(), engine.sweeper().sweep()]);
    expect(reports.map((report) => report.resent).reduce((a, b) => a + b)).toBe(1);
    expect(engine.queue.messages()).toHaveLength(1);
  });

  it('releases a retry parked beyond SQS delays once it is due', async () => {
    const { engine, runId, firstMessage } = await started({ id: 'slow', tasks: [{ id: 'a', handler: 'h', retry: { maxRetries: 3, initialDelaySeconds: 3_600, maxDelaySeconds: 3_600 } }] });
    const worker = engine.worker({
      h: async () => {
        throw new Error('later');
      },
    });
    // random() is 0.5: a backoff of 1,800 s, beyond SQS's 900: parked WAITING, no message.
    expect(await worker.process(firstMessage('a'))).toBe('retrying');
    const parked = engine.store.task(runId, 'a');
    expect(parked).toMatchObject({ status: 'WAITING', attempt: 2, wakeAt: engine.clock.ms + 1_800 * SECOND });
    expect(engine.queue.messages().filter((message) => message.attempt === 2)).toEqual([]);

    engine.clock.ms = (parked?.wakeAt ?? 0) - SECOND;
    expect((await engine.sweeper().sweep()).released).toBe(0);
    engine.clock.ms = (parked?.wakeAt ?? 0) + SECOND;
    expect((await engine.sweeper().sweep()).released).toBe(1);
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect(engine.store.task(runId, 'a')?.wakeAt).toBeUndefined();
    expect(engine.queue.messages().filter((message) => message.attempt === 2)).toEqual([expect.objectContaining({ taskId: 'a', attempt: 2 })]);
  });

  it("re-sends a wait task's lost wake-up, with notBefore", async () => {
    const { engine, runId } = await started({ id: 'nap', tasks: [{ id: 'nap', type: 'wait', seconds: 300 }] });
    const waiting = engine.store.task(runId, 'nap');
    expect(waiting).toMatchObject({ status: 'WAITING', wakeAt: engine.clock.ms + 300 * SECOND });
    engine.clock.ms = (waiting?.dueAt ?? 0) + SECOND;
    expect((await engine.sweeper().sweep()).released).toBe(1);
    expect(engine.queue.take()).toEqual([{ message: expect.objectContaining({ taskId: 'nap', attempt: 1, notBefore: waiting?.wakeAt }), delaySeconds: 0 }]);
    expect(engine.store.task(runId, 'nap')).toMatchObject({ status: 'WAITING', attempt: 1 });
    expect(engine.store.task(runId, 'nap')?.dueAt).toBeGreaterThan(engine.clock.ms);
  });

  it('cancels a run past its deadline, which then ends FAILED', async () => {
    const { engine, runId } = await started({ id: 'deadline', timeoutSeconds: 60, tasks: [{ id: 'a', handler: 'h' }, { id: 'b', handler: 'h', dependsOn: ['a'] }] });
    expect(engine.store.run(runId)).toMatchObject({ deadlineAt: engine.clock.ms + 60 * SECOND, dueAt: engine.clock.ms + 60 * SECOND });
    await claimed(engine, runId, 'a', 600 * SECOND);
    engine.clock.advance(61 * SECOND);
    expect(await engine.sweeper().sweep()).toMatchObject({ overdueRuns: 1, failed: 0 });
    expect(engine.store.run(runId)).toMatchObject({ status: 'CANCELLING', cancel: { outcome: 'FAILED', reason: 'the run passed its deadline' } });
    expect(engine.metrics.values).toContainEqual({ name: 'OverdueRuns', value: 1 });

    // The stream does the rest: the running attempt is asked to stop, its worker records it.
    await engine.settle();
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'CANCELLED' });
    const at = engine.clock.now().toISOString();
    await engine.store.tasks.finish({
      runId,
      taskId: 'a',
      attempt: 1,
      fence: { kind: 'lease', leaseToken: 'crashed-worker' },
      record: { attempt: 1, phase: 0, startedAt: at, completedAt: at, durationMs: 0, outcome: 'CANCELLED' },
      keptAttempts: [],
      opToken: 'stopped',
      result: { status: 'CANCELLED', error: { name: 'Cancelled', message: 'run cancelled', retryable: false } },
    });
    await engine.settle();
    expect(engine.store.run(runId)).toMatchObject({ status: 'FAILED', error: { name: 'RunTimedOut' } });
  });

  it('counts an item whose handling throws as failed and puts it off; the others are handled', async () => {
    const { engine, runId } = await started({ id: 'two', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }] });
    const dueAt = engine.store.task(runId, 'b')?.dueAt ?? 0;
    engine.clock.ms = dueAt + SECOND;
    const now = engine.clock.ms;
    // b's re-send fails (its first deferDue); the put-off that follows does not.
    engine.store.fail('tasks.deferDue', { times: 1, when: (params: { taskId: string }) => params.taskId === 'b' });
    const errors: DueRef[] = [];
    const report = await engine.sweeper({ onError: (_error, item) => errors.push(item) }).sweep();
    expect(report).toMatchObject({ resent: 1, failed: 1 });
    expect(errors).toEqual([{ kind: 'task', runId, taskId: 'b', dueAt }]);
    expect(engine.queue.messages().map((message) => message.taskId)).toEqual(['a']);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', dueAt: now + 60 * SECOND });
  });

  it('keeps its mark before an item it could neither handle nor put off, and handles it in a later sweep', async () => {
    const { engine, runId } = await started({ id: 'two', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }] });
    const dueAt = engine.store.task(runId, 'b')?.dueAt ?? 0;
    engine.clock.ms = dueAt + 5 * 60 * SECOND;
    // b's re-send fails, and so does its put-off: b is left where it was.
    engine.store.fail('tasks.deferDue', { times: 2, when: (params: { taskId: string }) => params.taskId === 'b' });
    expect(await engine.sweeper().sweep()).toMatchObject({ resent: 1, failed: 1 });
    // a and b (ids of one letter) share a partition of the index.
    expect(engine.store.sweepMarks['P1']).toBe(dueAt - 1);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', dueAt });
    // Soon after (a's re-sent message is not due again yet).
    engine.clock.advance(10 * SECOND);
    expect(await engine.sweeper().sweep()).toMatchObject({ resent: 1, failed: 0 });
    expect(engine.queue.messages().map((message) => message.taskId).sort()).toEqual(['a', 'b']);
    expect(engine.store.sweepMarks['P1']).toBe(engine.clock.ms - engine.timings.sweepMarkLagSeconds * SECOND);
  });

  it('gives up holding its mark for an item that keeps failing, so that the rest of its partition goes on', async () => {
    const { engine, runId } = await started({ id: 'two', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }] });
    const dueAt = engine.store.task(runId, 'b')?.dueAt ?? 0;
    engine.clock.ms = dueAt + 5 * 60 * SECOND;
    engine.store.fail('tasks.deferDue', { when: (params: { taskId: string }) => params.taskId === 'b' });
    const sweeper = engine.sweeper();
    for (let sweep = 1; sweep < 5; sweep++) {
      await sweeper.sweep();
      expect(engine.store.sweepMarks['P1']).toBe(dueAt - 1);
    }
    expect(await sweeper.sweep()).toMatchObject({ failed: 1 });
    expect(engine.store.sweepMarks['P1']).toBe(engine.clock.ms - engine.timings.sweepMarkLagSeconds * SECOND);
  });

  it('looks again at a lease that was extended just before its expiry was written (the write lost to it)', async () => {
    const { engine, runId } = await started(one());
    const leaseExpiresAt = await claimed(engine, runId, 'a', 15 * SECOND);
    engine.clock.ms = Math.max(leaseExpiresAt, engine.store.task(runId, 'a')?.dueAt ?? 0) + SECOND;
    const extended = engine.clock.ms + 60 * SECOND;
    // The worker's late heartbeat lands between the sweeper's read and its fenced write.
    engine.store.fail('tasks.finish', {
      when: () => {
        const task = engine.store.taskItems.get(runId)?.get('a');
        if (task !== undefined) task.leaseExpiresAt = extended;
        return false;
      },
    });
    expect(await engine.sweeper().sweep()).toMatchObject({ expiredLeases: 0 });
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'RUNNING', dueAt: extended });
  });

  it('puts off a run whose check throws, and goes on with the rest', async () => {
    const { engine, runId } = await started(one());
    const runDue = engine.store.run(runId)?.dueAt ?? 0;
    engine.clock.ms = runDue + SECOND;
    const now = engine.clock.ms;
    const report = await engine.sweeper({
      reconcile: () => Promise.reject(new Error('broken run')),
    }).sweep();
    expect(report).toMatchObject({ failed: 1, resent: 1 });
    // Moved on to its next check before the check (so that one sweeper handles it): the put-off
    // finds it moved already.
    expect(engine.store.run(runId)?.dueAt).toBe(now + engine.timings.reconcileIntervalSeconds * SECOND);
  });

  it('after a restart, re-sends every QUEUED task and ends every RUNNING attempt at once', async () => {
    const { engine, runId } = await started({ id: 'two', tasks: [{ id: 'queued', type: 'pass' }, { id: 'running', handler: 'h', retry: { maxRetries: 1, initialDelaySeconds: 0, maxDelaySeconds: 0 } }] });
    await claimed(engine, runId, 'running', 600 * SECOND);
    // Nothing is due yet: a sweep does nothing, a recovery does everything.
    expect(await engine.sweeper().sweep()).toMatchObject({ resent: 0, expiredLeases: 0 });
    expect(await engine.sweeper().recoverAfterRestart()).toMatchObject({ resent: 1, expiredLeases: 1, failed: 0 });
    expect(engine.store.task(runId, 'running')).toMatchObject({ status: 'QUEUED', attempt: 2, attempts: [{ outcome: 'TIMED_OUT', error: { message: 'the engine restarted while the attempt ran' } }] });
    expect(engine.queue.messages().map((message) => `${message.taskId}#${message.attempt}`).sort()).toEqual(['queued#1', 'running#2']);
  });

  it('takes over a resume whose owner went quiet past its lease', async () => {
    const { engine, runId, firstMessage } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'broken' }] });
    await engine.worker().process(firstMessage('a'));
    await engine.settle();
    expect(engine.store.run(runId)?.status).toBe('FAILED');
    await engine.store.runs.beginResume({ runId, owner: 'dead-owner', expiresAt: engine.clock.ms + 60 * SECOND });
    const runControl = engine.runControl();
    const sweeper = engine.sweeper({ takeOverResume: (id) => runControl.takeOverResume(id) });
    engine.clock.advance(30 * SECOND);
    await sweeper.sweep();
    expect(engine.store.run(runId)?.status).toBe('RESUMING');
    engine.clock.advance(31 * SECOND);
    expect(await sweeper.sweep()).toMatchObject({ checkedRuns: 1 });
    expect(engine.store.run(runId)).toMatchObject({ status: 'RUNNING', phase: 1 });
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', phase: 1, attempt: 2 });
  });
});
