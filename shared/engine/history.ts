// A run's history: every event in order, across every phase of the run. Built from what the items
// hold (each task's finished attempts, kept on the task and in its archive; the run's own times)
// and from what a resume archived of the phases it ended (their cancel request, the tasks that
// ended without an attempt, how the phase ended), so that nothing of an earlier phase is lost.
import type { TaskError } from '../model/task-error.js';
import { compensatedTaskId } from './compensation.js';
import type { AttemptRecord, PhaseSummary, RunRecord, TaskRecord } from './records.js';

export interface HistoryEvent {
  at: string;
  type:
    | 'RunStarted'
    | 'RunResumed'
    | 'RunCancelRequested'
    | 'RunCompensating'
    | 'RunCompleted'
    | 'RunFailed'
    | 'RunCancelled'
    | 'TaskQueued'
    | 'TaskWaiting'
    | 'TaskStarted'
    | 'TaskSucceeded'
    | 'TaskFailed'
    | 'TaskRetried'
    | 'TaskTimedOut'
    | 'TaskSkipped'
    | 'TaskCancelled';
  /** The run's phase the event belongs to (0, then one more per resume). */
  phase: number;
  taskId?: string;
  attempt?: number;
  durationMs?: number;
  error?: TaskError;
  reason?: string;
}

const ATTEMPT_EVENT = {
  SUCCEEDED: 'TaskSucceeded',
  FAILED: 'TaskFailed',
  RETRIED: 'TaskRetried',
  TIMED_OUT: 'TaskTimedOut',
  CANCELLED: 'TaskCancelled',
} as const;

const RUN_END_EVENT = { COMPLETED: 'RunCompleted', FAILED: 'RunFailed', CANCELLED: 'RunCancelled' } as const;

export interface HistorySource {
  run: RunRecord;
  tasks: readonly TaskRecord[];
  /** Attempts moved off task items (their lists are bounded). */
  archivedAttempts: ReadonlyArray<{ taskId: string; attempts: readonly AttemptRecord[] }>;
  /** What resumes kept of the phases they ended. */
  phases: readonly PhaseSummary[];
  /** The order tasks are listed in at the same instant (the definition's). */
  order: ReadonlyMap<string, number>;
}

/** The run's history, oldest first. */
export function runHistory({ run, tasks, archivedAttempts, phases, order }: HistorySource): HistoryEvent[] {
  const events: HistoryEvent[] = [{ at: run.createdAt, type: 'RunStarted', phase: 0 }];
  for (const summary of [...phases].sort((a, b) => a.phase - b.phase)) {
    if (summary.phase > 0) events.push({ at: summary.startedAt, type: 'RunResumed', phase: summary.phase });
    if (summary.cancel !== undefined) events.push({ at: summary.cancel.requestedAt, type: 'RunCancelRequested', phase: summary.phase, reason: summary.cancel.reason });
    for (const ended of summary.ended) {
      events.push({ at: ended.at, type: ended.status === 'SKIPPED' ? 'TaskSkipped' : 'TaskCancelled', phase: summary.phase, taskId: ended.taskId, ...(ended.reason === undefined ? {} : { reason: ended.reason }) });
    }
    if (summary.completedAt !== undefined && (summary.status === 'COMPLETED' || summary.status === 'FAILED' || summary.status === 'CANCELLED')) {
      events.push({ at: summary.completedAt, type: RUN_END_EVENT[summary.status], phase: summary.phase, ...(summary.error === undefined ? {} : { error: summary.error }) });
    }
  }
  if (run.phase > 0 && !phases.some((summary) => summary.phase === run.phase) && run.resumedAt !== undefined) {
    events.push({ at: run.resumedAt, type: 'RunResumed', phase: run.phase });
  }
  if (run.cancel !== undefined) events.push({ at: run.cancel.requestedAt, type: 'RunCancelRequested', phase: run.phase, reason: run.cancel.reason });

  const attemptsOf = new Map<string, AttemptRecord[]>();
  for (const { taskId, attempts } of archivedAttempts) attemptsOf.set(taskId, [...(attemptsOf.get(taskId) ?? []), ...attempts]);
  const rank = (taskId: string) => order.get(compensatedTaskId(taskId) ?? taskId) ?? 0;
  for (const task of [...tasks].sort((a, b) => rank(a.taskId) - rank(b.taskId))) {
    const { taskId } = task;
    // An attempt is listed once, whether it is on the item, in the archive, or (after a retried move) both.
    const seen = new Set<string>();
    for (const attempt of [...(attemptsOf.get(taskId) ?? []), ...task.attempts]) {
      const key = `${attempt.attempt}/${attempt.startedAt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      events.push({ at: attempt.startedAt, type: 'TaskStarted', phase: attempt.phase, taskId, attempt: attempt.attempt });
      events.push({
        at: attempt.completedAt,
        type: ATTEMPT_EVENT[attempt.outcome],
        phase: attempt.phase,
        taskId,
        attempt: attempt.attempt,
        durationMs: attempt.durationMs,
        ...(attempt.error === undefined ? {} : { error: attempt.error }),
      });
    }
    if (task.queuedAt !== undefined && (task.status === 'QUEUED' || task.status === 'RUNNING')) {
      events.push({ at: task.queuedAt, type: 'TaskQueued', phase: task.phase, taskId, attempt: task.attempt });
    }
    if (task.status === 'WAITING' && task.queuedAt !== undefined) {
      events.push({ at: task.queuedAt, type: 'TaskWaiting', phase: task.phase, taskId, attempt: task.attempt });
    }
    if (task.status === 'RUNNING' && task.startedAt !== undefined) {
      events.push({ at: task.startedAt, type: 'TaskStarted', phase: task.phase, taskId, attempt: task.attempt });
    }
    const endedWithAttempt = task.attempts.some((attempt) => attempt.attempt === task.attempt && attempt.phase === task.phase);
    if (task.completedAt !== undefined && !endedWithAttempt && (task.status === 'SKIPPED' || task.status === 'CANCELLED')) {
      events.push({ at: task.completedAt, type: task.status === 'SKIPPED' ? 'TaskSkipped' : 'TaskCancelled', phase: task.phase, taskId, ...(task.reason === undefined ? {} : { reason: task.reason }) });
    }
  }
  if (run.status === 'COMPENSATING') events.push({ at: run.updatedAt, type: 'RunCompensating', phase: run.phase });
  if (run.completedAt !== undefined && (run.status === 'COMPLETED' || run.status === 'FAILED' || run.status === 'CANCELLED')) {
    events.push({ at: run.completedAt, type: RUN_END_EVENT[run.status], phase: run.phase, ...(run.error === undefined ? {} : { error: run.error }) });
  }
  // Stable: events at the same instant keep the order in which they were listed.
  return events
    .map((event, i) => ({ event, i }))
    .sort((a, b) => a.event.at.localeCompare(b.event.at) || a.i - b.i)
    .map(({ event }) => event);
}
