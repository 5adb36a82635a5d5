// The sweeper: the safety net that finds what nothing else will move (docs/architecture.md). It
// reads only the sparse expiry index (never a scan) and, for each item past its deadline:
// - RUNNING: the lease expired (worker crashed, or the attempt outlived its timeout): the attempt
//   counts as timed out, and the task is retried by its policy or FAILED;
// - QUEUED: the message never led to a claim (lost): it is sent again;
// - WAITING: a retry whose backoff was longer than SQS can delay is due: it is queued;
// - a run past its deadline (the definition's timeoutSeconds): it is cancelled, ending FAILED;
// - any other unfinished run, every reconcileIntervalSeconds: it is checked against its tasks, so
//   that a stream record the scheduler never handled cannot leave it hanging.
// Every write is conditional on what was read, so sweepers that overlap do each thing once.
import type { DefinitionCache } from './definition-cache.js';
import { executionPlan } from './execution-plan.js';
import { ENGINE_METRICS } from '../config/metrics.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import { retryDelaySeconds, retryPlacement, shouldRetry } from './retry-policy.js';
import { forEachLimited } from './concurrency.js';
import { QUEUES, TIMINGS } from '../config/settings.js';
import type { DueRun, DueTask, DynamoStore } from '../aws/dynamo/store.js';

export interface SweeperDeps {
  store: DynamoStore;
  queue: TaskQueue;
  definitions: DefinitionCache;
  now?: () => Date;
  random?: () => number;
  metrics?: EngineMetrics;
  /** Brings an unfinished run up to date from its tasks (the scheduler's `reconcile`). */
  reconcile?: (runId: string) => Promise<void>;
}

export interface SweepReport {
  expiredLeases: number;
  resent: number;
  released: number;
  overdueRuns: number;
  /** Unfinished runs checked against their tasks. */
  checkedRuns: number;
}

/** Items handled per query; a sweep repeats the query until nothing is due or its budget ends. */
const PAGE_SIZE = 200;
const CONCURRENCY = 16;

export class Sweeper {
  private readonly store: DynamoStore;
  private readonly queue: TaskQueue;
  private readonly definitions: DefinitionCache;
  private readonly now: () => Date;
  private readonly random: () => number;
  private readonly metrics: EngineMetrics;
  private readonly reconcile: ((runId: string) => Promise<void>) | undefined;

  constructor(deps: SweeperDeps) {
    this.metrics = deps.metrics ?? new RecordedMetrics();
    this.reconcile = deps.reconcile;
    this.store = deps.store;
    this.queue = deps.queue;
    this.definitions = deps.definitions;
    this.now = deps.now ?? (() => new Date());
    this.random = deps.random ?? Math.random;
  }

