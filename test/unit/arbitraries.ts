// Definitions for the engine-core tests: a terse task builder and fast-check arbitraries for
// random DAGs (each task depends only on earlier ones, then the order is shuffled).
import fc from 'fast-check';
import type { Condition } from '../../shared/model/condition.js';
import type { TaskDefinition, TriggerRule, WorkflowDefinition } from '../../shared/model/definition.js';
import { TRIGGER_RULES } from '../../shared/model/definition.js';

type HandlerTask = Extract<TaskDefinition, { type: 'handler' }>;

export function task(id: string, dependsOn: string[] = [], extra: Partial<HandlerTask> = {}): HandlerTask {
  return { id, type: 'handler', handler: 'h', dependsOn, trigger: 'all_success', critical: true, ...extra };
}

export function workflow(...tasks: TaskDefinition[]): WorkflowDefinition {
  return { id: 'wf', tasks };
}

export interface RandomDag {
  definition: WorkflowDefinition;
  /** Ids in generation order: every task depends only on ids before it here. */
  generationOrder: string[];
}

export interface DagOptions {
  maxTasks?: number;
  /** Give tasks random trigger rules, critical flags and (sometimes) a `when` on input.flags.<id>. */
  rules?: boolean;
}

export function dagArbitrary(options: DagOptions = {}): fc.Arbitrary<RandomDag> {
  const maxTasks = options.maxTasks ?? 20;
  return fc.integer({ min: 1, max: maxTasks }).chain((n) => {
    const ids = Array.from({ length: n }, (_, i) => `t${i}`);
    const perTask = ids.map((_, i) =>
      fc.record({
        dependsOn: fc.subarray(ids.slice(0, i), { maxLength: Math.min(i, 4) }),
        trigger: options.rules === true ? fc.constantFrom<TriggerRule>(...TRIGGER_RULES) : fc.constant<TriggerRule>('all_success'),
        critical: options.rules === true ? fc.boolean() : fc.constant(true),
        hasWhen: options.rules === true ? fc.integer({ min: 0, max: 4 }).map((n) => n === 0) : fc.constant(false),
      }),
    );
    return fc
      .tuple(fc.tuple(...perTask), fc.shuffledSubarray(ids, { minLength: n, maxLength: n }))
      .map(([specs, shuffled]) => {
        const byId = new Map(
          specs.map((spec, i) => {
            const id = ids[i] ?? '';
            const when: Condition | undefined = spec.hasWhen ? { path: `input.flags.${id}`, op: 'eq', value: true } : undefined;
            const extra: Partial<HandlerTask> = { trigger: spec.trigger, critical: spec.critical };
            if (when !== undefined) extra.when = when;
            return [id, task(id, spec.dependsOn, extra)] as const;
          }),
        );
        return {
          definition: workflow(...shuffled.map((id) => byId.get(id) as HandlerTask)),
          generationOrder: ids,
        };
      });
  });
}

/** Ids of every task that depends, directly or not, on `id`. */
export function descendants(definition: WorkflowDefinition, id: string): Set<string> {
  const found = new Set<string>();
  const pending = [id];
  while (pending.length > 0) {
    const current = pending.pop() as string;
    for (const t of definition.tasks) {
      if (t.dependsOn.includes(current) && !found.has(t.id)) {
        found.add(t.id);
        pending.push(t.id);
      }
    }
  }
  return found;
}
