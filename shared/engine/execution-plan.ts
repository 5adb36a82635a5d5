// What one task message asks for: an ordinary task, or the compensation of one. The worker runs
// the plan; the sweeper and the dead-letter handler use it to decide how a lost attempt ends.
import { compensatedTaskId, compensationSettings } from './compensation.js';
import { taskOf, type LoadedDefinition } from './definition-cache.js';
import type { RetryPolicy, TaskDefinition } from '../model/definition.js';
import { compensationAction, type ExecutableAction } from '../tasks/executors.js';
import { leaseMs, type EngineTimings } from './timing.js';
import { LIMITS } from '../model/limits.js';
import { itemAddress } from './map-items.js';

/** What one message asks the worker to run: a task, or the compensation of one. */
export interface ExecutionPlan {
  taskId: string;
  action: ExecutableAction;
  /** Tasks whose outputs the attempt sees in ctx.upstream. */
  upstream: readonly string[];
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
  retry?: RetryPolicy;
  /** Whether its final failure fails the run (compensations never do). */
  critical: boolean;
  /** How long an attempt's lease runs (its heartbeat interval or timeout, plus a grace). */
  leaseMs: number;
  /**
   * A callback task's wait, which begins once its attempt has made its request: the task's
   * timeoutSeconds and heartbeatSeconds bound the wait, not the attempt (which has the default).
   */
  callback?: { timeoutSeconds: number; heartbeatSeconds?: number; child?: true; map?: true };
  /** A map's item task: the map and the item's index (the item itself is on the item task). */
  item?: { mapId: string; index: number };
}

export function executionPlan(definition: LoadedDefinition, taskId: string, timings: EngineTimings): ExecutionPlan {
  const item = itemAddress(taskId);
  if (item !== undefined) {
    // A map's item runs the map's task, and sees what the map sees.
    const map = taskOf(definition, item.mapId);
    if (map.type !== 'map') throw new Error(`task ${item.mapId} is not a map`);
    const body = map.task;
    const settings: { timeoutSeconds?: number | undefined; heartbeatSeconds?: number | undefined; retry?: RetryPolicy | undefined } = body.type === 'pass' ? {} : body;
    return {
      taskId,
      action: body,
      upstream: map.dependsOn,
      ...(settings.timeoutSeconds === undefined ? {} : { timeoutSeconds: settings.timeoutSeconds }),
      ...(settings.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: settings.heartbeatSeconds }),
      ...(settings.retry === undefined ? {} : { retry: settings.retry }),
      critical: true,
      leaseMs: leaseMs(settings, timings),
      item: { mapId: item.mapId, index: item.index },
    };
  }
  const compensated = compensatedTaskId(taskId);
  if (compensated === undefined) {
    const task = taskOf(definition, taskId);
    const wait = waitOf(task);
    if (wait !== undefined) {
      // Its attempt only begins the wait (a request, a child's start): the default lease is its.
      return {
        taskId,
        action: task,
        upstream: task.dependsOn,
        ...(task.retry === undefined ? {} : { retry: task.retry }),
        critical: task.critical,
        leaseMs: leaseMs({}, timings),
        callback: wait,
      };
    }
    return {
      taskId,
      action: task,
      upstream: task.dependsOn,
      ...(task.timeoutSeconds === undefined ? {} : { timeoutSeconds: task.timeoutSeconds }),
      ...(task.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: task.heartbeatSeconds }),
      ...(task.retry === undefined ? {} : { retry: task.retry }),
      critical: task.critical,
      leaseMs: leaseMs(task, timings),
    };
  }
  const task = taskOf(definition, compensated);
  if (task.compensate === undefined) throw new Error(`task ${compensated} has no compensation`);
  const settings = compensationSettings(task.compensate);
  // A compensation sees what its task saw, and the task's own output (a refund needs the charge).
  return {
    taskId,
    action: compensationAction(task.compensate),
    upstream: [...task.dependsOn, task.id],
    ...settings,
    critical: false,
    leaseMs: leaseMs(settings, timings),
  };
}

/** What a callback task (or a child workflow's, answered by its child run) waits for, and how long. */
function waitOf(task: TaskDefinition): ExecutionPlan['callback'] {
  if (task.type === 'callback') {
    return { timeoutSeconds: task.timeoutSeconds, ...(task.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: task.heartbeatSeconds }) };
  }
  // Bounded by the task's timeout, or 30 days.
  if (task.type === 'workflow') return { timeoutSeconds: task.timeoutSeconds ?? LIMITS.maxCallbackSeconds, child: true };
  // A map waits for its items, bounded like a child workflow.
  if (task.type === 'map') return { timeoutSeconds: task.timeoutSeconds ?? LIMITS.maxCallbackSeconds, map: true };
  return undefined;
}