  /** One sweep: handles everything due now, within `budgetMs`. */
  async sweep(budgetMs = 50_000): Promise<SweepReport> {
    const report: SweepReport = { expiredLeases: 0, resent: 0, released: 0, overdueRuns: 0, checkedRuns: 0 };
    const started = Date.now();
    const seen = new Set<string>();
    while (Date.now() - started < budgetMs) {
      const now = this.now();
      const due = (await this.store.queryDue({ now, limit: PAGE_SIZE })).filter((item) => {
        const key = item.kind === 'task' ? `${item.task.runId}/${item.task.taskId}/${item.task.status}/${item.task.attempt}` : `${item.run.runId}/RUN`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      if (due.length === 0) break;
      const outbox: OutgoingMessage[] = [];
      // What was already moved must get its message even if another item of the page failed.
      await forEachLimited(due, CONCURRENCY, async (item) => {
        if (item.kind === 'run') {
          const outcome = await this.dueRun(item.run, now);
          if (outcome === 'overdue') report.overdueRuns++;
          if (outcome === 'checked') report.checkedRuns++;
          return;
        }
        const task = item.task;
        if (task.status === 'RUNNING' && (await this.expiredLease(task, now, outbox))) report.expiredLeases++;
        if (task.status === 'QUEUED' && (await this.lostMessage(task, outbox))) report.resent++;
        if (task.status === 'WAITING' && (await this.dueWait(task, outbox))) report.released++;
      }).finally(async () => {
        if (outbox.length > 0) await this.queue.send(outbox);
      });
    }
    // Emitted on every sweep, 0 included, so the alarm on it always has data.
    this.metrics.count(ENGINE_METRICS.names.overdueRuns, report.overdueRuns);
    return report;
  }

  /**
   * After a restart of an engine whose queue and workers did not survive it (the local runtime,
   * whose SQS server keeps messages in memory): every QUEUED task's message is sent again and
   * every RUNNING attempt is taken for crashed, at once, instead of after a delivery grace or a
   * lease of minutes. Retries parked for later and run checks are left to the sweeps.
   */
  async recoverAfterRestart(): Promise<SweepReport> {
    const report: SweepReport = { expiredLeases: 0, resent: 0, released: 0, overdueRuns: 0, checkedRuns: 0 };
    // Whatever lease or deadline an item carries, it is due now: nothing of before is alive.
    const horizon = new Date(8.64e15);
    for await (const page of this.store.allDue(horizon)) {
      const outbox: OutgoingMessage[] = [];
      await forEachLimited(page, CONCURRENCY, async (item) => {
        if (item.kind !== 'task') return;
        const task = item.task;
        if (task.status === 'RUNNING' && (await this.expiredLease(task, horizon, outbox, 'the engine restarted while the attempt ran'))) {
          report.expiredLeases++;
        }
        if (task.status === 'QUEUED' && (await this.lostMessage(task, outbox))) report.resent++;
        const definition = await this.definitions.get(task.workflowId, task.version);
        const isTimer = executionPlan(definition, task.taskId).action.type === 'wait';
        if (task.status === 'WAITING' && isTimer && (await this.dueWait(task, outbox))) report.released++;
      }).finally(async () => {
        if (outbox.length > 0) await this.queue.send(outbox);
      });
    }
    return report;
  }

  private async expiredLease(
    due: DueTask,
    now: Date,
    outbox: OutgoingMessage[],
    why = 'the attempt lost its lease: its worker crashed or it ran past its timeout',
  ): Promise<boolean> {
    const definition = await this.definitions.get(due.workflowId, due.version);
    const task = executionPlan(definition, due.taskId);
    const fence = {
      runId: due.runId,
      taskId: due.taskId,
      attempt: due.attempt,
      leaseToken: due.leaseToken ?? '',
      startedAt: due.startedAt ?? now.toISOString(),
      leaseExpiredBy: now,
    };
    const error = { name: 'TimedOut', message: why, retryable: true };
    const record = await this.store.getTask(due.runId, due.taskId);
    const attemptInRun = due.attempt - (record?.attemptBase ?? 0);
    if (record?.cancelRequested === true) {
      const cancelled = await this.store.commitTaskResult({ ...fence, critical: task.critical, result: { status: 'CANCELLED', error: { ...error, name: 'Cancelled' } } });
      return cancelled.outcome === 'ok';
    }
    if (task.retry !== undefined && shouldRetry(task.retry, attemptInRun, error)) {
      const delaySeconds = retryDelaySeconds(task.retry, attemptInRun, this.random);
      const placement = retryPlacement(delaySeconds);
      const retried = await this.store.retryTask({
        ...fence,
        error,
        outcome: 'TIMED_OUT',
        status: placement === 'queue' ? 'QUEUED' : 'WAITING',
        dueAt: new Date(now.getTime() + delaySeconds * 1000),
      });
      if (retried.outcome !== 'ok') {
        // Refused because the run is being cancelled meanwhile: the attempt ends CANCELLED.
        if (retried.current?.cancelRequested === true && retried.current.status === 'RUNNING') {
          const cancelled = await this.store.commitTaskResult({ ...fence, critical: task.critical, result: { status: 'CANCELLED', error: { ...error, name: 'Cancelled' } } });
          return cancelled.outcome === 'ok';
        }
        return false;
      }
      if (placement === 'queue') {
        outbox.push({ message: messageOf(due, due.attempt + 1), delaySeconds: Math.min(QUEUES.maxDelaySeconds, delaySeconds) });
      }
      return true;
    }
    const failed = await this.store.commitTaskResult({ ...fence, critical: task.critical, result: { status: 'FAILED', error } });
    return failed.outcome === 'ok';
  }

  private async lostMessage(due: DueTask, outbox: OutgoingMessage[]): Promise<boolean> {
    // The deadline is when the message was due plus the grace: a retry's backoff is kept.
    const dueAt = due.expiresAt - TIMINGS.deliveryGraceSeconds * 1000;
    const extended = await this.store.extendDelivery({
      runId: due.runId,
      taskId: due.taskId,
      attempt: due.attempt,
      expiresAt: due.expiresAt,
      deliveryTimeoutSeconds: secondsUntil(dueAt, this.now()) + TIMINGS.deliveryGraceSeconds,
    });
    if (extended.outcome !== 'ok') return false;
    outbox.push({ message: messageOf(due, due.attempt), delaySeconds: secondsUntil(dueAt, this.now()) });
    return true;
  }

  /** A parked retry is queued; a wait task whose wake-up message was lost gets it again. */
  private async dueWait(due: DueTask, outbox: OutgoingMessage[]): Promise<boolean> {
    const definition = await this.definitions.get(due.workflowId, due.version);
    if (executionPlan(definition, due.taskId).action.type !== 'wait') return this.dueRetry(due, outbox);
    const extended = await this.store.extendDelivery({
      runId: due.runId,
      taskId: due.taskId,
      attempt: due.attempt,
      expiresAt: due.expiresAt,
      deliveryTimeoutSeconds: secondsUntil(due.expiresAt - TIMINGS.deliveryGraceSeconds * 1000, this.now()) + TIMINGS.deliveryGraceSeconds,
      status: 'WAITING',
    });
    if (extended.outcome !== 'ok') return false;
    // Its deadline is the wake-up time plus the grace: a wait not yet over is not ended early.
    const notBefore = due.expiresAt - TIMINGS.deliveryGraceSeconds * 1000;
    outbox.push({ message: { ...messageOf(due, due.attempt), notBefore }, delaySeconds: secondsUntil(notBefore, this.now()) });
    return true;
  }

  private async dueRetry(due: DueTask, outbox: OutgoingMessage[]): Promise<boolean> {
    const queued = await this.store.queueTask({
      runId: due.runId,
      taskId: due.taskId,
      expected: { status: 'WAITING', attempt: due.attempt },
      attempt: due.attempt,
      deliveryTimeoutSeconds: TIMINGS.deliveryGraceSeconds,
    });
    if (queued.outcome !== 'queued') return false;
    outbox.push({ message: messageOf(due, due.attempt) });
    return true;
  }

  /** A run past its deadline is stopped; any other unfinished run is checked against its tasks. */
  private async dueRun(due: DueRun, now: Date): Promise<'overdue' | 'checked' | 'skipped'> {
    if (due.status !== 'RUNNING' && due.status !== 'CANCELLING' && due.status !== 'COMPENSATING') return 'skipped';
    // Moved on first, so that one sweeper handles it (the others find it rescheduled).
    const claimed = await this.store.rescheduleRunCheck(due.runId, due.expiresAt, due.deadlineAt);
    if (claimed.outcome !== 'ok') return 'skipped';
    if (due.status === 'RUNNING' && due.deadlineAt !== undefined && due.deadlineAt <= now.getTime()) {
      const result = await this.store.requestCancel(due.runId, 'the run passed its deadline', 'FAILED');
      return result.outcome === 'cancelling' ? 'overdue' : 'skipped';
    }
    await this.reconcile?.(due.runId);
    return 'checked';
  }
}

function messageOf(due: DueTask, attempt: number) {
  return { runId: due.runId, taskId: due.taskId, attempt, workflowId: due.workflowId, version: due.version };
}

/** SQS DelaySeconds until `at` (0 when past, at most SQS's 15 minutes). */
function secondsUntil(at: number, now: Date): number {
  return Math.min(QUEUES.maxDelaySeconds, Math.max(0, Math.ceil((at - now.getTime()) / 1000)));
}
