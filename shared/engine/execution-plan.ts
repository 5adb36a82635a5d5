// What one task message asks for: an ordinary task, or the compensation of one. The worker
// runs the plan; the sweeper uses it to decide what an expired lease means (retry or fail).
import { compensatedTaskId, compensationSettings } from './compensation.js';
import { taskOf, type LoadedDefinition } from './definition-cache.js';
import type { RetryPolicy } from '../model/definition.js';
import { compensationAction, type ExecutableAction } from '../tasks/executors.js';

/** What one message asks the worker to run: a task, or the compensation of one. */
export interface ExecutionPlan {
  action: ExecutableAction;
  /** Tasks whose outputs the attempt sees in ctx.upstream. */
  upstream: readonly string[];
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
  retry?: RetryPolicy;
  critical: boolean;
  /** The run status the attempt belongs to: anything else means the run moved on (cancelled). */
  runStatus: 'RUNNING' | 'COMPENSATING';
}

export function executionPlan(definition: LoadedDefinition, taskId: string): ExecutionPlan {
  const compensated = compensatedTaskId(taskId);
  if (compensated === undefined) {
    const task = taskOf(definition, taskId);
    return {
      action: task,
      upstream: task.dependsOn,
      ...(task.timeoutSeconds === undefined ? {} : { timeoutSeconds: task.timeoutSeconds }),
      ...(task.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: task.heartbeatSeconds }),
      ...(task.retry === undefined ? {} : { retry: task.retry }),
      critical: task.critical,
      runStatus: 'RUNNING',
    };
  }
  const task = taskOf(definition, compensated);
  if (task.compensate === undefined) throw new Error(`task ${compensated} has no compensation`);
  // A compensation sees what its task saw, and the task's own output (a refund needs the charge).
  return {
    action: compensationAction(task.compensate),
    upstream: [...task.dependsOn, task.id],
    ...compensationSettings(task.compensate),
    critical: false,
    runStatus: 'COMPENSATING',
  };
}

