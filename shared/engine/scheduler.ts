// The scheduler: reacts to one changed item of the table (a stream record) and does only the work
// that change calls for (docs/architecture.md, invariants):
// - a run became visible (RUNNING)   -> queue its root tasks;
// - a task reached a final state     -> record it on each dependent (idempotent set ADD) and
//                                       queue or skip the dependents whose join rule is now decided;
// - a run's last task finished       -> finish the run, exactly once (conditional write).
// Work per change is O(out-degree of the changed task); the run is never scanned.
import { compensableAncestors, compensatedTaskId, compensationTaskId, planCompensations } from './compensation.js';
import { evaluateCondition, type ValueScope } from '../model/condition.js';
import { forEachLimited } from './concurrency.js';
import { rootTasks } from '../model/dag.js';
import type { DefinitionCache } from './definition-cache.js';
import { taskOf } from './definition-cache.js';
import type { TaskDefinition } from '../model/definition.js';
import { decideTask } from './join-rules.js';
import { ENGINE_METRICS } from '../config/metrics.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import { QUEUES, TIMINGS } from '../config/settings.js';
import { isFinalTaskStatus, type TaskStatus } from '../model/states.js';
import type { DynamoStore, TaskError, TaskRecord } from '../aws/dynamo/store.js';
import type { RunItem, TaskItem } from '../aws/dynamo/items.js';

/** One changed item, as a stream record shows it (images parsed). */
export type StoreChange =
  | { kind: 'run'; old: RunItem | undefined; new: RunItem | undefined }
  | { kind: 'task'; old: TaskItem | undefined; new: TaskItem | undefined };

export interface SchedulerDeps {
  store: DynamoStore;
  queue: TaskQueue;
  definitions: DefinitionCache;
  now?: () => Date;
  metrics?: EngineMetrics;
}

interface RunRef {
  runId: string;
  workflowId: string;
  version: string;
}

/** How many dependents of one task are handled at once. */
const DEPENDENT_CONCURRENCY = 16;

export class Scheduler {
  private readonly store: DynamoStore;
  private readonly queue: TaskQueue;
  private readonly definitions: DefinitionCache;
  private readonly now: () => Date;
  private readonly metrics: EngineMetrics;

  constructor(deps: SchedulerDeps) {
    this.metrics = deps.metrics ?? new RecordedMetrics();
    this.store = deps.store;
    this.queue = deps.queue;
    this.definitions = deps.definitions;
    this.now = deps.now ?? (() => new Date());
  }

  /** Handles one change; safe to call again with the same change (a replayed record). */
  async handleChange(change: StoreChange): Promise<void> {
    const outbox: OutgoingMessage[] = [];
    if (change.kind === 'run') await this.onRunChange(change.old, change.new, outbox);
    else await this.onTaskChange(change.old, change.new, outbox);
    // Tasks are marked QUEUED before their message is sent: a worker never sees a message for a
    // task that is not yet claimable. If the send fails, the record is replayed and re-sends.
    if (outbox.length > 0) await this.queue.send(outbox);
  }

  private async onRunChange(old: RunItem | undefined, current: RunItem | undefined, outbox: OutgoingMessage[]): Promise<void> {
    if (current === undefined) return;
    if (current.status === 'RUNNING') {
      const becameVisible = old === undefined || old.status === 'CREATING';
      if (becameVisible) {
        await this.startRun(current, outbox);
        this.metrics.count(ENGINE_METRICS.names.runStarted);
      }
      if (old?.status === 'RESUMING') await this.resumeScheduling(current, outbox);
      if (current.finishedCount >= current.taskCount) {
        if (current.failedCriticalCount > 0) await this.endRun(current, 'RUNNING', 'FAILED');
        else await this.finishRun(current, { runId: current.runId, status: 'COMPLETED' });
      }
    } else if (current.status === 'CANCELLING') {
      if (old?.status !== 'CANCELLING') await this.cancelTasks(current);
      if (current.finishedCount >= current.taskCount) await this.endRun(current, 'CANCELLING', current.cancelOutcome ?? 'CANCELLED');
    } else if (current.status === 'COMPENSATING') {
      if (old?.status !== 'COMPENSATING') await this.startCompensations(current, outbox);
      if ((current.compensationsFinished ?? 0) >= (current.compensationCount ?? 0)) {
        await this.finishRun(current, {
          runId: current.runId,
          status: current.compensationOutcome ?? 'FAILED',
          from: 'COMPENSATING',
          ...errorOf(current, current.compensationOutcome ?? 'FAILED'),
        });
      }
    }
  }

