// "Why is this task not running?": for each task of a run that is not final, the reason, from what
// the engine has recorded (the run, its task items, the definition) and the time. Pure, for
// GET /runs/{runId} and the operations console. Each answer is derived from the rules the engine
// acts on (the join rules of join-rules.ts, the delivery deadlines of timing.ts), so it says what
// the engine will do next, not a guess: an operator reads `code`, a person reads `message`.
import type { TaskDefinition, TriggerRule, WorkflowDefinition } from '../model/definition.js';
import { isFinalRunStatus, isFinalTaskStatus, type StoredRunStatus, type TaskStatus } from '../model/states.js';
import { settle } from './join-rules.js';
import type { RunRecord, TaskRecord } from './records.js';
import { backoffCeilingSeconds } from './retry-policy.js';
import { DEFAULT_TIMINGS, leaseMs, type EngineTimings } from './timing.js';

/** Why a task that is not final is where it is. Times are ISO 8601. */
export type TaskWhy =
  /** PENDING: some dependencies have not finished, and its join rule needs them. */
  | { code: 'waiting_for_dependencies'; message: string; waitingFor: string[] }
  /** PENDING: some dependencies finished, but not the way its rule (one_success, one_failed) fires on. */
  | { code: 'join_undecided'; message: string; trigger: TriggerRule; waitingFor: string[] }
  /** PENDING: its rule is met; the scheduler (or the sweeper's run check) is about to queue it. */
  | { code: 'ready'; message: string }
  /** PENDING: its rule can no longer be met; the scheduler is about to skip it. */
  | { code: 'will_be_skipped'; message: string; reason: string }
  /** QUEUED or WAITING: a failed attempt's retry, held back by its backoff until `at`. */
  | { code: 'retry_at'; message: string; attempt: number; at: string; stuck?: true }
  /** WAITING: a wait task, until `at`. */
  | { code: 'waiting_until'; message: string; at: string; stuck?: true }
  /** A callback task waits for an outside system's answer, until `until` (its timeout, or sooner its heartbeat's deadline). */
  | { code: 'waiting_for_callback'; message: string; attempt: number; until: string; stuck?: true }
  /** A workflow task waits for its child run to end, until `until` (its timeout). */
  | { code: 'waiting_for_child'; message: string; attempt: number; until: string; childRunId: string }
  /** A map task waits for its items to end, until `until` (its timeout). */
  | { code: 'waiting_for_items'; message: string; attempt: number; until: string; items: number }
  /** QUEUED: its message is deliverable since `since`, and no worker has claimed it. */
  | { code: 'queued'; message: string; attempt: number; since: string; stuck?: true }
  /** RUNNING: a worker holds attempt `attempt` since `since`, leased until `leaseUntil`. */
  | { code: 'running'; message: string; attempt: number; since?: string; leaseUntil?: string; stuck?: true }
  /** The run, not the task, decides: it is being cancelled, compensated or resumed, or it ended. */
  | { code: 'run_cancelling' | 'run_compensating' | 'run_resuming' | 'run_ended'; message: string };
// `stuck: true` marks what is overdue by the engine's own deadlines: the sweeper is the one to act.

export type WhyCode = TaskWhy['code'];

/**
 * By task id, why each task of the definition that is not final is not running (or not yet done).
 * A task without an item is PENDING, as GET /runs/{runId} shows it. Final tasks are left out.
 */
export function explainRun(
  run: Pick<RunRecord, 'status' | 'phase' | 'compensation'>,
  definition: Pick<WorkflowDefinition, 'tasks'>,
  tasks: readonly TaskRecord[],
  now: number,
  timings: EngineTimings = DEFAULT_TIMINGS,
): Map<string, TaskWhy> {
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const statusOf = (taskId: string): TaskStatus => byId.get(taskId)?.status ?? 'PENDING';
  const pending = pendingDecisions(definition, statusOf);
  const explained = new Map<string, TaskWhy>();
  for (const taskDefinition of definition.tasks) {
    const status = statusOf(taskDefinition.id);
    if (isFinalTaskStatus(status)) continue;
    const task = byId.get(taskDefinition.id);
    explained.set(
      taskDefinition.id,
      runWhy(run, status, task) ?? taskWhy(taskDefinition, status, task, { pending, statusOf, now, timings }),
    );
  }
  return explained;
}

interface Context {
  pending: PendingDecisions;
  statusOf: (taskId: string) => TaskStatus;
  now: number;
  timings: EngineTimings;
}

