// The sweeper: the safety net that finds what nothing else will move. It reads only the sparse
// index of due times (never a scan), page after page across every partition of it, and handles
// each item on its own: one that fails is logged and put off with a backoff, never in the way of
// the others (so no item, however broken, can starve the rest). For each item past its due time:
// - a QUEUED task: its message never led to a claim (lost): it is sent again;
// - a RUNNING task: its lease ran out (the worker crashed, or stalled past it): the attempt ends
//   as timed out, by the task's retry policy (a lease still alive is looked at again at its end);
// - a WAITING task: a parked retry is due (queued), or a wait's wake-up was lost (sent again);
// - a run past its deadline: it is cancelled, to end FAILED;
// - a run being resumed whose owner went quiet: the resume is taken over and finished;
// - any other unfinished run, every so often: it is checked against its tasks (the scheduler's
//   reconcile), so that a stream record AWS gave up on cannot leave it hanging.
// Every write is conditional on what was read, so sweepers that overlap do each thing once.
// A finished task keeps its entry (a removal would be a second index write per task): the sweeper
// reads only what came due after its mark (one per partition of the index), so it passes each
// stale entry about once, with one read.
import { ENGINE_METRICS } from '../config/metrics.js';
import { isFinalRunStatus, isFinalTaskStatus } from '../model/states.js';
import { endFailedAttempt, type AttemptDeps } from './attempts.js';
import { forEachLimited } from './concurrency.js';
import type { DefinitionSource } from './definition-cache.js';
import { messageFor } from './dispatch.js';
import { executionPlan } from './execution-plan.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import type { DueRef, DueStore, RunStore, TaskStore } from './ports.js';
import type { TaskRecord } from './records.js';
import type { ChildRuns } from './children.js';
import type { MapRuns } from './maps.js';
import { DEFAULT_TIMINGS, deliveryDueAt, runDueAt, type EngineTimings } from './timing.js';

export interface SweeperDeps {
  tasks: TaskStore;
  runs: RunStore;
  due: DueStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  now?: () => Date;
  random?: () => number;
  newToken?: () => string;
  metrics?: EngineMetrics;
  timings?: EngineTimings;
  /** Brings an unfinished run up to date from its tasks (the scheduler's `reconcile`). */
  reconcile?: (runId: string) => Promise<void>;
  /** A workflow task's child run: its state answers a parent whose answer was lost; it is cancelled when the parent times out. */
  children?: Pick<ChildRuns, 'check' | 'cancel'>;
  /** A map task's items: recounted while it waits (a lost count is found), cancelled when it times out. */
  mapRuns?: Pick<MapRuns, 'check' | 'cancel'>;
  /** Finishes a resume whose owner went quiet (run control's `takeOverResume`). */
  takeOverResume?: (runId: string) => Promise<void>;
  /** Items whose handling failed (they are put off and tried again later). */
  onError?: (error: unknown, item: DueRef) => void;
}

export interface SweepReport {
  expiredLeases: number;
  resent: number;
  released: number;
  /** Callback tasks whose wait (or heartbeat) ran out: ended by their retry policy. */
  timedOutCallbacks: number;
  overdueRuns: number;
  /** Unfinished runs checked against their tasks (or resumes taken over). */
  checkedRuns: number;
  /** Items whose handling failed: put off with a backoff. */
  failed: number;
}

const CONCURRENCY = 16;
/** Partitions of the index swept side by side. */
const PARALLEL_PARTITIONS = 8;
/** Failures after which an item that can be neither handled nor put off no longer holds its partition's mark. */
const GIVE_UP_AFTER = 5;
/** How soon a task the sweeper could not move on (another writer won) is looked at again. */
const KEEP_AHEAD_MS = 1_000;
/** How long an item whose handling failed is put off: doubled per failure (a sweep later, up to an hour). */
const FAILURE_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 3_600_000;

type Handled = keyof Omit<SweepReport, 'failed'> | undefined;

export class Sweeper {
  private readonly deps: Required<Omit<SweeperDeps, 'reconcile' | 'takeOverResume' | 'onError' | 'children' | 'mapRuns'>> & Pick<SweeperDeps, 'reconcile' | 'takeOverResume' | 'onError' | 'children' | 'mapRuns'>;
  /** Failures per item, for the backoff of the items that keep failing. */
  private readonly failures = new Map<string, number>();

  constructor(deps: SweeperDeps) {
    this.deps = {
      ...deps,
      now: deps.now ?? (() => new Date()),
      random: deps.random ?? Math.random,
      newToken: deps.newToken ?? (() => crypto.randomUUID()),
      metrics: deps.metrics ?? new RecordedMetrics(),
      timings: deps.timings ?? DEFAULT_TIMINGS,
    };
  }