  /**
   * A run that failed or was cancelled: compensations of its SUCCEEDED tasks run first (the
   * saga), in reverse dependency order; with none to run, the run ends at once.
   */
  private async endRun(run: RunItem, from: 'RUNNING' | 'CANCELLING', outcome: 'FAILED' | 'CANCELLED'): Promise<void> {
    const definition = await this.definitions.get(run.workflowId, run.version);
    const hasCompensations = definition.definition.tasks.some((task) => task.compensate !== undefined);
    const found = hasCompensations ? await this.store.readRun(run.runId) : undefined;
    const succeeded = new Set((found?.tasks ?? []).filter((task) => task.status === 'SUCCEEDED').map((task) => task.taskId));
    const plans = planCompensations(definition, succeeded);
    if (plans.length === 0) {
      await this.finishRun(run, { runId: run.runId, status: outcome, from, ...errorOf(run, outcome) });
      return;
    }
    await this.store.beginCompensation({
      runId: run.runId,
      workflowId: run.workflowId,
      version: run.version,
      from,
      outcome,
      generation: run.resumeCount ?? 0,
      compensations: plans.map((plan) => ({
        taskId: compensationTaskId(plan.taskId),
        blockers: plan.blockers.map(compensationTaskId),
      })),
    });
  }

  /**
   * Brings an unfinished run up to date from its tasks' actual states, as if every stream record
   * of it had been handled: the sweeper's safety net for records the stream mapping gave up on.
   * One read of the run; everything it writes is conditional, like the record handlers.
   */
  async reconcile(runId: string): Promise<void> {
    const run = await this.store.getRunItem(runId);
    if (run === undefined) return;
    const outbox: OutgoingMessage[] = [];
    const definition = await this.definitions.get(run.workflowId, run.version);
    const found = await this.store.readRun(runId);
    const tasks = found?.tasks ?? [];
    const statusOf = new Map(tasks.map((task) => [task.taskId, task.status]));
    const lookup = (taskId: string) => statusOf.get(taskId) ?? 'PENDING';
    const ref = { runId, workflowId: run.workflowId, version: run.version };
    if (run.status === 'RUNNING') {
      const outputs = Object.fromEntries(tasks.map((task) => [task.taskId, task.output === undefined ? {} : { output: task.output }]));
      const scope = { input: found?.run.input, upstream: outputs };
      await forEachLimited(
        tasks.filter((task) => task.status === 'PENDING' && compensatedTaskId(task.taskId) === undefined),
        DEPENDENT_CONCURRENCY,
        (record) => this.decide(ref, taskOf(definition, record.taskId), record, outbox, { statusOf: lookup, scope }),
      );
    } else if (run.status === 'CANCELLING') {
      await this.cancelTasks(run);
    } else if (run.status === 'COMPENSATING') {
      const pending = tasks.filter((task) => task.status === 'PENDING' && compensatedTaskId(task.taskId) !== undefined);
      await forEachLimited(pending, DEPENDENT_CONCURRENCY, (record) => this.decideCompensation(ref, record, outbox, lookup));
    }
    // A run whose last record was lost: its counters say whether it can end now.
    const latest = await this.store.getRunItem(runId);
    if (latest !== undefined) await this.onRunChange(latest, latest, outbox);
    if (outbox.length > 0) await this.queue.send(outbox);
  }

