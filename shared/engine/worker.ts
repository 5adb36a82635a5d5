// The worker: runs one attempt of one task, following the check-then-execute-then-record protocol.
// It claims the attempt (a conditional write that hands out a lease), runs the task with a signal
// that fires on cancellation, on timeout and before the Lambda's deadline, and records the result
// with a write fenced by the lease. Then, at once, it dispatches the task's dependents (eager
// dispatch: the stream scheduler only completes what it did not), and when one becomes ready and
// this invocation has the time, it claims that one too and runs it here, through the same fenced
// writes: a chain of tasks runs without a queue hop. A task's own error is a result; only
// infrastructure errors escape (and the message is retried by SQS).
import { ENGINE_METRICS } from '../config/metrics.js';
import { QUEUES } from '../config/settings.js';
import { EngineError, NotFoundError } from '../model/errors.js';
import type { TaskContext, TaskLogger } from '../tasks/context.js';
import { LambdaDeadline, TaskCancelled, TaskTimedOut, toTaskError } from '../tasks/errors.js';
import { executeAction, valueScope, type ChildWorkflowSpec, type ExecutorEnv } from '../tasks/executors.js';
import { untilAborted } from '../tasks/until-aborted.js';
import { callbackTokenHash, newCallbackToken } from './callbacks.js';
import { LIMITS, jsonByteLength } from '../model/limits.js';
import { childRunId, type ChildRuns } from './children.js';
import { RunControl } from './run-control.js';
import { renderTemplate } from '../model/condition.js';
import { TaskFailure } from '../tasks/context.js';
import { attemptRecord, endFailedAttempt, finishAttempt, type AttemptDeps, type EndOutcome } from './attempts.js';
import type { DefinitionSource, LoadedDefinition } from './definition-cache.js';
import { EAGER_DISPATCH_LIMIT, dispatchRun, storedScope, type Dispatcher } from './dispatch.js';
import { executionPlan, type ExecutionPlan } from './execution-plan.js';
import { taskGraph, compensationGraph, type GraphNode } from './graph.js';
import { compensatedTaskId } from './compensation.js';
import type { CarriedScope, TaskMessage, TaskQueue } from './messages.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import type { CompletionStore, DefinitionStore, JoinStore, MapStore, RunStore, TaskStore } from './ports.js';
import type { MapRuns, MapTaskDefinition } from './maps.js';
import { itemAddress } from './map-items.js';
import type { FinishedTask, RunEnd } from './run-end.js';
import { runServices } from './keeper.js';
import type { FinalTaskStatus, TaskRecord } from './records.js';
import { DEFAULT_TIMINGS, type EngineTimings } from './timing.js';
import type { TaskError } from '../model/task-error.js';

export interface WorkerDeps {
  tasks: TaskStore;
  maps: MapStore;
  joins: JoinStore;
  runs: RunStore;
  completion: CompletionStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  executorEnv: ExecutorEnv;
  /** A logger for one attempt, with runId, taskId and attempt on every line. */
  loggerFor: (keys: { runId: string; taskId: string; attempt: number }) => TaskLogger;
  now?: () => Date;
  /** Random source in [0, 1) for retry jitter. */
  random?: () => number;
  /** Tokens for leases and operations. */
  newToken?: () => string;
  /** How often a running attempt checks whether its run is being cancelled. */
  cancelPollMs?: number;
  timings?: EngineTimings;
  metrics?: EngineMetrics;
  /** Whether a dependent that becomes ready may run in the same invocation (default: yes). */
  chain?: boolean;
  /** The workflow catalog: a workflow task without a pinned version starts the latest. */
  workflows?: Pick<DefinitionStore, 'getWorkflow'>;
}

/** What the worker knows of its own invocation (the Lambda context). */
export interface InvocationDeadline {
  getRemainingTimeInMillis(): number;
}

