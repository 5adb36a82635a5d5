import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../shared/model/errors.js';
import {
  RUN_MOVES,
  RUN_TRANSITIONS,
  TASK_MOVES,
  TASK_TRANSITIONS,
  assertRunTransition,
  assertTaskTransition,
  canTransitionRun,
  canTransitionTask,
  visibleRunStatus,
} from '../../shared/model/transitions.js';
import {
  FINAL_RUN_STATUSES,
  FINAL_TASK_STATUSES,
  STORED_RUN_STATUSES,
  TASK_STATUSES,
  type StoredRunStatus,
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

describe('task moves', () => {
  it('follow the happy path PENDING -> QUEUED -> RUNNING -> SUCCEEDED', () => {
    expect(TASK_MOVES.queue).toEqual({ from: ['PENDING'], to: 'QUEUED' });
    expect(TASK_MOVES.claim).toEqual({ from: ['QUEUED'], to: 'RUNNING' });
    expect(TASK_MOVES.succeed).toEqual({ from: ['RUNNING'], to: 'SUCCEEDED' });
  });

  it('let a worker run a task it just made ready, with no queue in between', () => {
    expect(TASK_MOVES.claimReady).toEqual({ from: ['PENDING'], to: 'RUNNING' });
  });

  it('retry a RUNNING task by queueing it again or parking it as WAITING', () => {
    expect(TASK_MOVES.retry).toEqual({ from: ['RUNNING'], to: 'QUEUED' });
    expect(TASK_MOVES.park).toEqual({ from: ['RUNNING'], to: 'WAITING' });
    expect(TASK_MOVES.release).toEqual({ from: ['WAITING'], to: 'QUEUED' });
  });

  it('dead-letter only an attempt no worker holds (the store adds the lease condition for RUNNING)', () => {
    expect(TASK_MOVES.deadLetter.from).toEqual(['QUEUED', 'RUNNING', 'WAITING']);
    expect(TASK_MOVES.deadLetter.to).toBe('FAILED');
  });

  it('decide a PENDING task only: queue, wait, claim at once or skip', () => {
    for (const move of [TASK_MOVES.queue, TASK_MOVES.startWait, TASK_MOVES.claimReady, TASK_MOVES.skip]) expect(move.from).toEqual(['PENDING']);
  });
});

describe('task transitions (derived from the moves)', () => {
  it('never move a SUCCEEDED task but to run it again after a resume, and put the other final tasks back to PENDING', () => {
    expect(TASK_TRANSITIONS.SUCCEEDED).toEqual(['PENDING']);
    for (const status of ['FAILED', 'SKIPPED', 'CANCELLED'] as const) expect(TASK_TRANSITIONS[status]).toEqual(['PENDING']);
  });

  it('are exactly the union of the moves', () => {
    const expected = new Set(Object.values(TASK_MOVES).flatMap((move) => move.from.filter((from) => from !== move.to).map((from) => `${from}->${move.to}`)));
    const actual = new Set(TASK_STATUSES.flatMap((from) => TASK_TRANSITIONS[from].map((to) => `${from}->${to}`)));
    expect(actual).toEqual(expected);
  });

  it('refuse a move to the same status, and skipping straight to a result', () => {
    for (const status of TASK_STATUSES) expect(canTransitionTask(status, status)).toBe(false);
    expect(canTransitionTask('PENDING', 'SUCCEEDED')).toBe(false);
    expect(canTransitionTask('SKIPPED', 'QUEUED')).toBe(false);
    expect(canTransitionTask('QUEUED', 'SUCCEEDED')).toBe(false);
  });

  it('throw IllegalTransitionError naming both statuses', () => {
    expect(() => assertTaskTransition('SUCCEEDED', 'FAILED')).toThrow(IllegalTransitionError);
    expect(() => assertTaskTransition('SUCCEEDED', 'FAILED')).toThrow('task cannot go from SUCCEEDED to FAILED');
    expect(() => assertTaskTransition('QUEUED', 'RUNNING')).not.toThrow();
  });

  it('reach every status from PENDING and a final status from every status', () => {
    expect(reachableFrom<TaskStatus>('PENDING', TASK_TRANSITIONS)).toEqual(new Set(TASK_STATUSES));
    for (const status of TASK_STATUSES) {
      expect([...reachableFrom<TaskStatus>(status, TASK_TRANSITIONS)].some((s) => FINAL_TASK_STATUSES.has(s))).toBe(true);
    }
  });
});

describe('run moves and transitions', () => {
  it('end a RUNNING run as COMPLETED, FAILED or CANCELLED, maybe through CANCELLING or COMPENSATING', () => {
    expect(RUN_TRANSITIONS.RUNNING).toEqual(['CANCELLING', 'COMPENSATING', 'COMPLETED', 'FAILED']);
    expect(canTransitionRun('CANCELLING', 'COMPENSATING')).toBe(true);
    expect(canTransitionRun('COMPENSATING', 'FAILED')).toBe(true);
    expect(canTransitionRun('COMPENSATING', 'COMPLETED')).toBe(false);
  });

  it('resume a FAILED or CANCELLED run through RESUMING, never a COMPLETED one', () => {
    expect(RUN_MOVES.resume).toEqual({ from: ['FAILED', 'CANCELLED'], to: 'RESUMING' });
    expect(canTransitionRun('RESUMING', 'RUNNING')).toBe(true);
    expect(() => assertRunTransition('COMPLETED', 'RESUMING')).toThrow('run cannot go from COMPLETED to RESUMING');
  });

  it('show RESUMING as RUNNING', () => {
    expect(visibleRunStatus('RESUMING')).toBe('RUNNING');
    expect(visibleRunStatus('CANCELLING')).toBe('CANCELLING');
  });

  it('reach a final status from every status', () => {
    for (const status of STORED_RUN_STATUSES) {
      expect([...reachableFrom<StoredRunStatus>(status, RUN_TRANSITIONS)].some((s) => FINAL_RUN_STATUSES.has(s))).toBe(true);
    }
  });
});
