// Dispatch: what happens to a task's dependents when it finishes, and to tasks whose join rule is
// decided without a new outcome (a run's roots, the ready tasks of a resumed run). Written once,
// used by the worker (at once, after its commit: eager dispatch, the latency path) and by the
// scheduler (from the stream: the safety net that completes whatever a worker did not).
//
// Work per finished task is O(its out-degree): each dependent gets one small write that records
// the outcome and, when that decides its join rule, moves it on in the same write (one dependency)
// or right after (several). Every write is conditional and carries an operation token, so doing a
// step twice (worker and scheduler, or a replayed record) is harmless: the one that moved a task
// on sends its message; a replay of the same cause recognizes its own write and sends it again.
import { evaluateCondition } from '../model/condition.js';
import type { TaskStatus } from '../model/states.js';
import { forEachLimited } from './concurrency.js';
import type { GraphNode, PhaseGraph } from './graph.js';
import { completeGroupCounts, earlyDecision, joinCounts, joinGroupOf, joinGroupSizes, usesJoinGroups } from './join.js';
import { decideTask, joinDecision } from './join-rules.js';
import { carryScope, type CarriedScope, type OutgoingMessage } from './messages.js';
import type { JoinStore, NextStep, RunStore, TaskStore } from './ports.js';
import type { FinalTaskStatus, TaskRecord } from './records.js';
import { deliveryDueAt, type EngineTimings } from './timing.js';
import { QUEUES } from '../config/settings.js';

/** One phase of one run, as dispatch sees it. */
export interface DispatchRun {
  runId: string;
  workflowId: string;
  version: string;
  phase: number;
  graph: PhaseGraph;
}

/** The phase of `run` (a run, or one of its tasks) that dispatch moves on, over `graph`. */
export function dispatchRun(run: Pick<DispatchRun, 'runId' | 'workflowId' | 'version' | 'phase'>, graph: PhaseGraph): DispatchRun {
  return { runId: run.runId, workflowId: run.workflowId, version: run.version, phase: run.phase, graph };
}

/** Where a task's `when` finds the run's input and its dependencies' outputs (read when needed). */
export interface ScopeSource {
  input(): Promise<unknown>;
  outputs(taskIds: readonly string[]): Promise<Record<string, { output?: unknown }>>;
  /** The input and these outputs, when they are known without a read; undefined otherwise. */
  known(taskIds: readonly string[]): CarriedScope | undefined;
  /**
   * Reads the input (once) when these outputs are known, so that the message of a task queued
   * with them carries its scope and its worker reads nothing before it runs.
   */
  prepare(taskIds: readonly string[]): Promise<void>;
}

export interface DispatchOptions {
  /** The operation token of the change made to `taskId`: a replay of the same cause passes the same one. */
  opTokenFor(taskId: string): string;
  /** Whether a ready task may be claimed to run here and now (the worker's chaining); one at most is. */
  mayClaim?(node: GraphNode): boolean;
  /** A new lease token, for a claimed task. */
  newLeaseToken?(): string;
  /** Dependents whose outcome is known to be recorded already (the scheduler's look-ahead in a batch). */
  alreadyHandled?(dependentId: string): boolean;
  /**
   * Handles only the first `eagerLimit` dependents (or tasks to start) and leaves the rest to the
   * scheduler, which sees the same change on the stream. The worker and the API pass it: a wide
   * fan-out done on both sides at once would have every write of one side refused.
   */
  eagerLimit?: number;
}

/** How many dependents (or roots) the worker and the API move on themselves; the scheduler does the rest. */
export const EAGER_DISPATCH_LIMIT = 16;

export interface DispatchResult {
  /** Messages of the tasks this dispatch queued (or started waiting): the caller sends them. */
  messages: OutgoingMessage[];
  /** The one task claimed to run here, if any. */
  claimed?: { task: TaskRecord; node: GraphNode };
  /**
   * What the writes showed of the dependents (as they now are, written or not) and of the join
   * groups they recorded in (by `taskId/group`): the scheduler's later records of a batch see it.
   */
  observed: { tasks: Map<string, TaskRecord>; joins: Map<string, ReadonlySet<string>> };
  /**
   * The errors of the dependents (or tasks) that could not be handled. The others were, and their
   * messages and claim are in this result: the caller sends and runs them, then fails (the stream
   * or the next check does the failed ones again). Thrown at once, they would be lost.
   */
  failures: unknown[];
}

