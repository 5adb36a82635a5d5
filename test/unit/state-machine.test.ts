import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../shared/model/errors.js';
import {
  RUN_TRANSITIONS,
  TASK_TRANSITIONS,
  assertRunTransition,
  assertTaskTransition,
  canTransitionRun,
  canTransitionTask,
  runStatusesThatCanMoveTo,
  taskStatusesThatCanMoveTo,
} from '../../shared/model/transitions.js';
import {
  FINAL_RUN_STATUSES,
  FINAL_TASK_STATUSES,
  RUN_STATUSES,
  TASK_STATUSES,
  type RunStatus,
  type TaskStatus,
} from '../../shared/model/states.js';

function reachableFrom<S extends string>(start: S, table: Readonly<Record<S, readonly S[]>>): Set<S> {
  const seen = new Set<S>([start]);
  const pending = [start];
  while (pending.length > 0) {
    for (const next of table[pending.pop() as S]) {
      if (!seen.has(next)) {
        seen.add(next);
        pending.push(next);
      }
    }
  }
  return seen;
}

describe('task transitions', () => {
  it('follow the happy path PENDING -> QUEUED -> RUNNING -> SUCCEEDED', () => {
    expect(canTransitionTask('PENDING', 'QUEUED')).toBe(true);
    expect(canTransitionTask('QUEUED', 'RUNNING')).toBe(true);
    expect(canTransitionTask('RUNNING', 'SUCCEEDED')).toBe(true);
  });

  it('retry a RUNNING task by queueing it again or parking it as WAITING', () => {
    expect(canTransitionTask('RUNNING', 'QUEUED')).toBe(true);
    expect(canTransitionTask('RUNNING', 'WAITING')).toBe(true);
    expect(canTransitionTask('WAITING', 'QUEUED')).toBe(true);
  });

  it('fail a QUEUED task whose message was dead-lettered', () => {
    expect(canTransitionTask('QUEUED', 'FAILED')).toBe(true);
  });

  it('never move a SUCCEEDED task, and put the other final tasks back to PENDING on resume', () => {
    expect(TASK_TRANSITIONS.SUCCEEDED).toEqual([]);
    for (const status of ['FAILED', 'SKIPPED', 'CANCELLED'] as const) expect(TASK_TRANSITIONS[status]).toEqual(['PENDING']);
  });

  it('refuse a move to the same status, and skipping the queue', () => {
    for (const status of TASK_STATUSES) expect(canTransitionTask(status, status)).toBe(false);
    expect(canTransitionTask('PENDING', 'RUNNING')).toBe(false);
    expect(canTransitionTask('PENDING', 'SUCCEEDED')).toBe(false);
    expect(canTransitionTask('SKIPPED', 'QUEUED')).toBe(false);
  });

  it('throw IllegalTransitionError naming both statuses', () => {
    expect(() => assertTaskTransition('SUCCEEDED', 'FAILED')).toThrow(IllegalTransitionError);
    expect(() => assertTaskTransition('SUCCEEDED', 'FAILED')).toThrow('task cannot go from SUCCEEDED to FAILED');
    expect(() => assertTaskTransition('QUEUED', 'RUNNING')).not.toThrow();
  });

  it('agree with the table for every pair', () => {
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES) {
        const legal = TASK_TRANSITIONS[from].includes(to);
        expect(canTransitionTask(from, to)).toBe(legal);
        if (legal) expect(() => assertTaskTransition(from, to)).not.toThrow();
        else expect(() => assertTaskTransition(from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it('reach every status from PENDING and a final status from every status', () => {
    expect(reachableFrom<TaskStatus>('PENDING', TASK_TRANSITIONS)).toEqual(new Set(TASK_STATUSES));
    for (const status of TASK_STATUSES) {
      expect([...reachableFrom<TaskStatus>(status, TASK_TRANSITIONS)].some((s) => FINAL_TASK_STATUSES.has(s))).toBe(true);
    }
  });
});

describe('taskStatusesThatCanMoveTo', () => {
  it('lists the statuses a conditional write may start from', () => {
    expect(taskStatusesThatCanMoveTo('QUEUED')).toEqual(['PENDING', 'WAITING', 'RUNNING']);
    expect(taskStatusesThatCanMoveTo('PENDING')).toEqual(['FAILED', 'SKIPPED', 'CANCELLED']);
    expect(taskStatusesThatCanMoveTo('SKIPPED')).toEqual(['PENDING', 'WAITING']);
    expect(taskStatusesThatCanMoveTo('SUCCEEDED')).toEqual(['RUNNING']);
    expect(taskStatusesThatCanMoveTo('CANCELLED')).toEqual(['PENDING', 'QUEUED', 'WAITING', 'RUNNING']);
  });
});

describe('run transitions', () => {
  it('end a RUNNING run as COMPLETED, FAILED or CANCELLED, maybe through CANCELLING or COMPENSATING', () => {
    expect(RUN_TRANSITIONS.RUNNING).toEqual(['COMPLETED', 'FAILED', 'CANCELLING', 'COMPENSATING', 'CANCELLED']);
    expect(canTransitionRun('CANCELLING', 'COMPENSATING')).toBe(true);
    expect(canTransitionRun('COMPENSATING', 'FAILED')).toBe(true);
    expect(canTransitionRun('COMPENSATING', 'COMPLETED')).toBe(false);
  });

  it('resume a FAILED or CANCELLED run, never a COMPLETED one', () => {
    expect(canTransitionRun('FAILED', 'RUNNING')).toBe(true);
    expect(canTransitionRun('CANCELLED', 'RUNNING')).toBe(true);
    expect(() => assertRunTransition('COMPLETED', 'RUNNING')).toThrow('run cannot go from COMPLETED to RUNNING');
  });

  it('agree with the table for every pair', () => {
    for (const from of RUN_STATUSES) {
      for (const to of RUN_STATUSES) {
        expect(canTransitionRun(from, to)).toBe(RUN_TRANSITIONS[from].includes(to));
      }
    }
  });

  it('reach a final status from every status', () => {
    for (const status of RUN_STATUSES) {
      expect([...reachableFrom<RunStatus>(status, RUN_TRANSITIONS)].some((s) => FINAL_RUN_STATUSES.has(s))).toBe(true);
    }
    expect(runStatusesThatCanMoveTo('CANCELLED')).toEqual(['RUNNING', 'CANCELLING', 'COMPENSATING']);
  });
});