/** The signal fires this long before the Lambda's deadline, leaving time to record the result. */
const DEADLINE_MARGIN_MS = 3_000;
/** A wait task's message arriving this early is still taken as due (SQS delays are in seconds). */
const WAIT_TOLERANCE_MS = 1_000;
/**
 * How long a chain may hold the counts of the tasks it finished, to write them together (one
 * write per completion group instead of one per task): less than the scheduler's batching
 * window, so that the stream shows them counted and the scheduler does not count them again.
 */
const COUNT_HOLD_MS = 300;
/** A recording write that fails for the store's own reasons is tried again until this close to the deadline... */
const RECORD_MARGIN_MS = 1_000;
/** ...or this many times (outside Lambda, where no deadline is known). */
const MAX_RECORD_TRIES = 20;

/** Maps whose items' scope a worker keeps (each may hold a large input and outputs). */
const ITEM_SCOPES_KEPT = 4;

/** `waiting`: a callback task's attempt made its request and waits for the answer, holding nothing. */
export type WorkerOutcome = EndOutcome | 'not-claimable' | 'not-due' | 'waiting';

type ExecutionResult = { ok: true; output: unknown } | { ok: false; error: TaskError; cancelled: boolean };

interface Claimed {
  task: TaskRecord;
  plan: ExecutionPlan;
  input: unknown;
  upstream: Record<string, { output?: unknown }>;
  /** A callback task's token, handed out by this attempt (its hash was recorded by the claim). */
  callbackToken?: string;
}

export class Worker {
  private readonly deps: Required<Omit<WorkerDeps, 'chain' | 'workflows'>> & Pick<WorkerDeps, 'workflows'> & { chain: boolean };
  private readonly dispatcher: Dispatcher;
  private readonly runEnd: RunEnd;
  private readonly children: ChildRuns;
  private readonly maps: MapRuns;
  /** The scopes of the maps whose items this worker ran last (itemScope). */
  private readonly itemScopes = new Map<string, Promise<{ input?: unknown; tasks: Record<string, { output?: unknown }> }>>();
  private readonly runControl: RunControl;
  private readonly executorEnv: ExecutorEnv;

  constructor(deps: WorkerDeps) {
    this.deps = {
      ...deps,
      now: deps.now ?? (() => new Date()),
      random: deps.random ?? Math.random,
      newToken: deps.newToken ?? (() => crypto.randomUUID()),
      cancelPollMs: deps.cancelPollMs ?? 2_000,
      timings: deps.timings ?? DEFAULT_TIMINGS,
      metrics: deps.metrics ?? new RecordedMetrics(),
      chain: deps.chain ?? true,
    };
    ({ dispatcher: this.dispatcher, runEnd: this.runEnd, children: this.children, mapRuns: this.maps } = runServices(this.deps));
    this.runControl = new RunControl(this.deps);
    this.executorEnv = { ...this.deps.executorEnv, startChild: (spec, ctx, callback) => this.startChild(spec, ctx, callback) };
  }

