// How a task learns that its dependencies finished, without one item growing without bound: a task
// with up to INLINE_JOIN_LIMIT dependencies keeps their outcomes on its own item (one string set
// per final state); a task with more (a fan-in) keeps them in join groups of that size, each its
// own item, and only a group's counts, once the group is complete, on the task. Either way the
// cost of one dependency's outcome is one small write, whatever the fan-in's width.
import type { TriggerRule } from '../model/definition.js';
import type { DependencyCounts, FinalTaskStatus, TaskRecord } from './records.js';

/** Dependencies whose outcomes a task keeps on its own item (ids are at most 80 characters). */
export const INLINE_JOIN_LIMIT = 32;

export function usesJoinGroups(dependsOn: readonly string[]): boolean {
  return dependsOn.length > INLINE_JOIN_LIMIT;
}

/** The join group of one dependency of a fan-in: its position in dependsOn, by groups. */
export function joinGroupOf(dependsOn: readonly string[], dependencyId: string): string {
  const index = dependsOn.indexOf(dependencyId);
  if (index < 0) throw new Error(`"${dependencyId}" is not a dependency`);
  return String(Math.floor(index / INLINE_JOIN_LIMIT));
}

/** How many dependencies each join group of a fan-in holds. */
export function joinGroupSizes(dependsOn: readonly string[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (let start = 0; start < dependsOn.length; start += INLINE_JOIN_LIMIT) {
    sizes.set(String(start / INLINE_JOIN_LIMIT), Math.min(INLINE_JOIN_LIMIT, dependsOn.length - start));
  }
  return sizes;
}

/** A group's counts once every dependency in it is final; undefined before. */
export function completeGroupCounts(outcomes: Record<FinalTaskStatus, readonly string[]>, size: number): DependencyCounts | undefined {
  const counts = {
    total: size,
    succeeded: outcomes.SUCCEEDED.length,
    failed: outcomes.FAILED.length,
    skipped: outcomes.SKIPPED.length,
    cancelled: outcomes.CANCELLED.length,
  };
  return counts.succeeded + counts.failed + counts.skipped + counts.cancelled >= size ? counts : undefined;
}

/**
 * A fan-in's counts: the sum of its complete groups, or undefined while a group is incomplete (the
 * join rule then waits, unless one dependency's outcome already decides it: see earlyDecision).
 */
export function joinCounts(task: Pick<TaskRecord, 'joinGroups'>, dependsOn: readonly string[]): DependencyCounts | undefined {
  const sizes = joinGroupSizes(dependsOn);
  const total: DependencyCounts = { total: dependsOn.length, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 };
  for (const group of sizes.keys()) {
    const counts = task.joinGroups[group];
    if (counts === undefined) return undefined;
    total.succeeded += counts.succeeded;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    total.cancelled += counts.cancelled;
  }
  return total;
}

/**
 * What one dependency's outcome decides on its own, whatever the others do: enough for a fan-in
 * to go on (or be skipped) before all its groups are complete. Mirrors joinDecision.
 */
export function earlyDecision(trigger: TriggerRule, status: FinalTaskStatus): 'ready' | 'skip' | undefined {
  switch (trigger) {
    case 'all_success':
      return status === 'SUCCEEDED' ? undefined : 'skip';
    case 'one_success':
      return status === 'SUCCEEDED' ? 'ready' : undefined;
    case 'one_failed':
      return status === 'FAILED' ? 'ready' : undefined;
    case 'none_failed':
      return status === 'FAILED' || status === 'CANCELLED' ? 'skip' : undefined;
    case 'all_failed':
      return status === 'FAILED' ? undefined : 'skip';
    case 'all_done':
      return undefined;
  }
}
