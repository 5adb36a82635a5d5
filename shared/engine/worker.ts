// The worker: runs one attempt of one task, following the check-then-execute-then-record
// protocol. It claims the attempt (conditional write), builds the handler context, executes the
// task with a signal that fires on timeout and before the Lambda's deadline, then records the
// result with a fenced write, or schedules the next attempt by the task's retry policy.
// A task's own error is a result; only infrastructure errors escape (and the message is retried).
import type { DefinitionCache } from './definition-cache.js';
import { executionPlan, type ExecutionPlan } from './execution-plan.js';
import { ENGINE_METRICS, type EngineMetricName } from '../config/metrics.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import { PayloadTooLargeError } from '../model/errors.js';
import type { TaskMessage, TaskQueue } from './messages.js';
import { retryDelaySeconds, retryPlacement, shouldRetry } from './retry-policy.js';
import { QUEUES, TIMINGS } from '../config/settings.js';
import type { DynamoStore, RunRecord, TaskError, TaskRecord } from '../aws/dynamo/store.js';
import type { TaskContext, TaskLogger } from '../tasks/context.js';
import { LambdaDeadline, TaskCancelled, TaskTimedOut, toTaskError } from '../tasks/errors.js';
import { executeAction, type ExecutorEnv } from '../tasks/executors.js';
import { untilAborted } from '../tasks/until-aborted.js';

export interface WorkerDeps {
  store: DynamoStore;
  queue: TaskQueue;
  definitions: DefinitionCache;
  executorEnv: ExecutorEnv;
  /** A logger for one attempt, with runId, taskId and attempt on every line. */
  loggerFor: (keys: { runId: string; taskId: string; attempt: number }) => TaskLogger;
  now?: () => Date;
  /** Random source in [0, 1) for retry jitter. */
  random?: () => number;
  /** How often a running attempt checks whether its run is being cancelled. */
  cancelPollMs?: number;
  /** Lease beyond the task's timeout, so a slow commit is not taken for a crash. */
  leaseGraceSeconds?: number;
  metrics?: EngineMetrics;
}

/** What the worker knows of its own invocation (the Lambda context). */
export interface InvocationDeadline {
  getRemainingTimeInMillis(): number;
}

/** Extra lease beyond the task's timeout, so a slow commit is not mistaken for a crash. */
const DEFAULT_LEASE_GRACE_SECONDS = 30;
/** The signal fires this long before the Lambda's deadline, leaving time to record the result. */
const DEADLINE_MARGIN_MS = 3_000;
/** A wait task's message arriving this early is still taken as due (SQS delays are in seconds). */
const WAIT_TOLERANCE_MS = 1_000;

export type AttemptOutcome = 'succeeded' | 'failed' | 'retrying' | 'cancelled' | 'not-claimable' | 'stale' | 'not-due';

type ExecutionResult = { ok: true; output: unknown } | { ok: false; error: TaskError; cancelled: boolean };

export class Worker {
  private readonly store: DynamoStore;
  private readonly queue: TaskQueue;
  private readonly definitions: DefinitionCache;
  private readonly executorEnv: ExecutorEnv;
  private readonly loggerFor: WorkerDeps['loggerFor'];
  private readonly now: () => Date;
  private readonly random: () => number;
  private readonly cancelPollMs: number;
  private readonly leaseGraceSeconds: number;
  private readonly metrics: EngineMetrics;

  constructor(deps: WorkerDeps) {
    this.metrics = deps.metrics ?? new RecordedMetrics();
    this.cancelPollMs = deps.cancelPollMs ?? 2_000;
    this.leaseGraceSeconds = deps.leaseGraceSeconds ?? DEFAULT_LEASE_GRACE_SECONDS;
    this.store = deps.store;
    this.queue = deps.queue;
    this.definitions = deps.definitions;
    this.executorEnv = deps.executorEnv;
    this.loggerFor = deps.loggerFor;
    this.now = deps.now ?? (() => new Date());
    this.random = deps.random ?? Math.random;
  }

  private leaseSecondsOf(task: ExecutionPlan): number {
    return (task.heartbeatSeconds ?? task.timeoutSeconds ?? TIMINGS.defaultTaskTimeoutSeconds) + this.leaseGraceSeconds;
  }