// ---- the run decides -------------------------------------------------------------------------

/** While the run is not simply RUNNING, its state says more about every task than the task's own. */
function runWhy(run: Pick<RunRecord, 'status' | 'compensation'>, status: TaskStatus, task: TaskRecord | undefined): TaskWhy | undefined {
  if (run.status === 'CANCELLING') {
    const message =
      status === 'RUNNING'
        ? `the run is being cancelled: attempt ${task?.attempt ?? 1} ${task?.cancelRequested === true ? 'was' : 'will be'} asked to stop (its ctx.signal fires) and ends CANCELLED`
        : 'the run is being cancelled: this task ends CANCELLED without running';
    return { code: 'run_cancelling', message };
  }
  if (run.status === 'COMPENSATING') {
    const outcome = run.compensation?.outcome ?? 'FAILED';
    return { code: 'run_compensating', message: `the run is compensating (it will end ${outcome}): no task of it starts; the compensations of its succeeded tasks run` };
  }
  if (run.status === 'RESUMING') {
    return { code: 'run_resuming', message: 'the run is being resumed: its tasks are moving into the next phase, and what is ready is queued when that is done' };
  }
  if (isFinalRunStatus(run.status)) return { code: 'run_ended', message: runEndedMessage(run.status) };
  return undefined;
}

function runEndedMessage(status: StoredRunStatus): string {
  const resumable = status === 'FAILED' || status === 'CANCELLED';
  return `the run ended ${status}: this task will not run${resumable ? ' unless the run is resumed (POST /runs/{runId}/retry)' : ''}`;
}

// ---- the task decides ------------------------------------------------------------------------

function taskWhy(definition: TaskDefinition, status: TaskStatus, task: TaskRecord | undefined, context: Context): TaskWhy {
  switch (status) {
    case 'QUEUED':
      return queuedWhy(definition, task, context);
    case 'WAITING':
      return waitingWhy(definition, task, context);
    case 'RUNNING':
      return runningWhy(task, context.now);
    default:
      return pendingWhy(definition, context);
  }
}

interface PendingDecisions {
  ready: ReadonlySet<string>;
  /** Tasks whose skip is decided, with the reason the scheduler will record. */
  skipped: ReadonlyMap<string, string>;
}

/**
 * What the scheduler would decide now for every PENDING task: settle() itself, skips propagated.
 * `when` conditions are left out: they need the run input and are only evaluated once a task is
 * ready, so a ready task with a condition is still "ready" here (it may yet be skipped by it).
 */
function pendingDecisions(definition: Pick<WorkflowDefinition, 'tasks'>, statusOf: (taskId: string) => TaskStatus): PendingDecisions {
  const statuses = new Map(definition.tasks.map((task) => [task.id, statusOf(task.id)]));
  const rules = definition.tasks.map((task) => ({ id: task.id, dependsOn: task.dependsOn, trigger: task.trigger }));
  const { ready, skipped } = settle({ tasks: rules }, statuses);
  return { ready: new Set(ready), skipped: new Map(skipped.map((skip) => [skip.taskId, skip.reason])) };
}

/** The one-at-least rules: they may fire before every dependency is done, so "not yet" is a decision of the rule. */
const FIRES_EARLY: ReadonlySet<TriggerRule> = new Set(['one_success', 'one_failed']);

function pendingWhy(definition: TaskDefinition, { pending, statusOf }: Context): TaskWhy {
  const reason = pending.skipped.get(definition.id);
  if (reason !== undefined) {
    return { code: 'will_be_skipped', message: `will be skipped: ${reason}, so its trigger ${definition.trigger} cannot be met`, reason };
  }
  if (pending.ready.has(definition.id)) {
    const condition = definition.when === undefined ? '' : '; its when condition is checked then';
    const message = definition.dependsOn.length === 0 ? `about to be queued (a root of the run)${condition}` : `its trigger ${definition.trigger} is met: about to be queued${condition}`;
    return { code: 'ready', message };
  }
  // A dependency whose skip is decided counts as done: the scheduler skips it before this one.
  const waitingFor = definition.dependsOn.filter((id) => !isFinalTaskStatus(statusOf(id)) && !pending.skipped.has(id));
  const done = definition.dependsOn.length - waitingFor.length;
  const unfinished = waitingFor.map((id) => `${id} (${statusOf(id)})`).join(', ');
  if (FIRES_EARLY.has(definition.trigger) && done > 0) {
    const wanted = definition.trigger === 'one_success' ? 'succeeded' : 'failed';
    return {
      code: 'join_undecided',
      message: `trigger ${definition.trigger}: none of the ${done} finished dependencies ${wanted}; waiting for ${unfinished}`,
      trigger: definition.trigger,
      waitingFor,
    };
  }
  return { code: 'waiting_for_dependencies', message: `waiting for ${unfinished} (${done} of ${definition.dependsOn.length} done)`, waitingFor };
}

