// Compensation (the saga): when a run fails or is cancelled, each SUCCEEDED task that declares
// `compensate` gets its compensation run, in reverse dependency order: a task's compensation
// waits until the compensations of every compensable task downstream of it have finished.
//
// A compensation is a task run of its own, `compensate:<taskId>`, so it is queued, claimed,
// retried, swept and kept in the history exactly like a task. (`:` cannot appear in task ids.)
import type { LoadedDefinition } from './definition-cache.js';
import type { Compensation, RetryPolicy } from '../model/definition.js';

const PREFIX = 'compensate:';

/** Compensations retry like tasks; one given as a bare handler name gets this policy. */
export const DEFAULT_COMPENSATION_RETRY: RetryPolicy = {
  maxRetries: 3,
  initialDelaySeconds: 1,
  backoffRate: 2,
  maxDelaySeconds: 60,
};

export function compensationTaskId(taskId: string): string {
  return `${PREFIX}${taskId}`;
}

/** The compensated task's id, or undefined when `taskId` names an ordinary task. */
export function compensatedTaskId(taskId: string): string | undefined {
  return taskId.startsWith(PREFIX) ? taskId.slice(PREFIX.length) : undefined;
}

export interface PlannedCompensation {
  taskId: string;
  /** Compensations (by compensated task id) that must finish before this one starts. */
  blockers: string[];
}

/**
 * The compensations of a failed or cancelled run: one per SUCCEEDED task with `compensate`,
 * each blocked by the compensable succeeded tasks downstream of it.
 */
export function planCompensations(definition: LoadedDefinition, succeeded: ReadonlySet<string>): PlannedCompensation[] {
  const compensable = new Set(
    definition.definition.tasks.filter((task) => task.compensate !== undefined && succeeded.has(task.id)).map((task) => task.id),
  );
  return [...compensable].map((taskId) => ({
    taskId,
    blockers: [...descendantsOf(definition, taskId)].filter((id) => compensable.has(id)).sort(),
  }));
}

/** The compensable tasks upstream of `taskId`: the ones whose compensation may wait for its own. */
export function compensableAncestors(definition: LoadedDefinition, taskId: string): string[] {
  const seen = new Set<string>();
  const stack = [taskId];
  while (stack.length > 0) {
    const current = definition.tasksById.get(stack.pop() ?? '');
    for (const dependency of current?.dependsOn ?? []) {
      if (!seen.has(dependency)) {
        seen.add(dependency);
        stack.push(dependency);
      }
    }
  }
  return [...seen].filter((id) => definition.tasksById.get(id)?.compensate !== undefined);
}

function descendantsOf(definition: LoadedDefinition, taskId: string): Set<string> {
  const seen = new Set<string>();
  const stack = [taskId];
  while (stack.length > 0) {
    for (const dependent of definition.dependents.get(stack.pop() ?? '') ?? []) {
      if (!seen.has(dependent)) {
        seen.add(dependent);
        stack.push(dependent);
      }
    }
  }
  return seen;
}

/** The retry policy and timeout a compensation runs with. */
export function compensationSettings(compensation: Compensation): { retry: RetryPolicy; timeoutSeconds?: number } {
  if (typeof compensation === 'string' || compensation.type === 'pass') return { retry: DEFAULT_COMPENSATION_RETRY };
  return {
    retry: compensation.retry ?? DEFAULT_COMPENSATION_RETRY,
    ...(compensation.timeoutSeconds === undefined ? {} : { timeoutSeconds: compensation.timeoutSeconds }),
  };
}
