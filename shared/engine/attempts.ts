// How an attempt ends, written once for every part of the engine that ends one: the worker (the
// task failed, or its signal fired), the sweeper (its lease ran out: the worker crashed or stalled)
// and the dead-letter handler (SQS gave up on its message). Each fences its write its own way
// (Fence); the policy is the same: a cancelled run's attempt ends CANCELLED, a retry policy with
// retries left queues the next attempt (or parks it beyond SQS's 15 minutes), and otherwise the
// task FAILS. The metrics the retry-rate alarm reads are counted here, whoever ended the attempt.
import { ENGINE_METRICS } from '../config/metrics.js';
import type { TaskError } from '../model/task-error.js';
import type { ExecutionPlan } from './execution-plan.js';
import type { TaskQueue } from './messages.js';
import type { EngineMetrics } from './metrics.js';
import type { AttemptResult, Fence, TaskStore } from './ports.js';
import type { AttemptOutcome, AttemptRecord, TaskRecord } from './records.js';
import { retryDelaySeconds, retryPlacement, shouldRetry } from './retry-policy.js';
import { deliveryDueAt, type EngineTimings } from './timing.js';
import { QUEUES } from '../config/settings.js';

/** Finished attempts kept on a task item; older ones are moved to an archive item first. */
export const KEPT_ATTEMPTS = 10;
/** Errors in the attempt list are abridged: the item must stay small however many retries. */
const ATTEMPT_ERROR_MESSAGE_CHARS = 512;

export interface AttemptDeps {
  tasks: Pick<TaskStore, 'finish' | 'retry' | 'archiveAttempts'>;
  queue: TaskQueue;
  metrics: EngineMetrics;
  timings: EngineTimings;
  now: () => Date;
  random: () => number;
  newToken: () => string;
}

export type EndOutcome = 'succeeded' | 'failed' | 'retrying' | 'cancelled' | 'stale';

/** The attempt that ends: the task as its ender knows it, and the run's identity for the retry message. */
export interface EndingAttempt {
  task: Pick<TaskRecord, 'runId' | 'taskId' | 'workflowId' | 'version' | 'phase' | 'attempt' | 'attemptBase' | 'attempts' | 'startedAt' | 'cancelRequested'>;
  plan: Pick<ExecutionPlan, 'retry'> & { leaseMs: number };
  fence: Fence;
}

/** A finished attempt as the history keeps it. */
export function attemptRecord(
  task: EndingAttempt['task'],
  now: Date,
  outcome: AttemptOutcome,
  error: TaskError | undefined,
): AttemptRecord {
  const startedAt = task.startedAt ?? now.toISOString();
  return {
    attempt: task.attempt,
    phase: task.phase,
    startedAt,
    completedAt: now.toISOString(),
    durationMs: Math.max(0, now.getTime() - Date.parse(startedAt)),
    outcome,
    ...(error === undefined ? {} : { error: { name: error.name, message: error.message.slice(0, ATTEMPT_ERROR_MESSAGE_CHARS), retryable: error.retryable } }),
  };
}

/** The attempts a write keeps on the item: all of them, or (when full) none, after archiving them. */
async function keptAttempts(deps: AttemptDeps, task: EndingAttempt['task']): Promise<AttemptRecord[]> {
  if (task.attempts.length < KEPT_ATTEMPTS) return task.attempts;
  await deps.tasks.archiveAttempts(task.runId, task.taskId, task.attempts);
  return [];
}

/** Ends an attempt with its result: SUCCEEDED, FAILED for good, or CANCELLED. */
export async function finishAttempt(deps: AttemptDeps, ending: EndingAttempt, result: AttemptResult): Promise<EndOutcome> {
  const now = deps.now();
  const outcome: AttemptOutcome = result.status;
  const record = attemptRecord(ending.task, now, outcome, result.status === 'SUCCEEDED' ? undefined : result.error);
  const finished = await deps.tasks.finish({
    runId: ending.task.runId,
    taskId: ending.task.taskId,
    attempt: ending.task.attempt,
    fence: ending.fence,
    record,
    keptAttempts: await keptAttempts(deps, ending.task),
    opToken: deps.newToken(),
    result,
  });
  if (finished.outcome !== 'ok') return 'stale';
  if (result.status === 'CANCELLED') return 'cancelled';
  deps.metrics.count(result.status === 'SUCCEEDED' ? ENGINE_METRICS.names.taskSucceeded : ENGINE_METRICS.names.taskFailed);
  deps.metrics.milliseconds(ENGINE_METRICS.names.taskDuration, record.durationMs);
  return result.status === 'SUCCEEDED' ? 'succeeded' : 'failed';
}

/**
 * Ends a failed attempt by the task's retry policy: CANCELLED when its run is being cancelled,
 * the next attempt when retries are left (queued with the backoff as its delay, or parked), else
 * FAILED. `timedOut` says how the attempt ended, for the history (TIMED_OUT or RETRIED).
 */
export async function endFailedAttempt(
  deps: AttemptDeps,
  ending: EndingAttempt,
  error: TaskError,
  options: { timedOut?: boolean } = {},
): Promise<EndOutcome> {
  const { task, plan } = ending;
  if (task.cancelRequested) return finishAttempt(deps, ending, { status: 'CANCELLED', error: { ...error, name: 'Cancelled' } });
  // Attempts made before a resume do not count against the retry policy.
  const attemptInRun = task.attempt - task.attemptBase;
  if (plan.retry === undefined || !shouldRetry(plan.retry, attemptInRun, error)) {
    return finishAttempt(deps, ending, { status: 'FAILED', error });
  }
  const now = deps.now();
  const delaySeconds = retryDelaySeconds(plan.retry, attemptInRun, deps.random);
  const placement = retryPlacement(delaySeconds);
  const startAt = now.getTime() + delaySeconds * 1000;
  const retried = await deps.tasks.retry({
    runId: task.runId,
    taskId: task.taskId,
    attempt: task.attempt,
    fence: ending.fence,
    record: attemptRecord(task, now, options.timedOut === true ? 'TIMED_OUT' : 'RETRIED', error),
    keptAttempts: await keptAttempts(deps, task),
    opToken: deps.newToken(),
    error,
    next:
      placement === 'queue'
        ? { status: 'QUEUED', dueAt: deliveryDueAt(now.getTime(), delaySeconds * 1000, plan.leaseMs, deps.timings) }
        : { status: 'WAITING', dueAt: startAt },
  });
  if (retried.outcome !== 'ok') {
    // Refused because the run is being cancelled meanwhile: the attempt ends CANCELLED instead.
    if (retried.current?.cancelRequested === true && retried.current.status === 'RUNNING' && retried.current.attempt === task.attempt) {
      return finishAttempt(deps, { ...ending, task: { ...task, cancelRequested: true } }, { status: 'CANCELLED', error: { ...error, name: 'Cancelled' } });
    }
    return 'stale';
  }
  if (placement === 'queue') {
    const message = { runId: task.runId, taskId: task.taskId, attempt: task.attempt + 1, workflowId: task.workflowId, version: task.version };
    await deps.queue.send([{ message, delaySeconds: Math.min(QUEUES.maxDelaySeconds, delaySeconds) }]);
  }
  deps.metrics.count(ENGINE_METRICS.names.taskRetried);
  return 'retrying';
}