  async process(message: TaskMessage, invocation?: InvocationDeadline): Promise<AttemptOutcome> {
    const definition = await this.definitions.get(message.workflowId, message.version);
    const task = executionPlan(definition, message.taskId);
    const logger = this.loggerFor({ runId: message.runId, taskId: message.taskId, attempt: message.attempt });

    // A wait longer than SQS can delay a message is carried by re-sending it until it is due.
    const remainingWaitMs = (message.notBefore ?? 0) - this.now().getTime();
    if (remainingWaitMs > WAIT_TOLERANCE_MS) {
      await this.queue.send([{ message, delaySeconds: Math.min(QUEUES.maxDelaySeconds, remainingWaitMs / 1000) }]);
      return 'not-due';
    }
    // A wait task has nothing to run: its time has come, so it ends, its attempt spanning the wait.
    if (task.action.type === 'wait') {
      const finished = await this.store.finishWait({ runId: message.runId, taskId: message.taskId, attempt: message.attempt });
      if (finished.outcome === 'ok') this.recordFinished(ENGINE_METRICS.names.taskSucceeded, undefined);
      return finished.outcome === 'ok' ? 'succeeded' : 'stale';
    }

    // Read before the claim: a failing read is an infrastructure error (the message is retried),
    // never the task's own failure.
    const [run, upstreamOutputs] = await Promise.all([
      this.store.getRun(message.runId),
      this.store.getTaskOutputs(message.runId, task.upstream),
    ]);
    const claim = await this.store.claimTask({
      runId: message.runId,
      taskId: message.taskId,
      attempt: message.attempt,
      leaseSeconds: this.leaseSecondsOf(task),
    });
    if (claim.outcome === 'not-claimable') {
      logger.info('attempt not claimable: a duplicate or stale message', { status: claim.current?.status });
      return 'not-claimable';
    }
    const claimed = claim.task;
    logger.info('task started');
    if (claimed.queuedAt !== undefined && claimed.startedAt !== undefined) {
      this.metrics.milliseconds(ENGINE_METRICS.names.schedulingLatency, Date.parse(claimed.startedAt) - Date.parse(claimed.queuedAt));
    }

    const result = await this.execute(task, claimed, { run, upstreamOutputs }, logger, invocation);
    return this.record(message, task, claimed, result, logger);
  }