  /**
   * One sweep: in each partition of the index, handles everything that came due since its mark,
   * the partitions furthest behind first, within `budgetMs`. Each item it handles moves on (a new
   * due time) or is over (a finished task keeps its entry), so a partition gone through moves its
   * mark on to the sweep's start, less the lag (if anything was due in it); one cut short by the
   * budget moves it to just before the last page handled; an item left where it was (its handling
   * and its putting off both failed, fewer than GIVE_UP_AFTER times) holds the mark before it.
   */
  async sweep(budgetMs = 50_000): Promise<SweepReport> {
    const report = emptyReport();
    const started = Date.now();
    const now = this.deps.now().getTime();
    const marks = await this.deps.due.readMarks();
    const behind = (partition: string) => marks[partition] ?? Number.NEGATIVE_INFINITY;
    const partitions = [...this.deps.due.partitions()].sort((a, b) => behind(a) - behind(b));
    const outOfTime = () => Date.now() - started > budgetMs;
    for (let i = 0; i < partitions.length && !outOfTime(); i += PARALLEL_PARTITIONS) {
      await Promise.all(partitions.slice(i, i + PARALLEL_PARTITIONS).map((partition) => this.sweepPartition(partition, marks[partition], now, outOfTime, report)));
    }
    // Emitted on every sweep, 0 included, so the alarm on it always has data.
    this.deps.metrics.count(ENGINE_METRICS.names.overdueRuns, report.overdueRuns);
    return report;
  }

  private async sweepPartition(partition: string, after: number | undefined, now: number, outOfTime: () => boolean, report: SweepReport): Promise<void> {
    let reached = now - this.deps.timings.sweepMarkLagSeconds * 1000;
    let leftAt = Number.POSITIVE_INFINITY;
    let found = false;
    for await (const page of this.deps.due.due(partition, now, after)) {
      found = true;
      leftAt = Math.min(leftAt, await this.handlePage(page, (item) => this.handleDue(item, now), report));
      if (outOfTime()) {
        // Pages come in due order: everything before the last one's due time was handled.
        reached = Math.min(reached, (page.at(-1)?.dueAt ?? Number.NEGATIVE_INFINITY) - 1);
        break;
      }
    }
    // A partition where nothing was due keeps its mark: reading from it again reads nothing more
    // (every entry written since is due later), and an idle engine writes nothing.
    const mark = Math.min(reached, leftAt - 1);
    if (found && mark > (after ?? Number.NEGATIVE_INFINITY)) await this.deps.due.saveMark(partition, mark);
  }

  /**
   * After a restart of an engine whose queue and workers did not survive it (the local runtime,
   * whose SQS server keeps messages in memory): every QUEUED task's message is sent again and
   * every RUNNING attempt is taken for crashed, at once, instead of after a delivery grace or a
   * lease of minutes. Parked retries and run checks are left to the sweeps.
   */
  async recoverAfterRestart(): Promise<SweepReport> {
    const report = emptyReport();
    // Whatever the sweeps passed is over or has moved on past the marks.
    const marks = await this.deps.due.readMarks();
    for (const partition of this.deps.due.partitions()) {
      for await (const page of this.deps.due.due(partition, Number.MAX_SAFE_INTEGER, marks[partition])) {
        await this.handlePage(page, (item) => (item.kind === 'task' ? this.recoverTask(item) : Promise.resolve({ handled: undefined, messages: [] })), report);
      }
    }
    return report;
  }

  /** Handles a page of items; returns the earliest due time of an item left where it was (its handling and its putting off failed). */
  private async handlePage(page: readonly DueRef[], handle: (item: DueRef) => Promise<{ handled: Handled; messages: OutgoingMessage[] }>, report: SweepReport): Promise<number> {
    const outbox: OutgoingMessage[] = [];
    let leftAt = Number.POSITIVE_INFINITY;
    await forEachLimited(page, CONCURRENCY, async (item) => {
      const key = item.kind === 'task' ? `${item.runId}/${item.taskId}` : item.runId;
      try {
        const { handled, messages } = await handle(item);
        outbox.push(...messages);
        if (handled !== undefined) report[handled]++;
        this.failures.delete(key);
      } catch (error) {
        report.failed++;
        this.deps.onError?.(error, item);
        await this.putOff(item, key).catch(() => {
          // Left where it was: it holds its partition's mark, until it has failed so often that
          // it is given up on (logged at each failure), so that no item holds the rest back.
          if ((this.failures.get(key) ?? 0) < GIVE_UP_AFTER) leftAt = Math.min(leftAt, item.dueAt);
        });
      }
    });
    if (outbox.length > 0) await this.deps.queue.send(outbox);
    return leftAt;
  }

