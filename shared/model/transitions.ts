// The legal moves of tasks and runs, as data: each named operation with the statuses it may start
// from and the one it leads to. The store builds every condition expression from these tables
// (`#status IN (...)`), so a table here is what DynamoDB enforces; the transition graphs below are
// derived from them, never written a second time.
import { IllegalTransitionError } from './errors.js';
import type { RUN_STATUSES} from './states.js';
import { STORED_RUN_STATUSES, TASK_STATUSES, type StoredRunStatus, type TaskStatus } from './states.js';

interface Move<S extends string> {
  readonly from: readonly S[];
  readonly to: S;
}

/** Every move of a task run, by the operation that makes it. */
export const TASK_MOVES = {
  /** Its join rule is met: a message is sent to a worker. */
  queue: { from: ['PENDING'], to: 'QUEUED' },
  /** A wait task begins its wait (no worker held). */
  startWait: { from: ['PENDING'], to: 'WAITING' },
  /** A parked retry (backoff beyond SQS's 15 minutes) is due. */
  release: { from: ['WAITING'], to: 'QUEUED' },
  /** A worker takes the attempt its message names. */
  claim: { from: ['QUEUED'], to: 'RUNNING' },
  /** A worker that just finished a dependency runs the task at once, in the same invocation. */
  claimReady: { from: ['PENDING'], to: 'RUNNING' },
  succeed: { from: ['RUNNING'], to: 'SUCCEEDED' },
  fail: { from: ['RUNNING'], to: 'FAILED' },
  /** A failed attempt with retries left: the next attempt waits on the queue... */
  retry: { from: ['RUNNING'], to: 'QUEUED' },
  /** ...or, beyond SQS's longest delay, parked for the sweeper. */
  park: { from: ['RUNNING'], to: 'WAITING' },
  /** A callback task's attempt has made its request: it waits for the answer without a worker. */
  awaitCallback: { from: ['RUNNING'], to: 'WAITING' },
  /**
   * The answer to a callback (or its wait's timeout) ends the attempt, whether it came while the
   * attempt still made its request or once it waited: SUCCEEDED, FAILED, or the next attempt.
   */
  answerCallback: { from: ['RUNNING', 'WAITING'], to: 'SUCCEEDED' },
  /** A wait task's time has come. */
  endWait: { from: ['WAITING'], to: 'SUCCEEDED' },
  /** Its join rule can no longer be met, or its condition is false. */
  skip: { from: ['PENDING'], to: 'SKIPPED' },
  /** The run is cancelled before the task started. */
  cancel: { from: ['PENDING', 'QUEUED', 'WAITING'], to: 'CANCELLED' },
  /** The run is cancelled while the task ran: its worker saw the signal. */
  cancelRunning: { from: ['RUNNING'], to: 'CANCELLED' },
  /** SQS gave up on its message: not claimed, a lease that expired, or a wait's wake-up. */
  deadLetter: { from: ['QUEUED', 'RUNNING', 'WAITING'], to: 'FAILED' },
  /**
   * A resumed run: what did not succeed runs again, and so does a success a compensation undid.
   * PENDING too: a task that never started is moved to the new phase.
   */
  reset: { from: ['PENDING', 'FAILED', 'SKIPPED', 'CANCELLED', 'SUCCEEDED'], to: 'PENDING' },
} as const satisfies Record<string, Move<TaskStatus>>;
export type TaskMoveName = keyof typeof TASK_MOVES;

/** Every move of a run, by the operation that makes it. */
export const RUN_MOVES = {
  complete: { from: ['RUNNING'], to: 'COMPLETED' },
  fail: { from: ['RUNNING', 'CANCELLING'], to: 'FAILED' },
  requestCancel: { from: ['RUNNING'], to: 'CANCELLING' },
  cancelled: { from: ['CANCELLING'], to: 'CANCELLED' },
  compensate: { from: ['RUNNING', 'CANCELLING'], to: 'COMPENSATING' },
  compensatedToFailed: { from: ['COMPENSATING'], to: 'FAILED' },
  compensatedToCancelled: { from: ['COMPENSATING'], to: 'CANCELLED' },
  /** A FAILED or CANCELLED run starts resuming (RESUMING is shown as RUNNING). */
  resume: { from: ['FAILED', 'CANCELLED'], to: 'RESUMING' },
  resumed: { from: ['RESUMING'], to: 'RUNNING' },
} as const satisfies Record<string, Move<StoredRunStatus>>;
export type RunMoveName = keyof typeof RUN_MOVES;

function graphOf<S extends string>(statuses: readonly S[], moves: Record<string, Move<S>>): Readonly<Record<S, readonly S[]>> {
  const graph = Object.fromEntries(statuses.map((status) => [status, [] as S[]])) as Record<S, S[]>;
  for (const move of Object.values(moves)) {
    for (const from of move.from) if (from !== move.to && !graph[from].includes(move.to)) graph[from].push(move.to);
  }
  for (const status of statuses) graph[status].sort((a, b) => statuses.indexOf(a) - statuses.indexOf(b));
  return Object.freeze(graph);
}

/** Status -> the statuses it can move to (a status never moves to itself). */
export const TASK_TRANSITIONS = graphOf<TaskStatus>(TASK_STATUSES, TASK_MOVES);
export const RUN_TRANSITIONS = graphOf<StoredRunStatus>(STORED_RUN_STATUSES, RUN_MOVES);

export function canTransitionTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

export function assertTaskTransition(from: TaskStatus, to: TaskStatus): void {
  if (!canTransitionTask(from, to)) throw new IllegalTransitionError('task', from, to);
}

export function canTransitionRun(from: StoredRunStatus, to: StoredRunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

export function assertRunTransition(from: StoredRunStatus, to: StoredRunStatus): void {
  if (!canTransitionRun(from, to)) throw new IllegalTransitionError('run', from, to);
}

/** The run statuses a client sees: RESUMING is shown as RUNNING. */
export function visibleRunStatus(status: StoredRunStatus): (typeof RUN_STATUSES)[number] {
  return status === 'RESUMING' ? 'RUNNING' : status;
}