function queuedWhy(definition: TaskDefinition, task: TaskRecord | undefined, { now, timings }: Context): TaskWhy {
  const attempt = task?.attempt ?? 1;
  const retryAt = task === undefined ? undefined : queuedRetryDueAt(definition, task, timings);
  if (task !== undefined && retryAt !== undefined && retryAt > now) {
    return { code: 'retry_at', message: `${failedAttempt(task)}; attempt ${attempt} is held back by its backoff until ${iso(retryAt)}`, attempt, at: iso(retryAt) };
  }
  const since = retryAt ?? (task?.queuedAt === undefined ? now : Date.parse(task.queuedAt));
  // The engine's own delivery deadline (deliveryDueAt): past it, the sweeper takes the message for lost.
  const windowMs = deliveryWindowMs(definition, timings);
  const waited = now - since;
  if (waited > windowMs) {
    return {
      code: 'queued',
      message:
        `attempt ${attempt} queued since ${iso(since)}, not claimed for ${seconds(waited)} (over the delivery grace of ${seconds(windowMs)}): ` +
        'it looks stuck (its message lost, or behind a backlog: check the queue depth and the worker concurrency); the sweeper sends its message again',
      attempt,
      since: iso(since),
      stuck: true,
    };
  }
  return {
    code: 'queued',
    message: `attempt ${attempt} queued since ${iso(since)}, not claimed by a worker yet: check the queue depth and the worker concurrency`,
    attempt,
    since: iso(since),
  };
}

function waitingWhy(definition: TaskDefinition, task: TaskRecord | undefined, { now, timings }: Context): TaskWhy {
  const wakeAt = task?.wakeAt ?? now;
  if (definition.type === 'wait') {
    // The wake-up message is delayed until wakeAt; the sweeper sends it again a delivery grace later.
    const late = now - wakeAt > timings.deliveryGraceSeconds * 1000;
    const message = wakeAt > now ? `a wait task, sleeping until ${iso(wakeAt)}` : `a wait task whose time came at ${iso(wakeAt)}${late ? ': its wake-up is late, and the sweeper sends it again' : ': its wake-up ends it'}`;
    return { code: 'waiting_until', message, at: iso(wakeAt), ...(late ? { stuck: true as const } : {}) };
  }
  if (definition.type === 'workflow' && task !== undefined && task.callbackAttempt === task.attempt && task.childRunId !== undefined) {
    const message = `attempt ${task.attempt} waits for its child run ${task.childRunId} (workflow ${definition.workflow.id}) to end, until ${iso(wakeAt)}`;
    return { code: 'waiting_for_child', message, attempt: task.attempt, until: iso(wakeAt), childRunId: task.childRunId };
  }
  if (definition.type === 'map' && task !== undefined && task.callbackAttempt === task.attempt) {
    const items = task.mapItems ?? 0;
    const message = `attempt ${task.attempt} waits for its ${items} items to end (at most ${definition.maxConcurrency} at once), until ${iso(wakeAt)}`;
    return { code: 'waiting_for_items', message, attempt: task.attempt, until: iso(wakeAt), items };
  }
  if (definition.type === 'callback' && task !== undefined && task.callbackAttempt === task.attempt) {
    const deadline = task.leaseExpiresAt ?? wakeAt;
    const beat = deadline < wakeAt ? `, and a heartbeat by ${iso(deadline)}` : '';
    // The sweeper times it out on its first sweep after the deadline: later than a grace is late.
    const late = now - deadline > timings.deliveryGraceSeconds * 1000;
    const message = `attempt ${task.attempt} waits for an answer to POST /callbacks/{token} until ${iso(wakeAt)}${beat}${late ? ': its deadline passed, and the sweeper times it out' : ''}`;
    return { code: 'waiting_for_callback', message, attempt: task.attempt, until: iso(deadline), ...(late ? { stuck: true as const } : {}) };
  }
  // Any other WAITING task is a retry parked beyond SQS's longest delay; the sweeper queues it when due.
  const attempt = task?.attempt ?? 1;
  const prefix = task === undefined ? 'a retry' : failedAttempt(task);
  if (wakeAt > now) return { code: 'retry_at', message: `${prefix}; attempt ${attempt} is parked until ${iso(wakeAt)} (a backoff longer than SQS's delay)`, attempt, at: iso(wakeAt) };
  // The sweeper queues it on its first sweep after wakeAt (every minute): later than a grace is late.
  const late = now - wakeAt > timings.deliveryGraceSeconds * 1000;
  const message = `${prefix}; attempt ${attempt} is due since ${iso(wakeAt)}: ${late ? 'late, ' : ''}the sweeper queues it on its next sweep`;
  return { code: 'retry_at', message, attempt, at: iso(wakeAt), ...(late ? { stuck: true as const } : {}) };
}