/** Raises the first failure of a dispatch, once the caller has sent its messages. */
export function throwFirstFailure(result: Pick<DispatchResult, 'failures'>): void {
  if (result.failures.length > 0) throw result.failures[0];
}

export type Decision = { decision: 'ready' } | { decision: 'skip'; reason: string };

/** How many dependents of one task are handled at once. */
const CONCURRENCY = 16;

export class Dispatcher {
  constructor(
    private readonly deps: {
      tasks: Pick<TaskStore, 'advance'>;
      joins: JoinStore;
      now: () => Date;
      timings: EngineTimings;
    },
  ) {}

  /** Records `finished`'s final state on each of its dependents, and moves on those it decides. */
  async afterFinish(
    run: DispatchRun,
    finished: { taskId: string; status: FinalTaskStatus },
    scope: ScopeSource,
    options: DispatchOptions,
  ): Promise<DispatchResult> {
    const result: DispatchResult = { messages: [], observed: { tasks: new Map(), joins: new Map() }, failures: [] };
    const claim = { available: options.mayClaim !== undefined };
    await forEachLimited(run.graph.dependents(finished.taskId).slice(0, options.eagerLimit), CONCURRENCY, collecting(result, async (dependentId) => {
      if (options.alreadyHandled?.(dependentId) === true) return;
      const node = run.graph.node(dependentId);
      const outcome = { dependencyId: finished.taskId, status: finished.status };
      const base = { runId: run.runId, taskId: node.id, workflowId: run.workflowId, version: run.version, phase: run.phase, opToken: options.opTokenFor(node.id) };

      if (node.dependsOn.length === 1) {
        // One dependency: its outcome decides the join rule, so record and move on in one write.
        const decision = joinOnly(node, () => finished.status);
        const next = decision.decision === 'skip' ? skip(decision.reason) : await this.nextStep(run, node, scope, options, claim);
        this.apply(run, node, await this.deps.tasks.advance({ ...base, outcome, next }), next, result, scope);
        return;
      }

      let decision: Decision | undefined;
      if (!usesJoinGroups(node.dependsOn)) {
        const recorded = await this.deps.tasks.advance({ ...base, outcome });
        observe(result, node.id, recorded);
        if (recorded.outcome !== 'ok' || recorded.task.status !== 'PENDING') return;
        const statuses = dependencyStatuses(recorded.task);
        const join = joinOnly(node, (id) => statuses.get(id) ?? 'PENDING');
        decision = join.decision === 'wait' ? undefined : join;
      } else {
        decision = await this.fanIn(run, node, finished, result);
      }
      if (decision === undefined) return;
      const next = decision.decision === 'skip' ? skip(decision.reason) : await this.nextStep(run, node, scope, options, claim);
      this.apply(run, node, await this.deps.tasks.advance({ ...base, next }), next, result, scope);
    }));
    return result;
  }

  /** Moves on tasks whose join rule is decided already (roots; the ready tasks of a resumed run). */
  async start(
    run: DispatchRun,
    decided: ReadonlyArray<{ taskId: string } & Decision>,
    scope: ScopeSource,
    options: DispatchOptions,
  ): Promise<DispatchResult> {
    const result: DispatchResult = { messages: [], observed: { tasks: new Map(), joins: new Map() }, failures: [] };
    const claim = { available: options.mayClaim !== undefined };
    await forEachLimited(decided.slice(0, options.eagerLimit), CONCURRENCY, collecting(result, async (task) => {
      const node = run.graph.node(task.taskId);
      const next = task.decision === 'skip' ? skip(task.reason) : await this.nextStep(run, node, scope, options, claim);
      const base = { runId: run.runId, taskId: node.id, workflowId: run.workflowId, version: run.version, phase: run.phase, opToken: options.opTokenFor(node.id) };
      this.apply(run, node, await this.deps.tasks.advance({ ...base, next }), next, result, scope);
    }));
    return result;
  }