  /** An item whose handling failed waits a while before the next try, so that it costs little. */
  private async putOff(item: DueRef, key: string): Promise<void> {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const next = this.deps.now().getTime() + Math.min(MAX_BACKOFF_MS, FAILURE_BACKOFF_MS * 2 ** (failures - 1));
    if (item.kind === 'run') await this.deps.runs.rescheduleRun({ runId: item.runId, previous: item.dueAt, next });
    else {
      const task = await this.deps.tasks.getTask(item.runId, item.taskId);
      if (task !== undefined && (task.status === 'QUEUED' || task.status === 'WAITING' || task.status === 'RUNNING')) {
        await this.deps.tasks.deferDue({ runId: item.runId, taskId: item.taskId, status: task.status, attempt: task.attempt, previous: item.dueAt, next });
      }
    }
  }

  private async handleDue(item: DueRef, now: number): Promise<{ handled: Handled; messages: OutgoingMessage[] }> {
    if (item.kind === 'run') return { handled: await this.dueRun(item, now), messages: [] };
    const task = await this.deps.tasks.getTask(item.runId, item.taskId);
    if (task === undefined || task.dueAt === undefined || isFinalTaskStatus(task.status)) return { handled: undefined, messages: [] };
    // Moved on since the index was read: looked at when due. (A move to a time already past, a
    // late write, is looked at now: the mark will have passed it.)
    if (task.dueAt !== item.dueAt && task.dueAt > now) return { handled: undefined, messages: [] };
    const result = await this.handleTask(task, task.dueAt, now);
    // Whatever stopped the handling (another writer won: a late lease extension, a heartbeat), the
    // task must not stay due at a time the mark passes.
    if (result.handled === undefined) await this.keepAhead(task, now);
    return result;
  }

  /** A live task still due by `now` is looked at again soon (its lease's end, or a moment later). */
  private async keepAhead(seen: TaskRecord, now: number): Promise<void> {
    const task = await this.deps.tasks.getTask(seen.runId, seen.taskId);
    if (task === undefined || task.dueAt === undefined || task.dueAt > now) return;
    if (task.status !== 'QUEUED' && task.status !== 'WAITING' && task.status !== 'RUNNING') return;
    const next = Math.max(task.leaseExpiresAt ?? 0, now + KEEP_AHEAD_MS);
    await this.deps.tasks.deferDue({ runId: task.runId, taskId: task.taskId, status: task.status, attempt: task.attempt, previous: task.dueAt, next });
  }

  private async handleTask(task: TaskRecord, dueAt: number, now: number): Promise<{ handled: Handled; messages: OutgoingMessage[] }> {
    const messages: OutgoingMessage[] = [];
    if (task.status === 'QUEUED') return { handled: (await this.resend(task, now, messages)) ? 'resent' : undefined, messages };
    if (task.status === 'WAITING' && task.callbackAttempt === task.attempt) return { handled: await this.dueCallback(task, dueAt, now), messages };
    if (task.status === 'WAITING') return { handled: (await this.dueWaiting(task, now, messages)) ? 'released' : undefined, messages };
    if (task.status === 'RUNNING') {
      if ((task.leaseExpiresAt ?? 0) > now) {
        // Alive (it heartbeats, or runs long): looked at again when its lease would run out.
        await this.deps.tasks.deferDue({ runId: task.runId, taskId: task.taskId, status: 'RUNNING', attempt: task.attempt, previous: dueAt, next: task.leaseExpiresAt ?? now });
        return { handled: undefined, messages };
      }
      const why = 'the attempt lost its lease: its worker crashed, stalled or ran past its timeout';
      return { handled: (await this.expiredLease(task, now, why)) ? 'expiredLeases' : undefined, messages };
    }
    return { handled: undefined, messages };
  }

  private async recoverTask(item: Extract<DueRef, { kind: 'task' }>): Promise<{ handled: Handled; messages: OutgoingMessage[] }> {
    const task = await this.deps.tasks.getTask(item.runId, item.taskId);
    const messages: OutgoingMessage[] = [];
    if (task === undefined || task.dueAt === undefined) return { handled: undefined, messages };
    const now = this.deps.now().getTime();
    if (task.status === 'QUEUED') return { handled: (await this.resend(task, now, messages)) ? 'resent' : undefined, messages };
    if (task.status === 'RUNNING') {
      // Whatever its lease says, the worker that held it is gone with the engine.
      const ended = await this.expiredLease(task, Number.MAX_SAFE_INTEGER, 'the engine restarted while the attempt ran');
      return { handled: ended ? 'expiredLeases' : undefined, messages };
    }
    if (task.status === 'WAITING' && (await this.isWaitTask(task))) {
      return { handled: (await this.resendWakeUp(task, now, messages)) ? 'released' : undefined, messages };
    }
    return { handled: undefined, messages };
  }