  private async execute(
    task: ExecutionPlan,
    claimed: TaskRecord,
    { run, upstreamOutputs }: { run: RunRecord | undefined; upstreamOutputs: Record<string, { output?: unknown }> },
    logger: TaskLogger,
    invocation: InvocationDeadline | undefined,
  ): Promise<ExecutionResult> {
    const { runId, taskId, attempt } = claimed;
    const leaseToken = claimed.leaseToken ?? '';
    const controller = new AbortController();
    const timers: NodeJS.Timeout[] = [];
    const timeoutSeconds = task.timeoutSeconds ?? TIMINGS.defaultTaskTimeoutSeconds;
    timers.push(setTimeout(() => controller.abort(new TaskTimedOut(timeoutSeconds)), timeoutSeconds * 1000));
    if (invocation !== undefined) {
      const untilDeadline = invocation.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
      timers.push(setTimeout(() => controller.abort(new LambdaDeadline()), Math.max(0, untilDeadline)));
    }
    // Cancellation reaches a running attempt through its task item, polled while it runs.
    timers.push(
      setInterval(() => {
        this.store.isCancelRequested(runId, taskId).then(
          (requested) => {
            if (requested) controller.abort(new TaskCancelled());
          },
          (error: unknown) => logger.warn('could not check for cancellation', { error: String(error) }),
        );
      }, this.cancelPollMs),
    );
    try {
      // A task queued just before its run was cancelled is not started.
      if (run === undefined || run.status !== task.runStatus || claimed.cancelRequested) controller.abort(new TaskCancelled());
      const upstream = Object.fromEntries(
        Object.entries(upstreamOutputs).map(([id, value]) => [id, value.output === undefined ? {} : { output: value.output }]),
      );
      const ctx: TaskContext = {
        runId,
        taskId,
        input: run?.input,
        upstream,
        attempt,
        checkpoint: claimed.checkpoint,
        signal: controller.signal,
        // Stable across attempts; a task that runs again after a compensation undid it gets a new one.
        idempotencyKey: claimed.keyGeneration === undefined ? `${runId}:${taskId}` : `${runId}:${taskId}:${claimed.keyGeneration}`,
        logger,
        saveCheckpoint: async (data) => {
          const saved = await this.store.saveCheckpoint({ runId, taskId, attempt, leaseToken, checkpoint: data });
          if (saved.outcome === 'stale') throw new Error('the attempt lost its lease; checkpoint not saved');
        },
        heartbeat: async () => {
          const extended = await this.store.extendLease({
            runId,
            taskId,
            attempt,
            leaseToken,
            leaseSeconds: this.leaseSecondsOf(task),
          });
          if (extended.outcome === 'stale') throw new Error('the attempt lost its lease');
        },
      };
      const output = await untilAborted(executeAction(task.action, ctx, this.executorEnv), controller.signal);
      return { ok: true, output };
    } catch (error) {
      return {
        ok: false,
        error: toTaskError(error, controller.signal),
        cancelled: controller.signal.reason instanceof TaskCancelled,
      };
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  private async record(
    message: TaskMessage,
    task: ExecutionPlan,
    claimed: TaskRecord,
    result: ExecutionResult,
    logger: TaskLogger,
  ): Promise<AttemptOutcome> {
    const fence = {
      runId: claimed.runId,
      taskId: claimed.taskId,
      attempt: claimed.attempt,
      leaseToken: claimed.leaseToken ?? '',
      startedAt: claimed.startedAt ?? this.now().toISOString(),
    };
    if (result.ok) {
      try {
        const committed = await this.store.commitTaskResult({
          ...fence,
          critical: task.critical,
          result: { status: 'SUCCEEDED', output: result.output },
        });
        logger.info(committed.outcome === 'ok' ? 'task succeeded' : 'result refused: the attempt lost its lease');
        if (committed.outcome === 'ok') this.recordFinished(ENGINE_METRICS.names.taskSucceeded, fence.startedAt);
        return committed.outcome === 'ok' ? 'succeeded' : 'stale';
      } catch (error) {
        if (!(error instanceof PayloadTooLargeError)) throw error;
        const tooLarge = { name: 'OutputTooLarge', message: error.message, retryable: false };
        return this.record(message, task, claimed, { ok: false, error: tooLarge, cancelled: false }, logger);
      }
    }

    if (result.cancelled) {
      const committed = await this.store.commitTaskResult({ ...fence, critical: task.critical, result: { status: 'CANCELLED', error: result.error } });
      logger.info('task cancelled');
      return committed.outcome === 'ok' ? 'cancelled' : 'stale';
    }

    // Attempts made before a resume do not count against the retry policy.
    const attemptInRun = claimed.attempt - claimed.attemptBase;
    if (task.retry !== undefined && shouldRetry(task.retry, attemptInRun, result.error)) {
      const delaySeconds = retryDelaySeconds(task.retry, attemptInRun, this.random);
      const placement = retryPlacement(delaySeconds);
      const retried = await this.store.retryTask({
        ...fence,
        error: result.error,
        status: placement === 'queue' ? 'QUEUED' : 'WAITING',
        dueAt: new Date(this.now().getTime() + delaySeconds * 1000),
      });
      if (retried.outcome === 'stale') {
        // Refused because the run is being cancelled: the attempt ends CANCELLED, not retried.
        if (retried.current?.cancelRequested === true && retried.current.status === 'RUNNING') {
          return this.record(message, task, claimed, { ok: false, error: result.error, cancelled: true }, logger);
        }
        return 'stale';
      }
      if (placement === 'queue') {
        await this.queue.send([{ message: { ...message, attempt: claimed.attempt + 1 }, delaySeconds }]);
      }
      logger.warn('task failed; retrying', { error: result.error, delaySeconds });
      this.metrics.count(ENGINE_METRICS.names.taskRetried);
      return 'retrying';
    }

    const committed = await this.store.commitTaskResult({
      ...fence,
      critical: task.critical,
      result: { status: 'FAILED', error: result.error },
    });
    logger.warn('task failed', { error: result.error });
    if (committed.outcome === 'ok') this.recordFinished(ENGINE_METRICS.names.taskFailed, fence.startedAt);
    return committed.outcome === 'ok' ? 'failed' : 'stale';
  }

  /** A finished task's count, and its duration when it ran (a wait task's time is not work). */
  private recordFinished(name: EngineMetricName, startedAt: string | undefined): void {
    this.metrics.count(name);
    if (startedAt !== undefined) this.metrics.milliseconds(ENGINE_METRICS.names.taskDuration, this.now().getTime() - Date.parse(startedAt));
  }
}
