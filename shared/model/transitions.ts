// The legal moves of tasks and runs, as data. The store turns `taskStatusesThatCanMoveTo` into
// condition expressions, so a table here is what DynamoDB enforces; the assert functions are for
// code paths that decide a move in memory before writing it.
import { IllegalTransitionError } from './errors.js';
import { RUN_STATUSES, TASK_STATUSES, type RunStatus, type TaskStatus } from './states.js';

// No status may move to itself: a redelivered event that finds the work already done is a
// no-op for its caller to recognize, never a transition.
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = Object.freeze({
  PENDING: ['QUEUED', 'WAITING', 'SKIPPED', 'CANCELLED'],
  // FAILED here is a message dead-lettered before any worker claimed it.
  QUEUED: ['RUNNING', 'CANCELLED', 'FAILED'],
  // WAITING is a parked task: a wait task or a retry whose backoff is beyond SQS's 15 minutes.
  WAITING: ['QUEUED', 'CANCELLED', 'SKIPPED'],
  // QUEUED and WAITING are retries (attempt + 1), short and long backoff.
  RUNNING: ['SUCCEEDED', 'FAILED', 'QUEUED', 'WAITING', 'CANCELLED'],
  SUCCEEDED: [],
  // A resumed run puts what did not succeed back to PENDING; what succeeded is kept.
  FAILED: ['PENDING'],
  SKIPPED: ['PENDING'],
  CANCELLED: ['PENDING'],
});

export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = Object.freeze({
  RUNNING: ['COMPLETED', 'FAILED', 'CANCELLING', 'COMPENSATING', 'CANCELLED'],
  CANCELLING: ['CANCELLED', 'COMPENSATING'],
  COMPENSATING: ['FAILED', 'CANCELLED'],
  COMPLETED: [],
  // Resume.
  FAILED: ['RUNNING'],
  CANCELLED: ['RUNNING'],
});

export function canTransitionTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

export function assertTaskTransition(from: TaskStatus, to: TaskStatus): void {
  if (!canTransitionTask(from, to)) throw new IllegalTransitionError('task', from, to);
}

export function canTransitionRun(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

export function assertRunTransition(from: RunStatus, to: RunStatus): void {
  if (!canTransitionRun(from, to)) throw new IllegalTransitionError('run', from, to);
}

/** The statuses a task may be in for a move to `to` to be legal, in TASK_STATUSES order. */
export function taskStatusesThatCanMoveTo(to: TaskStatus): TaskStatus[] {
  return TASK_STATUSES.filter((from) => canTransitionTask(from, to));
}

/** The statuses a run may be in for a move to `to` to be legal, in RUN_STATUSES order. */
export function runStatusesThatCanMoveTo(to: RunStatus): RunStatus[] {
  return RUN_STATUSES.filter((from) => canTransitionRun(from, to));
}