  /** Ends the run (once: a replay finds it ended) and counts how it ended. */
  private async finishRun(run: RunItem, end: Parameters<DynamoStore['finishRun']>[0]): Promise<void> {
    const finished = await this.store.finishRun(end);
    if (finished.outcome !== 'ok') return;
    if (end.status === 'COMPLETED') this.metrics.count(ENGINE_METRICS.names.runCompleted);
    if (end.status === 'FAILED') this.metrics.count(ENGINE_METRICS.names.runFailed);
    this.metrics.milliseconds(ENGINE_METRICS.names.runDuration, this.now().getTime() - Date.parse(run.createdAt));
  }

  /** Queues every compensation that waits for no other (the most downstream ones). */
  private async startCompensations(run: RunItem, outbox: OutgoingMessage[]): Promise<void> {
    const found = await this.store.readRun(run.runId);
    const pending = (found?.tasks ?? []).filter((task) => task.status === 'PENDING' && compensatedTaskId(task.taskId) !== undefined);
    await forEachLimited(pending, DEPENDENT_CONCURRENCY, (record) => this.decideCompensation(run, record, outbox));
  }

  private async decideCompensation(
    run: RunRef,
    record: TaskRecord,
    outbox: OutgoingMessage[],
    /** The run's tasks' actual statuses, when the caller read them (otherwise the recorded sets). */
    statusOf?: (taskId: string) => TaskStatus,
  ): Promise<void> {
    if (record.status !== 'PENDING') return;
    const lookup = statusOf ?? dependencyStatusLookup(record);
    if (!(record.blockers ?? []).every((blocker) => isFinalTaskStatus(lookup(blocker)))) return;
    await this.queueTask(run, record.taskId, undefined, { status: 'PENDING', attempt: record.attempt }, outbox);
  }

  /** A finished compensation unblocks the compensations of the tasks upstream of its task. */
  private async onCompensationFinished(current: TaskItem, compensated: string, outbox: OutgoingMessage[]): Promise<void> {
    const run = { runId: current.runId, workflowId: current.workflowId, version: current.version };
    const definition = await this.definitions.get(run.workflowId, run.version);
    await forEachLimited(compensableAncestors(definition, compensated), DEPENDENT_CONCURRENCY, async (ancestor) => {
      const record = await this.store.recordDependencyOutcome({
        runId: run.runId,
        taskId: compensationTaskId(ancestor),
        dependencyId: current.taskId,
        dependencyStatus: current.status as 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED',
        generation: current.generation ?? 0,
      });
      if (record !== undefined) await this.decideCompensation(run, record, outbox);
    });
  }

  /**
   * A cancelled run: tasks not yet started end CANCELLED; running ones are asked to stop (their
   * worker fires ctx.signal and records CANCELLED). One read of the run: cancelling is one-off.
   */
  private async cancelTasks(run: RunItem): Promise<void> {
    const found = await this.store.readRun(run.runId);
    const tasks = found?.tasks ?? [];
    await forEachLimited(tasks, DEPENDENT_CONCURRENCY, async (task) => {
      if (task.status === 'RUNNING') {
        const asked = await this.store.requestTaskCancel(run.runId, task.taskId);
        // It stopped running meanwhile (e.g. went back to the queue for a retry): cancel it there.
        if (asked.outcome === 'stale') await this.store.cancelTask({ runId: run.runId, taskId: task.taskId, reason: 'run cancelled' });
      } else if (task.status === 'PENDING' || task.status === 'QUEUED' || task.status === 'WAITING') {
        await this.store.cancelTask({ runId: run.runId, taskId: task.taskId, reason: 'run cancelled' });
      }
    });
  }