  /** Handles one message; a chain of tasks that become ready runs on in the same call. */
  async process(message: TaskMessage, invocation?: InvocationDeadline): Promise<WorkerOutcome> {
    const definition = await this.deps.definitions.get(message.workflowId, message.version);
    const plan = executionPlan(definition, message.taskId, this.deps.timings);

    // A wait longer than SQS can delay a message is carried by re-sending it until it is due.
    const remainingWaitMs = (message.notBefore ?? 0) - this.deps.now().getTime();
    if (remainingWaitMs > WAIT_TOLERANCE_MS) {
      await this.deps.queue.send([{ message, delaySeconds: Math.min(QUEUES.maxDelaySeconds, remainingWaitMs / 1000) }]);
      return 'not-due';
    }
    if (plan.action.type === 'wait') return this.endWait(definition, message, invocation);

    // The scope the message carries, when it is whole; otherwise read alongside the claim (the
    // read is wasted only when the message was a duplicate).
    const carried = message.scopeJson === undefined ? undefined : (JSON.parse(message.scopeJson) as CarriedScope);
    const whole = carried !== undefined && plan.upstream.every((id) => Object.hasOwn(carried.upstream, id));
    const leaseToken = this.deps.newToken();
    const callback = plan.callback === undefined ? undefined : newCallbackToken(message);
    const child = plan.callback?.child === true ? childRunId(message) : undefined;
    const [scope, claim] = await Promise.all([
      whole
        ? Promise.resolve({ input: carried.input, tasks: carried.upstream })
        : plan.item !== undefined
          ? this.itemScope(message.runId, plan.item.mapId, plan.upstream, message.taskId)
          : this.deps.tasks.readScope(message.runId, plan.upstream, true),
      this.deps.tasks.claim({
        runId: message.runId,
        taskId: message.taskId,
        attempt: message.attempt,
        leaseToken,
        leaseExpiresAt: this.deps.now().getTime() + plan.leaseMs,
        opToken: this.deps.newToken(),
        ...(callback === undefined ? {} : { callbackTokenHash: callback.hash }),
        ...(child === undefined ? {} : { childRunId: child }),
      }),
    ]);
    if (claim.outcome === 'not-claimable') {
      this.deps.loggerFor({ runId: message.runId, taskId: message.taskId, attempt: message.attempt }).debug('attempt not claimable: a duplicate or stale message', {
        status: claim.current?.status,
      });
      return 'not-claimable';
    }
    const task = claim.task;
    if (task.queuedAt !== undefined && task.startedAt !== undefined) {
      this.deps.metrics.milliseconds(ENGINE_METRICS.names.schedulingLatency, Date.parse(task.startedAt) - Date.parse(task.queuedAt));
    }
    const claimed = { task, plan, input: scope.input, upstream: scope.tasks, ...(callback === undefined ? {} : { callbackToken: callback.token }) };
    return this.runChain(definition, claimed, invocation);
  }

  /** Runs a claimed attempt, records it, dispatches its dependents, and goes on with one it claimed. */
  private async runChain(definition: LoadedDefinition, first: Claimed, invocation: InvocationDeadline | undefined): Promise<WorkerOutcome> {
    let firstOutcome: WorkerOutcome = 'stale';
    const failures: unknown[] = [];
    const counts = new HeldCounts(this.deps.now);
    try {
      firstOutcome = await this.runLinks(definition, first, invocation, failures, counts);
    } finally {
      // Whatever ended the chain, what it finished is counted (the run may end here).
      await this.flushCounts(counts, invocation, failures);
    }
    // A step after a commit that failed for good (a send, a count) fails the message once the
    // chain has run: the scheduler does that step again from the stream.
    if (failures.length > 0) throw failures[0];
    return firstOutcome;
  }