function runningWhy(task: TaskRecord | undefined, now: number): TaskWhy {
  const attempt = task?.attempt ?? 1;
  const since = task?.startedAt;
  const lease = task?.leaseExpiresAt;
  const running = `attempt ${attempt} running${since === undefined ? '' : ` since ${since} (${seconds(now - Date.parse(since))})`}`;
  const times = { ...(since === undefined ? {} : { since }), ...(lease === undefined ? {} : { leaseUntil: iso(lease) }) };
  if (lease !== undefined && lease < now) {
    return {
      code: 'running',
      message: `${running}; its lease ran out at ${iso(lease)}: its worker looks crashed or stalled, and the sweeper ends the attempt (TimedOut) and retries it by its policy`,
      attempt,
      ...times,
      stuck: true,
    };
  }
  return { code: 'running', message: `${running}${lease === undefined ? '' : `, leased until ${iso(lease)}`}`, attempt, ...times };
}

// ---- retries ---------------------------------------------------------------------------------

/** The attempt before the current one ended in a retry (in this phase: a resume starts afresh). */
function isRetry(task: TaskRecord): boolean {
  const last = task.attempts.at(-1);
  return last !== undefined && last.phase === task.phase && last.attempt === task.attempt - 1 && (last.outcome === 'RETRIED' || last.outcome === 'TIMED_OUT');
}

/**
 * When a QUEUED retry's message becomes deliverable. The engine does not store it: it records the
 * retry's delivery deadline, `dueAt = failed at + backoff + delivery window` (attempts.ts,
 * deliveryDueAt), so the backoff's end is `dueAt - window`. A sweeper's resend moves dueAt on (by
 * the whole grace); an end later than the backoff could be (its ceiling) tells it apart, and then
 * the backoff ended long ago. Undefined for a task that is not a retry.
 */
export function queuedRetryDueAt(definition: TaskDefinition, task: TaskRecord, timings: EngineTimings = DEFAULT_TIMINGS): number | undefined {
  if (!isRetry(task) || task.queuedAt === undefined) return undefined;
  const failedAt = Date.parse(task.queuedAt);
  if (task.dueAt === undefined) return failedAt;
  const estimate = Math.max(failedAt, task.dueAt - deliveryWindowMs(definition, timings));
  const failedAttemptInRun = task.attempt - 1 - task.attemptBase;
  const ceilingMs = definition.retry === undefined || failedAttemptInRun < 1 ? 0 : backoffCeilingSeconds(definition.retry, failedAttemptInRun) * 1000;
  return estimate - failedAt > ceilingMs ? failedAt : estimate;
}

/** How long a queued task may go unclaimed before the sweeper sends its message again (timing.ts). */
function deliveryWindowMs(definition: TaskDefinition, timings: EngineTimings): number {
  return Math.min(timings.deliveryGraceSeconds * 1000, leaseMs(definition, timings));
}

function failedAttempt(task: TaskRecord): string {
  const last = task.attempts.at(-1);
  const error = last?.error ?? task.error;
  const how = last?.outcome === 'TIMED_OUT' ? 'timed out' : 'failed';
  return `attempt ${task.attempt - 1} ${how}${error === undefined ? '' : ` (${error.name}: ${error.message})`}`;
}

// ---- formatting ------------------------------------------------------------------------------

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A duration for a person: whole seconds, or milliseconds under one. */
function seconds(ms: number): string {
  const clamped = Math.max(0, ms);
  return clamped < 1000 ? `${Math.round(clamped)} ms` : `${Math.round(clamped / 1000)} s`;
}