  private async startRun(run: RunItem, outbox: OutgoingMessage[]): Promise<void> {
    const definition = await this.definitions.get(run.workflowId, run.version);
    const input = JSON.parse(run.inputJson) as unknown;
    await forEachLimited(rootTasks(definition.definition), DEPENDENT_CONCURRENCY, async (taskId) => {
      const task = taskOf(definition, taskId);
      const fresh = { status: 'PENDING' as const, attempt: 0 };
      if (task.when !== undefined && !evaluateCondition(task.when, { input, upstream: {} })) {
        await this.store.skipTask({ runId: run.runId, taskId, reason: 'condition false' });
        return;
      }
      await this.queueTask(run, task.id, task, fresh, outbox);
    });
  }

  /** A resumed run: every reset (PENDING) task whose join rule is already decided goes on. */
  private async resumeScheduling(run: RunItem, outbox: OutgoingMessage[]): Promise<void> {
    const definition = await this.definitions.get(run.workflowId, run.version);
    const found = await this.store.readRun(run.runId);
    const pending = (found?.tasks ?? []).filter((task) => task.status === 'PENDING');
    await forEachLimited(pending, DEPENDENT_CONCURRENCY, async (record) => {
      await this.decide(run, taskOf(definition, record.taskId), record, outbox);
    });
  }

  private async onTaskChange(old: TaskItem | undefined, current: TaskItem | undefined, outbox: OutgoingMessage[]): Promise<void> {
    if (current === undefined || !isFinalTaskStatus(current.status) || old?.status === current.status) return;
    const compensated = compensatedTaskId(current.taskId);
    if (compensated !== undefined) {
      await this.onCompensationFinished(current, compensated, outbox);
      return;
    }
    const run = { runId: current.runId, workflowId: current.workflowId, version: current.version };
    const definition = await this.definitions.get(run.workflowId, run.version);
    const dependents = definition.dependents.get(current.taskId) ?? [];
    const dependencyStatus = current.status as 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';
    await forEachLimited(dependents, DEPENDENT_CONCURRENCY, async (dependentId) => {
      const dependent = await this.store.recordDependencyOutcome({
        runId: run.runId,
        taskId: dependentId,
        dependencyId: current.taskId,
        dependencyStatus,
        generation: current.generation ?? 0,
      });
      if (dependent !== undefined) await this.decide(run, taskOf(definition, dependentId), dependent, outbox);
    });
  }

  /** Queues or skips a PENDING task whose dependencies' outcomes changed. */
  private async decide(
    run: RunRef,
    task: TaskDefinition,
    record: TaskRecord,
    outbox: OutgoingMessage[],
    /** What the caller already knows of the run: its tasks' statuses, and the condition's scope. */
    known?: { statusOf: (taskId: string) => TaskStatus; scope: ValueScope },
  ): Promise<void> {
    if (record.status !== 'PENDING') return;
    const statusOf = known?.statusOf ?? dependencyStatusLookup(record);
    const join = decideTask({ ...task, when: undefined }, statusOf);
    if (join.decision === 'wait') return;
    if (join.decision === 'skip') {
      await this.store.skipTask({ runId: run.runId, taskId: task.id, reason: join.reason ?? 'join rule not met' });
      return;
    }
    if (task.when !== undefined) {
      const scope = known?.scope ?? (await this.conditionScope(run.runId, task));
      if (!evaluateCondition(task.when, scope)) {
        await this.store.skipTask({ runId: run.runId, taskId: task.id, reason: 'condition false' });
        return;
      }
    }
    await this.queueTask(run, task.id, task, { status: 'PENDING', attempt: record.attempt }, outbox);
  }

  private async conditionScope(runId: string, task: TaskDefinition): Promise<ValueScope> {
    const [runRecord, upstream] = await Promise.all([this.store.getRun(runId), this.store.getTaskOutputs(runId, task.dependsOn)]);
    return { input: runRecord?.input, upstream };
  }