  /** A QUEUED task whose message is taken for lost: sent again (with what is left of its delay). */
  private async resend(task: TaskRecord, now: number, messages: OutgoingMessage[]): Promise<boolean> {
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const plan = executionPlan(definition, task.taskId, this.deps.timings);
    const previous = task.dueAt ?? now;
    const next = deliveryDueAt(now, 0, Math.max(plan.leaseMs, this.deps.timings.deliveryGraceSeconds * 1000), this.deps.timings);
    const deferred = await this.deps.tasks.deferDue({ runId: task.runId, taskId: task.taskId, status: 'QUEUED', attempt: task.attempt, previous, next });
    if (deferred.outcome !== 'ok') return false;
    messages.push(messageFor(task, task, now));
    return true;
  }

  private async dueWaiting(task: TaskRecord, now: number, messages: OutgoingMessage[]): Promise<boolean> {
    if (await this.isWaitTask(task)) return this.resendWakeUp(task, now, messages);
    // A retry parked beyond SQS's longest delay is due: it is queued.
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const plan = executionPlan(definition, task.taskId, this.deps.timings);
    const released = await this.deps.tasks.release({
      runId: task.runId,
      taskId: task.taskId,
      attempt: task.attempt,
      dueAt: deliveryDueAt(now, 0, plan.leaseMs, this.deps.timings),
      opToken: this.deps.newToken(),
    });
    if (released.outcome !== 'ok') return false;
    messages.push(messageFor(task, { ...task, status: 'QUEUED' }, now));
    return true;
  }

  /** A wait task whose wake-up message was lost gets it again (delayed until its end, if not yet). */
  private async resendWakeUp(task: TaskRecord, now: number, messages: OutgoingMessage[]): Promise<boolean> {
    const wakeAt = task.wakeAt ?? now;
    const next = Math.max(wakeAt, now) + this.deps.timings.deliveryGraceSeconds * 1000;
    const deferred = await this.deps.tasks.deferDue({ runId: task.runId, taskId: task.taskId, status: 'WAITING', attempt: task.attempt, previous: task.dueAt ?? now, next });
    if (deferred.outcome !== 'ok') return false;
    messages.push(messageFor(task, task, now));
    return true;
  }

  private async isWaitTask(task: TaskRecord): Promise<boolean> {
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    return executionPlan(definition, task.taskId, this.deps.timings).action.type === 'wait';
  }

  /**
   * A callback's wait ran out by `now` (its timeout, or the heartbeat deadline before it): the
   * attempt ends as timed out, by the task's retry policy. A heartbeat that moved the deadline on
   * meanwhile wins (the write is fenced by the deadline).
   */
  private async dueCallback(task: TaskRecord, dueAt: number, now: number): Promise<Handled> {
    const deadline = task.leaseExpiresAt ?? now;
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const plan = executionPlan(definition, task.taskId, this.deps.timings);
    const watched = plan.callback?.child === true || plan.callback?.map === true;
    if (watched) {
      // A look at the child (or the items) that fails must not keep the wait from timing out: it is noted, and the deadline still holds.
      const look = plan.callback?.map === true ? this.deps.mapRuns?.check(task) : this.deps.children?.check(task);
      const over = await look?.catch((error: unknown) => {
        this.deps.onError?.(error, { kind: 'task', runId: task.runId, taskId: task.taskId, dueAt });
        return false;
      });
      if (over === true) return 'checkedRuns';
    }
    if (deadline > now) {
      // A parent task looks at its child again after a while; any other wait at its deadline.
      const next = watched ? Math.min(deadline, now + this.deps.timings.reconcileIntervalSeconds * 1000) : deadline;
      await this.deps.tasks.deferDue({ runId: task.runId, taskId: task.taskId, status: 'WAITING', attempt: task.attempt, previous: dueAt, next });
      return undefined;
    }
    if (plan.callback?.child === true) {
      const error = { name: 'ChildWorkflowTimedOut', message: `child run ${task.childRunId ?? ''} did not end within ${plan.callback.timeoutSeconds} s`, retryable: true };
      const outcome = await endFailedAttempt(this.attemptDeps(), { task, plan, fence: { kind: 'callback-expired', now } }, error, { timedOut: true });
      if (outcome === 'stale') return undefined;
      await this.deps.children?.cancel(task, `its parent task ${task.taskId} timed out`);
      return 'timedOutCallbacks';
    }
    if (plan.callback?.map === true) {
      const error = { name: 'MapTimedOut', message: `the map's ${task.mapItems ?? 0} items did not all end within ${plan.callback.timeoutSeconds} s`, retryable: true };
      const outcome = await endFailedAttempt(this.attemptDeps(), { task, plan, fence: { kind: 'callback-expired', now } }, error, { timedOut: true });
      if (outcome === 'stale') return undefined;
      await this.deps.mapRuns?.cancel(task, `its map task ${task.taskId} timed out`);
      return 'timedOutCallbacks';
    }
    const heartbeatMissed = deadline < (task.wakeAt ?? deadline);
    const error = heartbeatMissed
      ? { name: 'CallbackHeartbeatTimedOut', message: `no heartbeat for ${plan.callback?.heartbeatSeconds ?? 0} s while the task waited for its callback`, retryable: true }
      : { name: 'CallbackTimedOut', message: `no answer to the callback within ${plan.callback?.timeoutSeconds ?? 0} s`, retryable: true };
    const outcome = await endFailedAttempt(this.attemptDeps(), { task, plan, fence: { kind: 'callback-expired', now } }, error, { timedOut: true });
    return outcome === 'stale' ? undefined : 'timedOutCallbacks';
  }