  private async runLinks(definition: LoadedDefinition, first: Claimed, invocation: InvocationDeadline | undefined, failures: unknown[], counts: HeldCounts): Promise<WorkerOutcome> {
    let current: Claimed | undefined = first;
    let firstOutcome: WorkerOutcome | undefined;
    while (current !== undefined) {
      const claimed: Claimed = current;
      const { task } = claimed;
      const logger = this.deps.loggerFor({ runId: task.runId, taskId: task.taskId, attempt: task.attempt });
      logger.debug('task started');
      const result = await this.execute(claimed, logger, invocation);
      // A map with no items has its output at once; any other wait begins.
      const waits = claimed.callbackToken !== undefined && result.ok && !(claimed.plan.action.type === 'map' && Array.isArray(result.output));
      const outcome = waits ? await this.awaitCallback(claimed, logger, invocation) : await this.record(claimed, result, logger, invocation);
      // A workflow task's attempt that failed or was stopped while starting its child: the child (if it was made) is cancelled.
      if (!result.ok && task.childRunId !== undefined) {
        await this.children.cancel(task, `the attempt of its parent task ${task.taskId} ended ${outcome}`).catch((error: unknown) => {
          logger.warn('could not cancel the child run of a failed attempt', { childRunId: task.childRunId, error: String(error) });
        });
      }
      // A map's attempt that failed or was stopped while making its items: those it started are stopped.
      if ((!result.ok || outcome === 'cancelled') && claimed.plan.action.type === 'map') {
        await this.maps.cancel(task, `the attempt of its map task ${task.taskId} ended ${outcome}`).catch((error: unknown) => {
          logger.warn("could not cancel the items of a map's failed attempt", { error: String(error) });
        });
      }
      firstOutcome ??= outcome;
      if (claimed.plan.item !== undefined && (outcome === 'succeeded' || outcome === 'failed' || outcome === 'cancelled')) {
        await this.afterItem(task, outcome, result, invocation, failures);
      }
      // A map's item has no dependents: it starts the next item and is counted (afterItem).
      current =
        (outcome === 'succeeded' || outcome === 'failed') && claimed.plan.item === undefined
          ? await this.dispatchAfter(definition, task, outcome === 'succeeded' ? 'SUCCEEDED' : 'FAILED', result.ok ? result.output : undefined, claimed.input, invocation, failures, counts)
          : undefined;
    }
    return firstOutcome ?? 'stale';
  }

  private async flushCounts(counts: HeldCounts, invocation: InvocationDeadline | undefined, failures: unknown[]): Promise<void> {
    const finals = counts.take();
    if (finals.length === 0) return;
    await this.persistOrNote(() => this.runEnd.countFinished(finals), invocation, failures);
  }

  /** A step after a commit: tried like a recording write; a failure for good is noted (the chain goes on), not thrown. */
  private async persistOrNote(write: () => Promise<unknown>, invocation: InvocationDeadline | undefined, failures: unknown[]): Promise<void> {
    await this.persist(write, invocation).catch((error: unknown) => void failures.push(error));
  }

  /** Eager dispatch of a finished task's dependents; returns the dependent claimed to run here, if any. */
  private async dispatchAfter(
    definition: LoadedDefinition,
    finished: TaskRecord,
    status: FinalTaskStatus,
    output: unknown,
    input: unknown,
    invocation: InvocationDeadline | undefined,
    failures: unknown[],
    counts: HeldCounts,
  ): Promise<Claimed | undefined> {
    const isCompensation = compensatedTaskId(finished.taskId) !== undefined;
    const graph = isCompensation
      ? compensationGraph(definition, (await this.deps.runs.getRun(finished.runId))?.compensation?.tasks ?? [], this.deps.timings)
      : taskGraph(definition, this.deps.timings);
    const run = dispatchRun(finished, graph);
    const scope = storedScope(this.deps, finished.runId, { input: { value: input }, outputs: { [finished.taskId]: status === 'SUCCEEDED' ? { output } : {} } });
    const result = await this.dispatcher.afterFinish(run, { taskId: finished.taskId, status }, scope, {
      opTokenFor: () => this.deps.newToken(),
      newLeaseToken: () => this.deps.newToken(),
      eagerLimit: EAGER_DISPATCH_LIMIT,
      ...(this.deps.chain && !isCompensation ? { mayClaim: (node: GraphNode) => this.hasTimeFor(node, invocation) } : {}),
    });
    // A failure of these steps (or of a dependent's own write above) is noted, not thrown at once:
    // the messages of the dependents queued must go, and one claimed must still run here (nobody
    // else would until its lease ran out). The scheduler does the failed ones from the stream.
    failures.push(...result.failures);
    if (result.messages.length > 0) await this.persistOrNote(() => this.deps.queue.send(result.messages), invocation, failures);
    // Counted in its run's completion group (the run may end there): at once, or, while the chain
    // goes on here, with the tasks after it (a dependent cannot finish before it, so the run's end
    // is not held back). The scheduler counts it from the stream only if this does not happen.
    counts.hold({ ...finished, status });
    if (result.claimed === undefined || counts.heldFor() >= COUNT_HOLD_MS) await this.flushCounts(counts, invocation, failures);
    if (result.claimed === undefined) return undefined;
    const claimed = result.claimed.task;
    const plan = executionPlan(definition, claimed.taskId, this.deps.timings);
    return { task: claimed, plan, input, upstream: await scope.outputs(plan.upstream) };
  }

