// Why a task is not running: every code explainRun gives, from records as the engine writes them.
import { describe, expect, it } from 'vitest';
import { explainRun, queuedRetryDueAt } from '../../shared/engine/explain.js';
import type { AttemptRecord, RunRecord, TaskRecord } from '../../shared/engine/records.js';
import { assertDefinition, type WorkflowDefinitionInput } from '../../shared/model/definition.js';
import { at, runRecord as run, T0, taskRecord as task } from './support/records.js';

function retried(attempt: number, outcome: AttemptRecord['outcome'] = 'RETRIED'): AttemptRecord {
  return { attempt, phase: 0, startedAt: at(0), completedAt: at(1_000), durationMs: 1_000, outcome, error: { name: 'Boom', message: 'it broke', retryable: true } };
}

function definition(tasks: WorkflowDefinitionInput['tasks']) {
  return assertDefinition({ id: 'w', tasks });
}

function explain(tasks: WorkflowDefinitionInput['tasks'], records: TaskRecord[], now: number, runRecord: RunRecord = run()) {
  return explainRun(runRecord, definition(tasks), records, T0 + now);
}

describe('explainRun', () => {
  it('names the unfinished dependencies a PENDING task waits for, and leaves final tasks out', () => {
    const why = explain(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass' },
        { id: 'c', type: 'pass', dependsOn: ['a', 'b'] },
      ],
      [task('a', 'SUCCEEDED'), task('b', 'RUNNING', { startedAt: at(0), leaseExpiresAt: T0 + 60_000 })],
      1_000,
    );
    expect(why.has('a')).toBe(false);
    expect(why.get('c')).toEqual({ code: 'waiting_for_dependencies', message: 'waiting for b (RUNNING) (1 of 2 done)', waitingFor: ['b'] });
  });

  it('before any task started: the roots are about to be queued, the others wait for them', () => {
    const why = explain(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'], when: { path: 'input.go', op: 'eq', value: true } },
      ],
      [],
      0,
    );
    expect(why.get('a')).toMatchObject({ code: 'ready', message: 'about to be queued (a root of the run)' });
    expect(why.get('b')).toMatchObject({ code: 'waiting_for_dependencies', waitingFor: ['a'] });
  });

  it('says a task whose rule is met is about to be queued, and that its condition is checked then', () => {
    const why = explain(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'], when: { path: 'input.go', op: 'eq', value: true } },
      ],
      [task('a', 'SUCCEEDED')],
      0,
    );
    expect(why.get('b')).toEqual({ code: 'ready', message: 'its trigger all_success is met: about to be queued; its when condition is checked then' });
  });

  it('says a one_success join is undecided while no finished dependency succeeded and others run', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [
      { id: 'a', type: 'pass' },
      { id: 'b', type: 'pass' },
      { id: 'c', type: 'pass', dependsOn: ['a', 'b'], trigger: 'one_success' },
    ];
    expect(explain(tasks, [task('a', 'FAILED'), task('b', 'RUNNING')], 0).get('c')).toEqual({
      code: 'join_undecided',
      message: 'trigger one_success: none of the 1 finished dependencies succeeded; waiting for b (RUNNING)',
      trigger: 'one_success',
      waitingFor: ['b'],
    });
    // With none finished yet, it simply waits for them.
    expect(explain(tasks, [task('a', 'RUNNING'), task('b', 'QUEUED')], 0).get('c')).toMatchObject({ code: 'waiting_for_dependencies', waitingFor: ['a', 'b'] });
  });

  it('says which tasks will be skipped, transitively, and that an all_done task after them will run', () => {
    const why = explain(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
        { id: 'c', type: 'pass', dependsOn: ['b'] },
        { id: 'cleanup', type: 'pass', dependsOn: ['c'], trigger: 'all_done' },
      ],
      [task('a', 'FAILED')],
      0,
    );
    expect(why.get('b')).toEqual({ code: 'will_be_skipped', message: 'will be skipped: upstream a FAILED, so its trigger all_success cannot be met', reason: 'upstream a FAILED' });
    expect(why.get('c')).toMatchObject({ code: 'will_be_skipped', reason: 'upstream b SKIPPED' });
    expect(why.get('cleanup')).toMatchObject({ code: 'ready' });
  });

  describe('retries', () => {
    const flaky: WorkflowDefinitionInput['tasks'] = [{ id: 'a', type: 'pass', timeoutSeconds: 10, retry: { maxRetries: 3, initialDelaySeconds: 8, maxDelaySeconds: 8 } }];
    // Lease 10 s + 30 s grace: the delivery window is 40 s (under the 300 s delivery grace).
    const queuedRetry = task('a', 'QUEUED', { attempt: 2, attempts: [retried(1)], queuedAt: at(1_000), dueAt: T0 + 1_000 + 5_000 + 40_000, error: { name: 'Boom', message: 'it broke', retryable: true } });

    it('finds a queued retry\'s due time from its delivery deadline', () => {
      expect(queuedRetryDueAt(definition(flaky).tasks[0]!, queuedRetry)).toBe(T0 + 6_000);
      expect(explain(flaky, [queuedRetry], 2_000).get('a')).toEqual({
        code: 'retry_at',
        message: `attempt 1 failed (Boom: it broke); attempt 2 is held back by its backoff until ${at(6_000)}`,
        attempt: 2,
        at: at(6_000),
      });
    });

    it('once the backoff is over, the retry is queued since its due time', () => {
      expect(explain(flaky, [queuedRetry], 7_000).get('a')).toMatchObject({ code: 'queued', attempt: 2, since: at(6_000) });
    });

    it('a deadline the backoff cannot explain was moved on by a resend: the retry was due long ago', () => {
      const resent = { ...queuedRetry, dueAt: T0 + 400_000 };
      expect(queuedRetryDueAt(definition(flaky).tasks[0]!, resent)).toBe(T0 + 1_000);
      expect(explain(flaky, [resent], 100_000).get('a')).toMatchObject({ code: 'queued', since: at(1_000), stuck: true });
    });

    it('a first attempt, or a task queued again by a resume, is no retry', () => {
      expect(queuedRetryDueAt(definition(flaky).tasks[0]!, task('a', 'QUEUED', { queuedAt: at(0), dueAt: T0 + 40_000 }))).toBeUndefined();
      const resumed = task('a', 'QUEUED', { phase: 1, attempt: 2, attemptBase: 1, attempts: [retried(1)], queuedAt: at(0), dueAt: T0 + 40_000 });
      expect(queuedRetryDueAt(definition(flaky).tasks[0]!, resumed)).toBeUndefined();
    });

    it('a retry parked beyond SQS\'s delay waits until its wakeAt, then the sweeper queues it', () => {
      const parked = task('a', 'WAITING', { attempt: 3, attempts: [retried(1), retried(2, 'TIMED_OUT')], wakeAt: T0 + 3_600_000, dueAt: T0 + 3_600_000 });
      expect(explain(flaky, [parked], 0).get('a')).toEqual({
        code: 'retry_at',
        message: `attempt 2 timed out (Boom: it broke); attempt 3 is parked until ${at(3_600_000)} (a backoff longer than SQS's delay)`,
        attempt: 3,
        at: at(3_600_000),
      });
      expect(explain(flaky, [parked], 3_610_000).get('a')).toMatchObject({ code: 'retry_at', message: expect.stringContaining('the sweeper queues it on its next sweep') });
      expect(explain(flaky, [parked], 3_610_000).get('a')).not.toHaveProperty('stuck');
      expect(explain(flaky, [parked], 4_000_000).get('a')).toMatchObject({ code: 'retry_at', stuck: true });
    });
  });

  it('says until when a wait task sleeps, and when its wake-up is late', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [{ id: 'nap', type: 'wait', seconds: 60 }];
    const waiting = task('nap', 'WAITING', { startedAt: at(0), wakeAt: T0 + 60_000, dueAt: T0 + 360_000 });
    expect(explain(tasks, [waiting], 1_000).get('nap')).toEqual({ code: 'waiting_until', message: `a wait task, sleeping until ${at(60_000)}`, at: at(60_000) });
    expect(explain(tasks, [waiting], 61_000).get('nap')).toMatchObject({ code: 'waiting_until', message: expect.stringContaining('its wake-up ends it') });
    expect(explain(tasks, [waiting], 400_000).get('nap')).toMatchObject({ code: 'waiting_until', stuck: true, message: expect.stringContaining('the sweeper sends it again') });
  });

  it('says since when a task is queued unclaimed, and that it looks stuck past the delivery window', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [{ id: 'a', type: 'pass' }];
    const queued = task('a', 'QUEUED', { queuedAt: at(0), dueAt: T0 + 300_000 });
    expect(explain(tasks, [queued], 5_000).get('a')).toEqual({
      code: 'queued',
      message: `attempt 1 queued since ${at(0)}, not claimed by a worker yet: check the queue depth and the worker concurrency`,
      attempt: 1,
      since: at(0),
    });
    const stuck = explain(tasks, [queued], 301_000).get('a');
    expect(stuck).toMatchObject({ code: 'queued', since: at(0), stuck: true });
    expect(stuck?.message).toContain('over the delivery grace of 300 s');
    expect(stuck?.message).toContain('the sweeper sends its message again');
  });

  it('gives a running attempt\'s number, start and lease, and says when its lease ran out', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [{ id: 'a', type: 'pass' }];
    const running = task('a', 'RUNNING', { attempt: 2, attempts: [retried(1)], startedAt: at(10_000), leaseExpiresAt: T0 + 340_000 });
    expect(explain(tasks, [running], 15_000).get('a')).toEqual({
      code: 'running',
      message: `attempt 2 running since ${at(10_000)} (5 s), leased until ${at(340_000)}`,
      attempt: 2,
      since: at(10_000),
      leaseUntil: at(340_000),
    });
    expect(explain(tasks, [running], 350_000).get('a')).toMatchObject({ code: 'running', stuck: true, message: expect.stringContaining('looks crashed or stalled') });
  });

  it('lets the run explain its tasks while it is cancelled, compensated, resumed or ended', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [
      { id: 'a', type: 'pass' },
      { id: 'b', type: 'pass', dependsOn: ['a'] },
    ];
    const records = [task('a', 'RUNNING', { startedAt: at(0), cancelRequested: true })];
    const cancelling = explain(tasks, records, 0, run('CANCELLING'));
    expect(cancelling.get('a')).toEqual({ code: 'run_cancelling', message: 'the run is being cancelled: attempt 1 was asked to stop (its ctx.signal fires) and ends CANCELLED' });
    expect(cancelling.get('b')).toEqual({ code: 'run_cancelling', message: 'the run is being cancelled: this task ends CANCELLED without running' });
    const compensating = explain(tasks, records, 0, run('COMPENSATING', { compensation: { outcome: 'CANCELLED', tasks: [] } }));
    expect(compensating.get('b')).toMatchObject({ code: 'run_compensating', message: expect.stringContaining('it will end CANCELLED') });
    expect(explain(tasks, [], 0, run('RESUMING')).get('b')).toMatchObject({ code: 'run_resuming' });
    expect(explain(tasks, [], 0, run('FAILED')).get('b')).toEqual({
      code: 'run_ended',
      message: 'the run ended FAILED: this task will not run unless the run is resumed (POST /runs/{runId}/retry)',
    });
  });
});
