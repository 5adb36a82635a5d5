// What a client can do to a run once it is started: cancel it, resume it after a failure, and
// read its history. The API calls these; the scheduler and workers do the rest through the
// stream (a cancelled run's tasks are stopped, a resumed run's ready tasks are queued).
import { compensatedTaskId } from './compensation.js';
import type { DefinitionCache } from './definition-cache.js';
import { ConflictError, NotFoundError } from '../model/errors.js';
import type { DynamoStore, RunWithTasks, StoredDefinition, TaskError } from '../aws/dynamo/store.js';

export async function cancelRun(store: DynamoStore, runId: string, reason = 'cancelled by request'): Promise<{ runId: string; status: 'CANCELLING' }> {
  const result = await store.requestCancel(runId, reason);
  if (result.outcome === 'cancelling') return { runId, status: 'CANCELLING' };
  if (result.run === undefined) throw new NotFoundError(`run "${runId}"`);
  throw new ConflictError(`run "${runId}" is ${result.run.status} and cannot be cancelled`, { status: result.run.status });
}

/**
 * Resumes a FAILED or CANCELLED run: failed, skipped and cancelled tasks run again; SUCCEEDED
 * tasks keep their outputs and are not executed again.
 */
export async function resumeRun(store: DynamoStore, definitions: DefinitionCache, runId: string): Promise<{ runId: string; status: 'RUNNING' }> {
  const begun = await store.beginResume(runId);
  if (begun.outcome === 'refused') {
    if (begun.run === undefined) throw new NotFoundError(`run "${runId}"`);
    throw new ConflictError(`run "${runId}" is ${begun.run.status}; only FAILED or CANCELLED runs can be retried`, {
      status: begun.run.status,
    });
  }
  const found = await store.readRun(runId);
  if (found === undefined) throw new NotFoundError(`run "${runId}"`);
  const definition = await definitions.get(found.run.workflowId, found.run.version);
  const generation = found.run.resumeCount ?? 0;
  // Tasks whose work a compensation undid in this phase run again, under a new idempotency key.
  const undone = new Set(
    found.tasks.flatMap((task) => {
      const compensated = compensatedTaskId(task.taskId);
      return compensated !== undefined && task.generation === generation && task.status === 'SUCCEEDED' ? [compensated] : [];
    }),
  );
  const succeeded = new Set(
    found.tasks
      .filter((task) => task.status === 'SUCCEEDED' && definition.tasksById.has(task.taskId) && !undone.has(task.taskId))
      .map((task) => task.taskId),
  );
  const resets = definition.definition.tasks
    .filter((task) => !succeeded.has(task.id))
    .map((task) => ({
      taskId: task.id,
      succeededDependencies: task.dependsOn.filter((id) => succeeded.has(id)),
      newIdempotencyKey: undone.has(task.id),
    }));
  const reset = await store.resetTasksForResume(runId, generation + 1, resets);
  if (reset.outcome === 'stale') return { runId, status: 'RUNNING' };
  const timeoutSeconds = definition.definition.timeoutSeconds;
  await store.finishResume(runId, succeeded.size, definition.definition.tasks.length, timeoutSeconds);
  return { runId, status: 'RUNNING' };
}

export interface HistoryEvent {
  at: string;
  type:
    | 'RunStarted'
    | 'RunResumed'
    | 'RunCancelRequested'
    | 'RunCompleted'
    | 'RunFailed'
    | 'RunCancelled'
    | 'TaskQueued'
    | 'TaskStarted'
    | 'TaskSucceeded'
    | 'TaskFailed'
    | 'TaskRetried'
    | 'TaskTimedOut'
    | 'TaskSkipped'
    | 'TaskCancelled';
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

/** The run's history, oldest first, from the run item and each task's kept attempts. */
export function runHistory({ run, tasks }: RunWithTasks, definition: StoredDefinition): HistoryEvent[] {
  const events: HistoryEvent[] = [{ at: run.createdAt, type: 'RunStarted' }];
  if (run.resumedAt !== undefined) events.push({ at: run.resumedAt, type: 'RunResumed' });
  const order = new Map(definition.definition.tasks.map((task, i) => [task.id, i]));
  for (const task of [...tasks].sort((a, b) => (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0))) {
    const { taskId } = task;
    for (const attempt of task.attempts) {
      events.push({ at: attempt.startedAt, type: 'TaskStarted', taskId, attempt: attempt.attempt });
      events.push({
        at: attempt.completedAt,
        type: ATTEMPT_EVENT[attempt.outcome],
        taskId,
        attempt: attempt.attempt,
        durationMs: attempt.durationMs,
        ...(attempt.error === undefined ? {} : { error: attempt.error }),
      });
    }
    if (task.queuedAt !== undefined && (task.status === 'QUEUED' || task.status === 'RUNNING' || task.status === 'WAITING')) {
      events.push({ at: task.queuedAt, type: 'TaskQueued', taskId, attempt: task.attempt });
    }
    if (task.status === 'RUNNING' && task.startedAt !== undefined) {
      events.push({ at: task.startedAt, type: 'TaskStarted', taskId, attempt: task.attempt });
    }
    const endedWithoutAttempt = task.attempts.every((attempt) => attempt.attempt !== task.attempt || task.attempt === 0);
    if (task.completedAt !== undefined && endedWithoutAttempt && (task.status === 'SKIPPED' || task.status === 'CANCELLED')) {
      events.push({
        at: task.completedAt,
        type: task.status === 'SKIPPED' ? 'TaskSkipped' : 'TaskCancelled',
        taskId,
        ...(task.reason === undefined ? {} : { reason: task.reason }),
      });
    }
  }
  if (run.completedAt !== undefined) {
    const type = run.status === 'COMPLETED' ? 'RunCompleted' : run.status === 'CANCELLED' ? 'RunCancelled' : 'RunFailed';
    events.push({ at: run.completedAt, type, ...(run.error === undefined ? {} : { error: run.error }) });
  }
  // Stable: events at the same instant keep the order in which they were listed.
  return events.map((event, i) => ({ event, i })).sort((a, b) => a.event.at.localeCompare(b.event.at) || a.i - b.i).map(({ event }) => event);
}
