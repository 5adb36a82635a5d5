// The scheduling decisions: when a task may start, when it is skipped, and how a run ends.
// Join rules follow Airflow's trigger rules and are decided as early as the finished
// dependencies allow, so a task is never held back waiting for an upstream that cannot change
// the answer.
import { evaluateCondition, type ValueScope } from '../model/condition.js';
import type { Condition } from '../model/condition.js';
import type { TriggerRule } from '../model/definition.js';
import { isFinalTaskStatus, type TaskStatus } from '../model/states.js';

/** How many of a task's direct dependencies ended in each final state. */
export interface DependencyCounts {
  /** Number of dependencies, final or not. */
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

export type JoinDecision = 'wait' | 'ready' | 'skip';

/** The part of a task the scheduling decisions need. */
export interface SchedulableTask {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly trigger: TriggerRule;
  readonly when?: Condition | undefined;
}

export interface TaskDecision {
  decision: JoinDecision;
  /** Why a task is skipped, e.g. `upstream charge_payment FAILED` or `condition false`. */
  reason?: string;
}

/**
 * A join rule applied to the dependencies' outcomes so far. A task without dependencies is
 * always ready.
 *
 * CANCELLED means the upstream's work was not done, and never that it failed: it blocks the
 * rules that need success or non-failure (all_success, none_failed skip on it, like a failure)
 * and the rule that needs every upstream to fail (all_failed skips), but it never fires
 * one_failed, so a failure handler does not run because a run was cancelled.
 */
export function joinDecision(trigger: TriggerRule, counts: DependencyCounts): JoinDecision {
  const { total, succeeded, failed, skipped, cancelled } = counts;
  if (total === 0) return 'ready';
  const allFinal = succeeded + failed + skipped + cancelled >= total;
  switch (trigger) {
    case 'all_success':
      if (failed + skipped + cancelled > 0) return 'skip';
      return succeeded >= total ? 'ready' : 'wait';
    case 'all_done':
      return allFinal ? 'ready' : 'wait';
    case 'one_success':
      if (succeeded > 0) return 'ready';
      return allFinal ? 'skip' : 'wait';
    case 'one_failed':
      if (failed > 0) return 'ready';
      return allFinal ? 'skip' : 'wait';
    case 'none_failed':
      if (failed + cancelled > 0) return 'skip';
      return allFinal ? 'ready' : 'wait';
    case 'all_failed':
      if (succeeded + skipped + cancelled > 0) return 'skip';
      return failed >= total ? 'ready' : 'wait';
  }
}

/** Counts of a task's dependencies by final state; dependsOn is assumed free of duplicates. */
export function countDependencies(
  dependsOn: readonly string[],
  statusOf: (taskId: string) => TaskStatus,
): DependencyCounts {
  const counts: DependencyCounts = { total: dependsOn.length, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const dependency of dependsOn) addStatus(counts, statusOf(dependency));
  return counts;
}

function addStatus(counts: DependencyCounts, status: TaskStatus): void {
  if (status === 'SUCCEEDED') counts.succeeded++;
  else if (status === 'FAILED') counts.failed++;
  else if (status === 'SKIPPED') counts.skipped++;
  else if (status === 'CANCELLED') counts.cancelled++;
}

/**
 * The join rule, then, for a task that would be ready, its `when` condition (false = skip).
 * `scope` must be given when the task has a `when`; it needs the outputs of the task's
 * dependencies under `upstream`.
 */
export function decideTask(
  task: SchedulableTask,
  statusOf: (taskId: string) => TaskStatus,
  scope?: ValueScope,
): TaskDecision {
  return decideFromCounts(task, countDependencies(task.dependsOn, statusOf), statusOf, scope);
}

function decideFromCounts(
  task: SchedulableTask,
  counts: DependencyCounts,
  statusOf: (taskId: string) => TaskStatus,
  scope: ValueScope | undefined,
): TaskDecision {
  const decision = joinDecision(task.trigger, counts);
  if (decision === 'skip') return { decision, reason: skipReason(task, statusOf) };
  if (decision === 'ready' && task.when !== undefined) {
    if (scope === undefined) throw new TypeError(`task "${task.id}" has a when condition and no scope was given`);
    if (!evaluateCondition(task.when, scope)) return { decision: 'skip', reason: 'condition false' };
  }
  return { decision };
}

/** The statuses of a dependency that make each rule skip, for naming the culprit. */
const BLOCKING: Record<TriggerRule, ReadonlySet<TaskStatus>> = {
  all_success: new Set(['FAILED', 'SKIPPED', 'CANCELLED']),
  all_done: new Set(),
  one_success: new Set(),
  one_failed: new Set(),
  none_failed: new Set(['FAILED', 'CANCELLED']),
  all_failed: new Set(['SUCCEEDED', 'SKIPPED', 'CANCELLED']),
};

// Runs once per skipped task, so its O(in-degree) scan keeps settle O(V+E).
function skipReason(task: SchedulableTask, statusOf: (taskId: string) => TaskStatus): string {
  if (task.trigger === 'one_success') return 'no upstream succeeded';
  if (task.trigger === 'one_failed') return 'no upstream failed';
  for (const dependency of task.dependsOn) {
    const status = statusOf(dependency);
    if (BLOCKING[task.trigger].has(status)) return `upstream ${dependency} ${status}`;
  }
  return `trigger ${task.trigger} cannot be met`;
}

export interface Settlement {
  /** PENDING tasks that may start now, in definition order. */
  ready: string[];
  /** PENDING tasks to mark SKIPPED, in the order the skips were decided (causes first). */
  skipped: Array<{ taskId: string; reason: string }>;
}

/**
 * From the statuses of a run (a task missing from `statuses` is PENDING), the PENDING tasks that
 * are ready now and those to skip, skips propagated to a fixed point: a skip is final, so it can
 * decide its dependents in turn. Nothing else is assumed to finish. `scope` (run input and the
 * outputs of finished tasks) is needed when a task with a `when` becomes ready.
 *
 * O(V+E) plus condition evaluation: dependency counts are computed once and then updated per
 * skipped upstream, never recounted.
 */
export function settle(
  definition: { readonly tasks: readonly SchedulableTask[] },
  statuses: ReadonlyMap<string, TaskStatus>,
  scope?: ValueScope,
): Settlement {
  const tasks = definition.tasks;
  const positionOf = new Map<string, number>();
  tasks.forEach((task, i) => positionOf.set(task.id, i));
  const skippedNow = new Set<string>();
  const statusOf = (taskId: string): TaskStatus =>
    skippedNow.has(taskId) ? 'SKIPPED' : (statuses.get(taskId) ?? 'PENDING');

  // Only undecided PENDING tasks have counts; a decision, once taken, cannot change.
  const counts = new Map<number, DependencyCounts>();
  const dependents: number[][] = tasks.map(() => []);
  tasks.forEach((task, i) => {
    if (statusOf(task.id) !== 'PENDING') return;
    counts.set(i, countDependencies(task.dependsOn, statusOf));
    for (const dependency of new Set(task.dependsOn)) {
      const position = positionOf.get(dependency);
      if (position !== undefined) dependents[position]?.push(i);
    }
  });

  const isReady = new Uint8Array(tasks.length);
  const skipped: Settlement['skipped'] = [];
  const newlySkipped: number[] = [];
  const decide = (i: number, taskCounts: DependencyCounts): void => {
    const task = tasks[i] as SchedulableTask;
    const { decision, reason } = decideFromCounts(task, taskCounts, statusOf, scope);
    if (decision === 'wait') return;
    counts.delete(i);
    if (decision === 'ready') {
      isReady[i] = 1;
    } else {
      skippedNow.add(task.id);
      skipped.push({ taskId: task.id, reason: reason ?? 'skipped' });
      newlySkipped.push(i);
    }
  };

  for (const [i, taskCounts] of [...counts]) decide(i, taskCounts);
  for (let head = 0; head < newlySkipped.length; head++) {
    for (const dependent of dependents[newlySkipped[head] ?? 0] ?? []) {
      const taskCounts = counts.get(dependent);
      if (taskCounts === undefined) continue;
      taskCounts.skipped++;
      decide(dependent, taskCounts);
    }
  }

  const ready = tasks.filter((_task, i) => isReady[i] === 1).map((task) => task.id);
  return { ready, skipped };
}

/**
 * How a run ends once every task is final: FAILED if a critical task FAILED, else COMPLETED.
 * Undefined while any task (a missing one counts as PENDING) is not final. Cancellation is
 * decided by whoever cancels.
 */
export function runOutcome(
  definition: { readonly tasks: readonly { readonly id: string; readonly critical: boolean }[] },
  statuses: ReadonlyMap<string, TaskStatus>,
): 'COMPLETED' | 'FAILED' | undefined {
  let failed = false;
  for (const task of definition.tasks) {
    const status = statuses.get(task.id) ?? 'PENDING';
    if (!isFinalTaskStatus(status)) return undefined;
    if (status === 'FAILED' && task.critical) failed = true;
  }
  return failed ? 'FAILED' : 'COMPLETED';
}