  /**
   * A fan-in's dependency, recorded in its join group: a decision when that one outcome decides
   * the rule alone, or when the last group completes; otherwise undefined (wait).
   */
  private async fanIn(run: DispatchRun, node: GraphNode, finished: { taskId: string; status: FinalTaskStatus }, result: DispatchResult): Promise<Decision | undefined> {
    const group = joinGroupOf(node.dependsOn, finished.taskId);
    const outcomes = await this.deps.joins.recordInGroup({
      runId: run.runId,
      taskId: node.id,
      phase: run.phase,
      group,
      dependencyId: finished.taskId,
      status: finished.status,
    });
    result.observed.joins.set(`${node.id}/${group}`, new Set([...outcomes.SUCCEEDED, ...outcomes.FAILED, ...outcomes.SKIPPED, ...outcomes.CANCELLED]));
    const counts = completeGroupCounts(outcomes, joinGroupSizes(node.dependsOn).get(group) ?? 0);
    const task =
      counts === undefined
        ? undefined
        : await this.deps.joins.completeGroup({ runId: run.runId, taskId: node.id, workflowId: run.workflowId, version: run.version, phase: run.phase, group, counts });
    if (task !== undefined) result.observed.tasks.set(node.id, task);
    const early = earlyDecision(node.trigger, finished.status);
    if (early === 'ready') return { decision: 'ready' };
    if (early === 'skip') return { decision: 'skip', reason: `upstream ${finished.taskId} ${finished.status}` };
    const total = task === undefined ? undefined : joinCounts(task, node.dependsOn);
    if (total === undefined) return undefined;
    const decision = joinDecision(node.trigger, total);
    if (decision === 'wait') return undefined;
    return decision === 'ready' ? { decision } : { decision, reason: `trigger ${node.trigger} cannot be met` };
  }

  /** A ready task's next state: skipped by its condition, waiting, claimed here, or queued. */
  private async nextStep(
    run: DispatchRun,
    node: GraphNode,
    scope: ScopeSource,
    options: DispatchOptions,
    claim: { available: boolean },
  ): Promise<NextStep> {
    if (node.when !== undefined) {
      const [input, upstream] = await Promise.all([scope.input(), scope.outputs(node.dependsOn)]);
      if (!evaluateCondition(node.when, { input, upstream })) return skip('condition false');
    }
    const now = this.deps.now().getTime();
    if (node.waitEnd !== undefined) {
      const wakeAt = node.waitEnd(now);
      // A wake-up already past is due from now: the sweeper reads only what comes due after its mark.
      return { kind: 'wait', wakeAt, dueAt: deliveryDueAt(Math.max(wakeAt, now), 0, this.deps.timings.deliveryGraceSeconds * 1000, this.deps.timings) };
    }
    if (claim.available && options.mayClaim?.(node) === true && options.newLeaseToken !== undefined) {
      claim.available = false;
      return { kind: 'claim', leaseToken: options.newLeaseToken(), leaseExpiresAt: now + node.leaseMs };
    }
    await scope.prepare(node.dependsOn);
    return { kind: 'queue', dueAt: deliveryDueAt(now, 0, node.leaseMs, this.deps.timings) };
  }

  /** What a change that applied means: a message to send (with the scope, when known and small), or the task to run here. */
  private apply(
    run: DispatchRun,
    node: GraphNode,
    advanced: Awaited<ReturnType<TaskStore['advance']>>,
    next: NextStep,
    result: DispatchResult,
    scope: ScopeSource,
  ): void {
    observe(result, node.id, advanced);
    if (advanced.outcome !== 'ok') return;
    const task = advanced.task;
    if (next.kind === 'claim' && task.status === 'RUNNING' && task.leaseToken === next.leaseToken) {
      result.claimed = { task, node };
    } else if (next.kind === 'queue' && task.status === 'QUEUED') {
      const known = scope.known(node.dependsOn);
      const scopeJson = known === undefined ? undefined : carryScope(known);
      const message = messageFor(run, task, this.deps.now().getTime());
      result.messages.push(scopeJson === undefined ? message : { ...message, message: { ...message.message, scopeJson } });
    } else if (next.kind === 'wait' && task.status === 'WAITING') {
      result.messages.push(messageFor(run, task, this.deps.now().getTime()));
    }
  }
}

