// What depends on what in one phase of a run, as the dispatcher walks it: the workflow's own DAG,
// or, while a run compensates, the DAG of its compensations (each waits for the compensations of
// the compensable tasks downstream of its task: the saga in reverse). One shape for both, so that
// recording outcomes, join rules and queueing are written once.
import type { Condition } from '../model/condition.js';
import type { TriggerRule } from '../model/definition.js';
import { compensationSettings, compensationTaskId, planCompensations } from './compensation.js';
import { taskOf, type LoadedDefinition } from './definition-cache.js';
import { leaseMs, type EngineTimings } from './timing.js';

export interface GraphNode {
  id: string;
  dependsOn: readonly string[];
  trigger: TriggerRule;
  when?: Condition;
  /** For a wait task: when its wait ends, given when it became ready (epoch ms). */
  waitEnd?: (readyAt: number) => number;
  /** How long an attempt's lease runs. */
  leaseMs: number;
  /** A callback (child workflow, map) task: begun by a worker of its own, never in another task's invocation. */
  callback?: boolean;
}

export interface PhaseGraph {
  node(taskId: string): GraphNode;
  dependents(taskId: string): readonly string[];
  /** The nodes that wait for nothing. */
  roots(): readonly string[];
  /** Every node, in a stable order. */
  ids(): readonly string[];
}

/** The workflow's own tasks. */
export function taskGraph(definition: LoadedDefinition, timings: EngineTimings): PhaseGraph {
  const nodes = new Map<string, GraphNode>();
  return {
    node: (taskId) => {
      let node = nodes.get(taskId);
      if (node === undefined) {
        const task = taskOf(definition, taskId);
        node = {
          id: task.id,
          dependsOn: task.dependsOn,
          trigger: task.trigger,
          ...(task.when === undefined ? {} : { when: task.when }),
          ...(task.type === 'wait' ? { waitEnd: (readyAt: number) => (task.until !== undefined ? Date.parse(task.until) : readyAt + (task.seconds ?? 0) * 1000) } : {}),
          // A callback's timeouts bound its wait; the attempt that begins it has the default lease.
          leaseMs: leaseMs(task.type === 'callback' || task.type === 'workflow' || task.type === 'map' ? {} : task, timings),
          ...(task.type === 'callback' || task.type === 'workflow' || task.type === 'map' ? { callback: true } : {}),
        };
        nodes.set(taskId, node);
      }
      return node;
    },
    dependents: (taskId) => definition.dependents.get(taskId) ?? [],
    roots: () => definition.roots,
    ids: () => definition.definition.tasks.map((task) => task.id),
  };
}

/**
 * The compensations of `compensated` (SUCCEEDED tasks with `compensate`), each waiting for the
 * compensations of the compensable tasks downstream of its own, whatever they end in (all_done).
 */
export function compensationGraph(definition: LoadedDefinition, compensated: readonly string[], timings: EngineTimings): PhaseGraph {
  const plans = planCompensations(definition, new Set(compensated));
  const nodes = new Map<string, GraphNode>();
  const dependents = new Map<string, string[]>();
  for (const plan of plans) {
    const id = compensationTaskId(plan.taskId);
    const compensation = taskOf(definition, plan.taskId).compensate;
    if (compensation === undefined) throw new Error(`task ${plan.taskId} has no compensation`);
    nodes.set(id, {
      id,
      dependsOn: plan.blockers.map(compensationTaskId),
      trigger: 'all_done',
      leaseMs: leaseMs(compensationSettings(compensation), timings),
    });
    for (const blocker of plan.blockers) {
      const blockerId = compensationTaskId(blocker);
      dependents.set(blockerId, [...(dependents.get(blockerId) ?? []), id]);
    }
  }
  const ids = [...nodes.keys()];
  return {
    node: (taskId) => {
      const node = nodes.get(taskId);
      if (node === undefined) throw new Error(`${taskId} is not a compensation of this run`);
      return node;
    },
    dependents: (taskId) => dependents.get(taskId) ?? [],
    roots: () => ids.filter((id) => nodes.get(id)?.dependsOn.length === 0),
    ids: () => ids,
  };
}