  /**
   * A map's item ended: at once, the next item starts and this one is counted in its chunk (the
   * map may end here). The scheduler does it again from the stream only if this does not happen.
   */
  private async afterItem(task: TaskRecord, outcome: 'succeeded' | 'failed' | 'cancelled', result: ExecutionResult, invocation: InvocationDeadline | undefined, failures: unknown[]): Promise<void> {
    const status = outcome === 'succeeded' ? 'SUCCEEDED' : outcome === 'failed' ? 'FAILED' : 'CANCELLED';
    const ended: TaskRecord = { ...task, status, ...(result.ok ? {} : { error: result.error }) };
    await this.persistOrNote(() => this.maps.afterItems([ended], 'worker'), invocation, failures);
  }

  /**
   * What a map's items see (the run's input, the map's upstream outputs) is the same for all of
   * them and never changes once the map has begun: read once per map and phase, and kept for the
   * next items this worker runs.
   */
  private itemScope(runId: string, mapId: string, upstream: readonly string[], itemId: string): Promise<{ input?: unknown; tasks: Record<string, { output?: unknown }> }> {
    const key = `${runId}:${mapId}:${itemAddress(itemId)?.phase ?? 0}`;
    let scope = this.itemScopes.get(key);
    if (scope === undefined) {
      scope = this.deps.tasks.readScope(runId, upstream, true);
      this.itemScopes.set(key, scope);
      // A failed read is not kept; the oldest map is forgotten past a few.
      scope.catch(() => this.itemScopes.delete(key));
      if (this.itemScopes.size > ITEM_SCOPES_KEPT) this.itemScopes.delete(this.itemScopes.keys().next().value ?? key);
    }
    return scope;
  }

  /** A ready task may run here if this invocation outlives its whole lease (with a margin). */
  private hasTimeFor(node: GraphNode, invocation: InvocationDeadline | undefined): boolean {
    if (node.waitEnd !== undefined || node.callback === true) return false;
    const remaining = invocation?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
    return remaining - DEADLINE_MARGIN_MS - RECORD_MARGIN_MS > node.leaseMs;
  }

  /** A wait task whose time has come ends, its attempt spanning the wait; then its dependents go on. */
  private async endWait(definition: LoadedDefinition, message: TaskMessage, invocation: InvocationDeadline | undefined): Promise<WorkerOutcome> {
    const task = await this.deps.tasks.getTask(message.runId, message.taskId);
    if (task === undefined || task.status !== 'WAITING' || task.attempt !== message.attempt) return 'not-claimable';
    const ended = await this.deps.tasks.endWait({
      runId: message.runId,
      taskId: message.taskId,
      attempt: message.attempt,
      record: attemptRecord(task, this.deps.now(), 'SUCCEEDED', undefined),
      opToken: this.deps.newToken(),
    });
    if (ended.outcome !== 'ok') return 'stale';
    this.deps.metrics.count(ENGINE_METRICS.names.taskSucceeded);
    const input = await this.deps.runs.getRunInput(message.runId);
    const failures: unknown[] = [];
    const counts = new HeldCounts(this.deps.now);
    let next: Claimed | undefined;
    try {
      next = await this.dispatchAfter(definition, task, 'SUCCEEDED', null, input, invocation, failures, counts);
    } finally {
      await this.flushCounts(counts, invocation, failures);
    }
    if (next !== undefined) await this.runChain(definition, next, invocation);
    if (failures.length > 0) throw failures[0];
    return 'succeeded';
  }