/** The message of a QUEUED (or WAITING wait) task; a wait's wake-up is delayed until its end. */
export function messageFor(run: { runId: string; workflowId: string; version: string }, task: Pick<TaskRecord, 'taskId' | 'attempt' | 'status' | 'wakeAt'>, now: number): OutgoingMessage {
  const message = { runId: run.runId, taskId: task.taskId, attempt: task.attempt, workflowId: run.workflowId, version: run.version };
  if (task.status !== 'WAITING' || task.wakeAt === undefined) return { message };
  return {
    message: { ...message, notBefore: task.wakeAt },
    delaySeconds: Math.min(QUEUES.maxDelaySeconds, Math.max(0, (task.wakeAt - now) / 1000)),
  };
}

/** One item's work, its error kept in the result instead of thrown. */
function collecting<T>(result: DispatchResult, work: (item: T) => Promise<void>): (item: T) => Promise<void> {
  return async (item) => {
    try {
      await work(item);
    } catch (error) {
      result.failures.push(error);
    }
  };
}

/** Notes a dependent as a write showed it: applied (as it now is) or refused (as it was found). */
function observe(result: DispatchResult, taskId: string, advanced: Awaited<ReturnType<TaskStore['advance']>>): void {
  const task = advanced.outcome === 'ok' ? advanced.task : advanced.current;
  if (task !== undefined) result.observed.tasks.set(taskId, task);
}

function skip(reason: string): NextStep {
  return { kind: 'skip', reason };
}

/** The join rule alone (a `when` is decided when the task is ready). */
function joinOnly(node: GraphNode, statusOf: (taskId: string) => TaskStatus): { decision: 'wait' } | Decision {
  const decided = decideTask({ id: node.id, dependsOn: node.dependsOn, trigger: node.trigger }, statusOf);
  if (decided.decision === 'skip') return { decision: 'skip', reason: decided.reason ?? 'join rule not met' };
  return { decision: decided.decision };
}

/** The recorded outcomes of a task's dependencies, as statuses. */
export function dependencyStatuses(task: Pick<TaskRecord, 'dependencies'>): Map<string, TaskStatus> {
  const statuses = new Map<string, TaskStatus>();
  for (const id of task.dependencies.succeeded) statuses.set(id, 'SUCCEEDED');
  for (const id of task.dependencies.failed) statuses.set(id, 'FAILED');
  for (const id of task.dependencies.skipped) statuses.set(id, 'SKIPPED');
  for (const id of task.dependencies.cancelled) statuses.set(id, 'CANCELLED');
  return statuses;
}

/** The scope of a task of run `runId`: what the caller knows, and the rest read from the store when first asked. */
export function storedScope(
  stores: { runs: Pick<RunStore, 'getRunInput'>; tasks: Pick<TaskStore, 'readScope'> },
  runId: string,
  known: Parameters<typeof lazyScope>[0] = {},
): ScopeSource {
  return lazyScope(known, {
    input: () => stores.runs.getRunInput(runId),
    outputs: async (taskIds) => (await stores.tasks.readScope(runId, taskIds, false)).tasks,
  });
}

/** A scope that reads the input and outputs when first asked, from what the caller knows, then the store. */
export function lazyScope(
  known: { input?: { value: unknown }; outputs?: Record<string, { output?: unknown }> },
  read: {
    input: () => Promise<unknown>;
    outputs: (taskIds: readonly string[]) => Promise<Record<string, { output?: unknown }>>;
  },
): ScopeSource {
  let input: Promise<unknown> | undefined = known.input === undefined ? undefined : Promise.resolve(known.input.value);
  let inputValue: { value: unknown } | undefined = known.input;
  const outputs = new Map(Object.entries(known.outputs ?? {}));
  const loadInput = () =>
    read.input().then((value) => {
      inputValue = { value };
      return value;
    });
  return {
    input: () => (input ??= loadInput()),
    known: (taskIds) =>
      inputValue === undefined || !taskIds.every((id) => outputs.has(id))
        ? undefined
        : { input: inputValue.value, upstream: Object.fromEntries(taskIds.map((id) => [id, outputs.get(id) ?? {}])) },
    prepare: async (taskIds) => {
      if (inputValue === undefined && taskIds.every((id) => outputs.has(id))) await (input ??= loadInput());
    },
    outputs: async (taskIds) => {
      const missing = taskIds.filter((id) => !outputs.has(id));
      if (missing.length > 0) for (const [id, value] of Object.entries(await read.outputs(missing))) outputs.set(id, value);
      return Object.fromEntries(taskIds.flatMap((id) => (outputs.has(id) ? [[id, outputs.get(id) ?? {}]] : [])));
    },
  };
}