  private async queueTask(
    run: RunRef,
    taskId: string,
    task: TaskDefinition | undefined,
    expected: { status: 'PENDING'; attempt: number },
    outbox: OutgoingMessage[],
  ): Promise<void> {
    const now = this.now().getTime();
    const attempt = expected.attempt + 1;
    // A wait task waits as WAITING (no worker held), woken by a delayed message at its end.
    const wakeAt = task?.type === 'wait' ? waitEnd(task, now) : undefined;
    const queued =
      wakeAt === undefined
        ? await this.store.queueTask({ runId: run.runId, taskId, expected, attempt, deliveryTimeoutSeconds: TIMINGS.deliveryGraceSeconds })
        : await this.store.startWait({ runId: run.runId, taskId, attempt, wakeAt, graceSeconds: TIMINGS.deliveryGraceSeconds });
    // A replayed record finds the task already queued (or waiting) for this attempt: its message
    // may have been lost with the failed invocation, so it is sent again (a duplicate is harmless).
    const expectedStatus = wakeAt === undefined ? 'QUEUED' : 'WAITING';
    const alreadyQueued =
      queued.outcome === 'conflict' && queued.current?.status === expectedStatus && queued.current.attempt === attempt;
    if (queued.outcome !== 'queued' && !alreadyQueued) return;
    // The stored wake-up time: a replay must not move the end of a wait that has begun.
    const notBefore = queued.outcome === 'queued' ? queued.task.wakeAt : queued.current?.wakeAt;
    const delaySeconds = notBefore === undefined ? 0 : Math.max(0, (notBefore - now) / 1000);
    outbox.push({
      message: {
        runId: run.runId,
        taskId,
        attempt,
        workflowId: run.workflowId,
        version: run.version,
        ...(notBefore === undefined ? {} : { notBefore }),
      },
      delaySeconds: Math.min(QUEUES.maxDelaySeconds, delaySeconds),
    });
  }

}

/** Failed tasks named in a run's error; more are counted, not listed. */
const NAMED_FAILURES = 5;

/** The error a run ends with: why it failed, naming the failed tasks (none for a cancelled run). */
export function errorOf(run: RunItem, outcome: 'FAILED' | 'CANCELLED'): { error?: TaskError } {
  if (outcome === 'CANCELLED') return {};
  if (run.cancelOutcome === 'FAILED') {
    return { error: { name: 'RunTimedOut', message: run.cancelReason ?? 'the run passed its deadline', retryable: false } };
  }
  const failed = run.failedCritical;
  const named = failed.slice(0, NAMED_FAILURES).join(', ');
  const more = failed.length > NAMED_FAILURES ? ` and ${failed.length - NAMED_FAILURES} more` : '';
  const message =
    failed.length === 0
      ? `${run.failedCriticalCount} critical task(s) failed`
      : `${failed.length === 1 ? 'task' : 'tasks'} ${named}${more} failed`;
  return { error: { name: 'TaskFailed', message, retryable: false, details: { failedTasks: failed } } };
}

/** Epoch ms at which a wait task is over, counted from when it became ready. */
function waitEnd(task: Extract<TaskDefinition, { type: 'wait' }>, now: number): number {
  if (task.until !== undefined) return Date.parse(task.until);
  return now + (task.seconds ?? 0) * 1000;
}

function dependencyStatusLookup(record: TaskRecord): (taskId: string) => TaskStatus {
  const statuses = new Map<string, TaskStatus>();
  for (const id of record.dependencies.succeeded) statuses.set(id, 'SUCCEEDED');
  for (const id of record.dependencies.failed) statuses.set(id, 'FAILED');
  for (const id of record.dependencies.skipped) statuses.set(id, 'SKIPPED');
  for (const id of record.dependencies.cancelled) statuses.set(id, 'CANCELLED');
  return (taskId) => statuses.get(taskId) ?? 'PENDING';
}