  private async execute(claimed: Claimed, logger: TaskLogger, invocation: InvocationDeadline | undefined): Promise<ExecutionResult> {
    const { task, plan } = claimed;
    const { runId, taskId, attempt } = task;
    const leaseToken = task.leaseToken ?? '';
    const controller = new AbortController();
    const timers: NodeJS.Timeout[] = [];
    const timeoutSeconds = plan.timeoutSeconds ?? this.deps.timings.defaultTaskTimeoutSeconds;
    timers.push(setTimeout(() => controller.abort(new TaskTimedOut(timeoutSeconds)), timeoutSeconds * 1000));
    if (invocation !== undefined) {
      const untilDeadline = invocation.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS;
      timers.push(setTimeout(() => controller.abort(new LambdaDeadline()), Math.max(0, untilDeadline)));
    }
    // Cancellation reaches a running attempt through its task item, polled while it runs.
    timers.push(
      setInterval(() => {
        this.deps.tasks.isStopRequested(runId, taskId).then(
          (requested) => {
            if (requested) controller.abort(new TaskCancelled());
          },
          (error: unknown) => logger.warn('could not check for cancellation', { error: String(error) }),
        );
      }, this.deps.cancelPollMs),
    );
    try {
      // A task whose run was cancelled between its queueing and its claim is not started.
      if (task.cancelRequested) controller.abort(new TaskCancelled());
      const upstream = Object.fromEntries(
        plan.upstream.map((id) => [id, claimed.upstream[id]?.output === undefined ? {} : { output: claimed.upstream[id]?.output }]),
      );
      const item = plan.item === undefined ? undefined : { value: task.item ?? null, index: plan.item.index };
      const ctx: TaskContext = {
        runId,
        taskId,
        input: claimed.input,
        upstream,
        attempt,
        checkpoint: task.checkpoint,
        signal: controller.signal,
        ...(item === undefined ? {} : { item }),
        // Stable across attempts (a map's item: across the map's attempts too); a task that runs
        // again after a compensation undid it gets a new one.
        idempotencyKey:
          plan.item !== undefined
            ? `${runId}:${plan.item.mapId}:${plan.item.index}${task.keyGeneration === undefined ? '' : `:${task.keyGeneration}`}`
            : task.keyGeneration === undefined
              ? `${runId}:${taskId}`
              : `${runId}:${taskId}:${task.keyGeneration}`,
        logger,
        saveCheckpoint: async (data) => {
          const saved = await this.deps.tasks.saveCheckpoint({ runId, taskId, attempt, leaseToken, checkpoint: data });
          if (saved.outcome === 'stale') throw new Error('the attempt lost its lease; checkpoint not saved');
        },
        heartbeat: async () => {
          const extended = await this.deps.tasks.extendLease({
            runId,
            taskId,
            attempt,
            leaseToken,
            leaseExpiresAt: this.deps.now().getTime() + plan.leaseMs,
          });
          if (extended.outcome === 'stale') throw new Error('the attempt lost its lease');
        },
      };
      const callback = claimed.callbackToken === undefined ? undefined : { token: claimed.callbackToken };
      const output =
        plan.action.type === 'map'
          ? await untilAborted(this.startMap(task, plan.action, ctx), controller.signal)
          : await untilAborted(executeAction(plan.action, ctx, this.executorEnv, callback), controller.signal);
      return { ok: true, output };
    } catch (error) {
      return { ok: false, error: toTaskError(error, controller.signal), cancelled: controller.signal.reason instanceof TaskCancelled };
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  /**
   * A callback task's attempt made its request (if it has one): it now waits for the answer
   * without a lease, until its timeout (or its first heartbeat's deadline), when the sweeper ends
   * it. An answer that came while the request was still being made has ended it already.
   */
  private async awaitCallback(claimed: Claimed, logger: TaskLogger, invocation: InvocationDeadline | undefined): Promise<WorkerOutcome> {
    const { task, plan } = claimed;
    const wait = plan.callback ?? { timeoutSeconds: 0 };
    const now = this.deps.now().getTime();
    const waitEndsAt = now + wait.timeoutSeconds * 1000;
    const deadline = wait.heartbeatSeconds === undefined ? waitEndsAt : Math.min(waitEndsAt, now + wait.heartbeatSeconds * 1000);
    // A parent task looks at its child now and then, in case the child's end was not passed on;
    // a map at its items, in case their counts were lost.
    const checkAt = wait.child === true || wait.map === true ? now + this.deps.timings.reconcileIntervalSeconds * 1000 : undefined;
    const opToken = this.deps.newToken();
    const waited = await this.persist(
      () =>
        this.deps.tasks.awaitCallback({
          runId: task.runId,
          taskId: task.taskId,
          attempt: task.attempt,
          leaseToken: task.leaseToken ?? '',
          waitEndsAt,
          deadline,
          ...(checkAt === undefined ? {} : { checkAt }),
          opToken,
        }),
      invocation,
    );
    if (waited.outcome === 'ok') {
      logger.info('task waiting for its callback', { waitEndsAt: new Date(waitEndsAt).toISOString() });
      return 'waiting';
    }
    const current = waited.current;
    if (current?.status === 'RUNNING' && current.attempt === task.attempt && current.cancelRequested) {
      await this.children.cancel(current, `its parent run ${task.runId} was cancelled`);
      const cancelled = { name: 'Cancelled', message: 'the run was cancelled before the callback task began its wait', retryable: false };
      return this.record(claimed, { ok: false, error: cancelled, cancelled: true }, logger, invocation);
    }
    logger.debug('callback wait not begun: answered already, or the attempt lost its lease', { status: current?.status });
    return 'stale';
  }

  /**
   * A workflow task's attempt starts its child run: the pinned version or the latest, with the
   * task's input template rendered, and the token its end will answer. The run id is the attempt's
   * own, so a start repeated after a lost answer finds the run it made.
   */
  private async startChild(spec: ChildWorkflowSpec, ctx: TaskContext, callback: { token: string }): Promise<void> {
    const version = spec.version ?? (await this.deps.workflows?.getWorkflow(spec.id))?.latestVersion;
    const notFound = () => new TaskFailure('ChildWorkflowNotFound', `workflow "${spec.id}"${spec.version === undefined ? '' : ` version ${spec.version}`} is not registered`, { retryable: false });
    if (version === undefined) throw notFound();
    const definition = await this.deps.definitions.get(spec.id, version).catch((error: unknown) => {
      throw error instanceof NotFoundError ? notFound() : error;
    });
    const input = spec.input === undefined ? {} : renderTemplate(spec.input, { input: ctx.input, upstream: ctx.upstream }, { where: 'workflow.input' });
    // A workflow that starts itself (or a cycle of them) stops at a depth, instead of growing until its timeouts.
    const depth = ((await this.deps.runs.getRun(ctx.runId))?.parent?.depth ?? 0) + 1;
    if (depth > LIMITS.maxChildDepth) {
      throw new TaskFailure('ChildWorkflowTooDeep', `child runs nest at most ${LIMITS.maxChildDepth} deep; this one would be ${depth}`, { retryable: false });
    }
    const parent = { runId: ctx.runId, taskId: ctx.taskId, attempt: ctx.attempt };
    const runId = childRunId(parent);
    const link = { ...parent, tokenHash: callbackTokenHash(callback.token), depth };
    await this.runControl.start({ runId, definition, input, idempotency: { key: `child:${runId}`, requestFingerprint: runId }, parent: link });
  }

  /**
   * A map task's attempt: its list resolved and checked, its items made and the first of them
   * started (maps.ts). Resolves with null to wait for them, or with [] for an empty list.
   */
  private async startMap(task: TaskRecord, map: MapTaskDefinition, ctx: TaskContext): Promise<unknown[] | null> {
    const items = renderTemplate(map.items, valueScope(ctx), { where: 'items' });
    if (!Array.isArray(items)) {
      const kind = items === null ? 'null' : typeof items;
      throw new TaskFailure('MapItemsNotAList', `items (${map.items}) is ${kind}, not a list`, { retryable: false });
    }
    if (items.length > LIMITS.maxMapItems) {
      throw new TaskFailure('MapTooManyItems', `items has ${items.length} entries; a map runs at most ${LIMITS.maxMapItems}`, { retryable: false });
    }
    const large = items.findIndex((item) => jsonByteLength(item) > LIMITS.maxMapItemBytes);
    if (large >= 0) {
      throw new TaskFailure('MapItemTooLarge', `item ${large} is ${jsonByteLength(items[large])} bytes; an item may be at most ${LIMITS.maxMapItemBytes}`, { retryable: false });
    }
    const started = await this.maps.start(task, map, items, ctx.signal);
    return 'output' in started ? started.output : null;
  }

  private async record(claimed: Claimed, result: ExecutionResult, logger: TaskLogger, invocation: InvocationDeadline | undefined): Promise<EndOutcome> {
    const { task, plan } = claimed;
    const ending = { task, plan, fence: { kind: 'lease' as const, leaseToken: task.leaseToken ?? '' } };
    // One operation token for the ending, whichever write makes it and however often it is tried:
    // a write applied whose answer was lost is then recognized as this worker's own.
    const opToken = this.deps.newToken();
    const deps = { ...this.attemptDeps(), newToken: () => opToken };
    let outcome: EndOutcome;
    if (result.ok) {
      outcome = await this.persist(() => finishAttempt(deps, ending, { status: 'SUCCEEDED', output: result.output }), invocation).catch((error: unknown) => {
        if (!(error instanceof EngineError) || error.code !== 'PAYLOAD_TOO_LARGE') throw error;
        // An output the store cannot hold is the task's failure, not retried.
        const tooLarge = { name: 'OutputTooLarge', message: error.message, retryable: false };
        return this.persist(() => finishAttempt(deps, ending, { status: 'FAILED', error: tooLarge }), invocation);
      });
    } else if (result.cancelled) {
      outcome = await this.persist(() => finishAttempt(deps, ending, { status: 'CANCELLED', error: result.error }), invocation);
    } else {
      outcome = await this.persist(() => endFailedAttempt(deps, ending, result.error), invocation);
    }
    if (outcome === 'stale') logger.warn('result refused: the attempt lost its lease');
    else if (outcome === 'failed' || outcome === 'retrying') logger.warn(`task ${outcome === 'failed' ? 'failed' : 'failed; retrying'}`, { error: result.ok ? undefined : result.error });
    else logger.info(`task ${outcome}`);
    return outcome;
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

  /**
   * A write that records work already done is tried again while the store is unavailable
   * (throttling, conflicts the SDK gave up on), until the invocation's deadline is near: giving
   * up would leave the attempt to time out and be done again.
   */
  private async persist<T>(write: () => Promise<T>, invocation: InvocationDeadline | undefined): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        const transient = error instanceof EngineError && error.retryable;
        const remaining = invocation?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
        const pause = Math.min(2_000, 50 * 2 ** attempt) * (0.5 + this.deps.random() / 2);
        if (!transient || attempt >= MAX_RECORD_TRIES || remaining - pause < RECORD_MARGIN_MS + DEADLINE_MARGIN_MS) throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }
}

/** The finished tasks of a chain not yet counted, and since when the first of them waits. */
class HeldCounts {
  private finals: FinishedTask[] = [];
  private since = 0;

  constructor(private readonly now: () => Date) {}

  hold(task: FinishedTask): void {
    if (this.finals.length === 0) this.since = this.now().getTime();
    this.finals.push(task);
  }

  heldFor(): number {
    return this.finals.length === 0 ? 0 : this.now().getTime() - this.since;
  }

  take(): FinishedTask[] {
    return this.finals.splice(0);
  }
}