  /** The attempt's lease ran out by `now`: it ends as timed out, by the task's retry policy. */
  private async expiredLease(task: TaskRecord, now: number, why: string): Promise<boolean> {
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const plan = executionPlan(definition, task.taskId, this.deps.timings);
    const outcome = await endFailedAttempt(this.attemptDeps(), { task, plan, fence: { kind: 'expired', now } }, { name: 'TimedOut', message: why, retryable: true }, { timedOut: true });
    // A workflow task's attempt that died while starting its child: that child is cancelled (a retry starts a new one).
    if (outcome !== 'stale' && task.childRunId !== undefined) await this.deps.children?.cancel(task, `the attempt of its parent task ${task.taskId} timed out`);
    // A map task's attempt that died while starting its items: those it started are cancelled (a retry makes new ones).
    if (outcome !== 'stale' && task.mapItems !== undefined) await this.deps.mapRuns?.cancel(task, `the attempt of its map task ${task.taskId} timed out`);
    return outcome !== 'stale';
  }

  private async dueRun(item: Extract<DueRef, { kind: 'run' }>, now: number): Promise<Handled> {
    const run = await this.deps.runs.getRun(item.runId);
    if (run === undefined || run.dueAt !== item.dueAt) return undefined;
    // A finished run keeps its entry, which the mark passes.
    if (isFinalRunStatus(run.status)) return undefined;
    if (run.status === 'RESUMING') {
      const expiresAt = run.resume?.expiresAt ?? 0;
      if (expiresAt > now) {
        await this.deps.runs.rescheduleRun({ runId: run.runId, previous: item.dueAt, next: expiresAt });
        return undefined;
      }
      await this.deps.takeOverResume?.(run.runId);
      return 'checkedRuns';
    }
    // Moved on first, so that one sweeper handles it (the others find it rescheduled).
    const moved = await this.deps.runs.rescheduleRun({ runId: run.runId, previous: item.dueAt, next: runDueAt(now, run.deadlineAt, this.deps.timings) });
    if (moved.outcome !== 'ok') return undefined;
    if (run.status === 'RUNNING' && run.deadlineAt !== undefined && run.deadlineAt <= now) {
      const result = await this.deps.runs.requestCancel({ runId: run.runId, reason: 'the run passed its deadline', outcome: 'FAILED' });
      return result.outcome === 'cancelling' ? 'overdueRuns' : undefined;
    }
    await this.deps.reconcile?.(run.runId);
    return 'checkedRuns';
  }

  private attemptDeps(): AttemptDeps {
    return {
      tasks: this.deps.tasks,
      queue: this.deps.queue,
      metrics: this.deps.metrics,
      timings: this.deps.timings,
      now: this.deps.now,
      random: this.deps.random,
      newToken: this.deps.newToken,
    };
  }
}

function emptyReport(): SweepReport {
  return { expiredLeases: 0, resent: 0, released: 0, timedOutCallbacks: 0, overdueRuns: 0, checkedRuns: 0, failed: 0 };
}
