// How a run learns that its last task finished, exactly once, without a hot item: the tasks of a
// phase are split into completion groups of COMPLETION_GROUP_SIZE (by their place in the
// definition), each group counting its finished tasks in an item of its own; a group that becomes
// complete is marked done on the run item, once. The run is complete when every group is done.
// A task's finish costs one small write, the run item is written once per group, and a replayed
// record changes nothing (the counts are sets of task ids).
import { compensatedTaskId } from './compensation.js';
import type { LoadedDefinition } from './definition-cache.js';

/** Tasks per completion group: small enough that a group's item stays under a write unit or two. */
export const COMPLETION_GROUP_SIZE = 64;

/** The group of compensations (a run compensates at most LIMITS.maxCompensations tasks). */
export const COMPENSATION_GROUP = 'C';

export function completionGroupCount(taskCount: number): number {
  return Math.max(1, Math.ceil(taskCount / COMPLETION_GROUP_SIZE));
}

/** The completion group of a task of the run (or of a compensation). */
export function completionGroupOf(definition: LoadedDefinition, taskId: string): string {
  if (compensatedTaskId(taskId) !== undefined) return COMPENSATION_GROUP;
  const index = definition.indexOf.get(taskId);
  if (index === undefined) throw new Error(`task ${taskId} is not in ${definition.workflowId}@${definition.version}`);
  return String(Math.floor(index / COMPLETION_GROUP_SIZE));
}

/** The number of tasks a completion group must see finish. */
export function completionGroupSize(definition: LoadedDefinition, group: string, compensations = 0): number {
  if (group === COMPENSATION_GROUP) return compensations;
  const start = Number(group) * COMPLETION_GROUP_SIZE;
  return Math.max(0, Math.min(COMPLETION_GROUP_SIZE, definition.definition.tasks.length - start));
}

/** Every group of the run's tasks, in order. */
export function completionGroups(definition: LoadedDefinition): string[] {
  return Array.from({ length: completionGroupCount(definition.definition.tasks.length) }, (_, i) => String(i));
}
