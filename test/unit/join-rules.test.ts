import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ValueScope } from '../../shared/model/condition.js';
import { TRIGGER_RULES, type TriggerRule, type WorkflowDefinition } from '../../shared/model/definition.js';
import {
  countDependencies,
  decideTask,
  joinDecision,
  runOutcome,
  settle,
  type DependencyCounts,
  type JoinDecision,
} from '../../shared/engine/join-rules.js';
import { FINAL_TASK_STATUSES, TASK_STATUSES, type TaskStatus } from '../../shared/model/states.js';
import { dagArbitrary, task, workflow } from './arbitraries.js';

function counts(total: number, c: Partial<Omit<DependencyCounts, 'total'>> = {}): DependencyCounts {
  return { total, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, ...c };
}

function statusMap(entries: Record<string, TaskStatus>): ReadonlyMap<string, TaskStatus> {
  return new Map(Object.entries(entries));
}

/**
 * The rules as the spec states them, over the list of dependency statuses, with no counting and
 * no early exit cleverness: the reference the engine is checked against.
 */
const REFERENCE: Record<TriggerRule, { ready: (d: TaskStatus[]) => boolean; skip: (d: TaskStatus[]) => boolean }> = {
  all_success: {
    ready: (d) => d.every((s) => s === 'SUCCEEDED'),
    skip: (d) => d.some((s) => s === 'FAILED' || s === 'SKIPPED' || s === 'CANCELLED'),
  },
  all_done: { ready: (d) => d.every(isFinal), skip: () => false },
  one_success: {
    ready: (d) => d.some((s) => s === 'SUCCEEDED'),
    skip: (d) => d.every(isFinal) && !d.includes('SUCCEEDED'),
  },
  one_failed: { ready: (d) => d.includes('FAILED'), skip: (d) => d.every(isFinal) && !d.includes('FAILED') },
  none_failed: {
    ready: (d) => d.every(isFinal) && !d.some((s) => s === 'FAILED' || s === 'CANCELLED'),
    skip: (d) => d.some((s) => s === 'FAILED' || s === 'CANCELLED'),
  },
  all_failed: {
    ready: (d) => d.every((s) => s === 'FAILED'),
    skip: (d) => d.some((s) => s === 'SUCCEEDED' || s === 'SKIPPED' || s === 'CANCELLED'),
  },
};

function isFinal(status: TaskStatus): boolean {
  return FINAL_TASK_STATUSES.has(status);
}

function referenceDecision(trigger: TriggerRule, dependencies: TaskStatus[]): JoinDecision {
  if (dependencies.length === 0) return 'ready';
  if (REFERENCE[trigger].skip(dependencies)) return 'skip';
  return REFERENCE[trigger].ready(dependencies) ? 'ready' : 'wait';
}

/** Full passes over every task until nothing changes. */
function referenceSettle(definition: WorkflowDefinition, statuses: ReadonlyMap<string, TaskStatus>, flags: Record<string, boolean>) {
  const current = new Map(definition.tasks.map((t) => [t.id, statuses.get(t.id) ?? 'PENDING'] as const));
  const ready = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of definition.tasks) {
      if (current.get(t.id) !== 'PENDING' || ready.has(t.id)) continue;
      let decision = referenceDecision(
        t.trigger,
        t.dependsOn.map((d) => current.get(d) ?? 'PENDING'),
      );
      if (decision === 'ready' && t.when !== undefined && flags[t.id] !== true) decision = 'skip';
      if (decision === 'skip') current.set(t.id, 'SKIPPED');
      if (decision === 'ready') ready.add(t.id);
      if (decision !== 'wait') changed = true;
    }
  }
  const skipped = definition.tasks.filter((t) => current.get(t.id) === 'SKIPPED' && statuses.get(t.id) !== 'SKIPPED');
  return { ready: [...ready].sort(), skipped: skipped.map((t) => t.id).sort() };
}

const anyStatus = fc.constantFrom<TaskStatus>(...TASK_STATUSES);
const finalStatus = fc.constantFrom<TaskStatus>('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED');

describe('joinDecision', () => {
  it('makes a task with no dependencies ready, whatever its rule', () => {
    for (const trigger of TRIGGER_RULES) expect(joinDecision(trigger, counts(0))).toBe('ready');
  });

  it.each<[TriggerRule, DependencyCounts, JoinDecision]>([
    ['all_success', counts(2, { succeeded: 1 }), 'wait'],
    ['all_success', counts(2, { succeeded: 2 }), 'ready'],
    ['all_success', counts(3, { failed: 1 }), 'skip'],
    ['all_success', counts(3, { skipped: 1 }), 'skip'],
    ['all_success', counts(3, { cancelled: 1 }), 'skip'],
    ['all_done', counts(3, { succeeded: 1, failed: 1 }), 'wait'],
    ['all_done', counts(3, { succeeded: 1, failed: 1, cancelled: 1 }), 'ready'],
    ['one_success', counts(3, { succeeded: 1 }), 'ready'],
    ['one_success', counts(3, { failed: 2 }), 'wait'],
    ['one_success', counts(3, { failed: 2, skipped: 1 }), 'skip'],
    ['one_failed', counts(3, { failed: 1 }), 'ready'],
    ['one_failed', counts(2, { succeeded: 1, cancelled: 1 }), 'skip'],
    ['none_failed', counts(2, { succeeded: 1, skipped: 1 }), 'ready'],
    ['none_failed', counts(3, { succeeded: 1 }), 'wait'],
    ['none_failed', counts(3, { failed: 1 }), 'skip'],
    ['none_failed', counts(3, { cancelled: 1 }), 'skip'],
    ['all_failed', counts(2, { failed: 2 }), 'ready'],
    ['all_failed', counts(2, { failed: 1 }), 'wait'],
    ['all_failed', counts(3, { succeeded: 1 }), 'skip'],
    ['all_failed', counts(3, { skipped: 1 }), 'skip'],
  ])('%s with %o is %s', (trigger, c, expected) => {
    expect(joinDecision(trigger, c)).toBe(expected);
  });

  it('agrees with the rule table for any dependency statuses (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TRIGGER_RULES), fc.array(anyStatus, { maxLength: 8 }), (trigger, dependencies) => {
        const ids = dependencies.map((_, i) => `d${i}`);
        const c = countDependencies(ids, (id) => dependencies[Number(id.slice(1))] ?? 'PENDING');
        expect(joinDecision(trigger, c)).toBe(referenceDecision(trigger, dependencies));
      }),
      { numRuns: 500 },
    );
  });
});

describe('countDependencies', () => {
  it('counts the final statuses of the dependencies', () => {
    const s = statusMap({ a: 'SUCCEEDED', b: 'FAILED', c: 'RUNNING', d: 'SKIPPED', e: 'CANCELLED' });
    expect(countDependencies(['a', 'b', 'c', 'd', 'e', 'f'], (id) => s.get(id) ?? 'PENDING')).toEqual(
      counts(6, { succeeded: 1, failed: 1, skipped: 1, cancelled: 1 }),
    );
  });
});

describe('decideTask', () => {
  const statuses = statusMap({ validate: 'SUCCEEDED', charge_payment: 'FAILED', check: 'SUCCEEDED' });
  const statusOf = (id: string): TaskStatus => statuses.get(id) ?? 'PENDING';

  it('names the upstream that makes a task skip', () => {
    expect(decideTask(task('ship', ['validate', 'charge_payment']), statusOf)).toEqual({
      decision: 'skip',
      reason: 'upstream charge_payment FAILED',
    });
    expect(decideTask(task('alert', ['validate', 'other'], { trigger: 'one_failed' }), statusOf)).toEqual({ decision: 'wait' });
  });

  it('skips a ready task whose condition is false, and runs it when true', () => {
    const scope: ValueScope = { input: {}, upstream: { check: { output: { approved: false } } } };
    const guarded = task('ship', ['check'], { when: { path: 'upstream.check.output.approved', op: 'eq', value: true } });
    expect(decideTask(guarded, statusOf, scope)).toEqual({ decision: 'skip', reason: 'condition false' });
    const approved: ValueScope = { input: {}, upstream: { check: { output: { approved: true } } } };
    expect(decideTask(guarded, statusOf, approved)).toEqual({ decision: 'ready' });
  });

  it('does not evaluate the condition of a task that must still wait', () => {
    const guarded = task('ship', ['pending'], { when: { path: 'input.x', op: 'exists' } });
    expect(decideTask(guarded, statusOf)).toEqual({ decision: 'wait' });
  });

  it('refuses to guess a condition without a scope', () => {
    const guarded = task('ship', ['check'], { when: { path: 'input.x', op: 'exists' } });
    expect(() => decideTask(guarded, statusOf)).toThrow('no scope');
  });
});

describe('settle', () => {
  it('starts the roots of a new run', () => {
    const definition = workflow(task('a'), task('b'), task('c', ['a', 'b']));
    expect(settle(definition, new Map())).toEqual({ ready: ['a', 'b'], skipped: [] });
  });

  it('propagates a skip down the chain, causes first', () => {
    const definition = workflow(task('d', ['c']), task('c', ['b']), task('b', ['a']), task('a'), task('e'));
    expect(settle(definition, statusMap({ a: 'FAILED', e: 'RUNNING' }))).toEqual({
      ready: [],
      skipped: [
        { taskId: 'b', reason: 'upstream a FAILED' },
        { taskId: 'c', reason: 'upstream b SKIPPED' },
        { taskId: 'd', reason: 'upstream c SKIPPED' },
      ],
    });
  });

  it('makes an all_done or none_failed task ready once its upstream is skipped', () => {
    const definition = workflow(
      task('a'),
      task('b', ['a']),
      task('cleanup', ['b'], { trigger: 'all_done' }),
      task('report', ['b'], { trigger: 'none_failed' }),
    );
    expect(settle(definition, statusMap({ a: 'FAILED' }))).toEqual({
      ready: ['cleanup', 'report'],
      skipped: [{ taskId: 'b', reason: 'upstream a FAILED' }],
    });
  });

  it('skips on a false condition and propagates it', () => {
    const definition = workflow(
      task('check'),
      task('ship', ['check'], { when: { path: 'upstream.check.output.approved', op: 'eq', value: true } }),
      task('notify', ['ship']),
    );
    const scope: ValueScope = { input: {}, upstream: { check: { output: { approved: false } } } };
    expect(settle(definition, statusMap({ check: 'SUCCEEDED' }), scope)).toEqual({
      ready: [],
      skipped: [
        { taskId: 'ship', reason: 'condition false' },
        { taskId: 'notify', reason: 'upstream ship SKIPPED' },
      ],
    });
  });

  it('leaves tasks that are not PENDING alone', () => {
    const definition = workflow(task('a'), task('b', ['a']));
    expect(settle(definition, statusMap({ a: 'SUCCEEDED', b: 'QUEUED' }))).toEqual({ ready: [], skipped: [] });
  });

  it('settles a 5,000-task chain skip in one call', () => {
    const chain = Array.from({ length: 5000 }, (_, i) => task(`t${i}`, i === 0 ? [] : [`t${i - 1}`]));
    const result = settle(workflow(...chain), statusMap({ t0: 'FAILED' }));
    expect(result.skipped).toHaveLength(4999);
  });

  it('agrees with full-pass evaluation of the rule table (property)', () => {
    fc.assert(
      fc.property(
        dagArbitrary({ rules: true }).chain(({ definition }) =>
          fc.record({
            definition: fc.constant(definition),
            statuses: fc.tuple(...definition.tasks.map(() => fc.option(fc.oneof(finalStatus, anyStatus), { nil: undefined }))),
            flags: fc.tuple(...definition.tasks.map(() => fc.boolean())),
          }),
        ),
        ({ definition, statuses, flags }) => {
          const map = new Map<string, TaskStatus>();
          definition.tasks.forEach((t, i) => {
            const s = statuses[i];
            if (s !== undefined) map.set(t.id, s);
          });
          const flagsById = Object.fromEntries(definition.tasks.map((t, i) => [t.id, flags[i] === true]));
          const scope: ValueScope = { input: { flags: flagsById }, upstream: {} };
          const result = settle(definition, map, scope);
          const expected = referenceSettle(definition, map, flagsById);
          expect([...result.ready].sort()).toEqual(expected.ready);
          expect(result.skipped.map((s) => s.taskId).sort()).toEqual(expected.skipped);
          for (const s of result.skipped) expect(s.reason).not.toBe('');
          // causes first: a task skipped because of an upstream skip comes after it
          const order = new Map(result.skipped.map((s, i) => [s.taskId, i]));
          for (const s of result.skipped) {
            const match = /^upstream (\S+) SKIPPED$/.exec(s.reason);
            if (match?.[1] !== undefined && order.has(match[1])) expect(order.get(match[1])).toBeLessThan(order.get(s.taskId) ?? -1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('runOutcome', () => {
  const definition = workflow(task('a'), task('b', [], { critical: false }));

  it('is undefined while a task is not final', () => {
    expect(runOutcome(definition, statusMap({ a: 'SUCCEEDED', b: 'RUNNING' }))).toBeUndefined();
    expect(runOutcome(definition, statusMap({ a: 'SUCCEEDED' }))).toBeUndefined();
  });

  it('fails the run only for a critical failure', () => {
    expect(runOutcome(definition, statusMap({ a: 'SUCCEEDED', b: 'FAILED' }))).toBe('COMPLETED');
    expect(runOutcome(definition, statusMap({ a: 'FAILED', b: 'SUCCEEDED' }))).toBe('FAILED');
    expect(runOutcome(definition, statusMap({ a: 'SKIPPED', b: 'CANCELLED' }))).toBe('COMPLETED');
  });
});

describe('a whole run (simulation property)', () => {
  it('ends with every task final, nothing started early, and the outcome of the critical-failure rule', () => {
    fc.assert(
      fc.property(
        dagArbitrary({ rules: true }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        ({ definition }, outcomes, picks, flags) => {
          let nextOutcome = 0;
          let nextPick = 0;
          const flagsById = Object.fromEntries(definition.tasks.map((t, i) => [t.id, flags[i % flags.length] === true]));
          const scope: ValueScope = { input: { flags: flagsById }, upstream: {} };
          const statuses = new Map<string, TaskStatus>(definition.tasks.map((t) => [t.id, 'PENDING']));
          const byId = new Map(definition.tasks.map((t) => [t.id, t]));
          const executed = new Set<string>();
          let steps = 0;
          while (runOutcome(definition, statuses) === undefined) {
            expect(++steps).toBeLessThanOrEqual(2 * definition.tasks.length + 1);
            const { ready, skipped } = settle(definition, statuses, scope);
            for (const { taskId } of skipped) statuses.set(taskId, 'SKIPPED');
            for (const id of ready) {
              const t = byId.get(id);
              expect(t).toBeDefined();
              if (t === undefined) continue;
              expect(statuses.get(id)).toBe('PENDING');
              expect(executed.has(id)).toBe(false);
              expect(referenceDecision(t.trigger, t.dependsOn.map((d) => statuses.get(d) ?? 'PENDING'))).toBe('ready');
              if (t.when !== undefined) expect(flagsById[id]).toBe(true);
            }
            // Run some of the ready tasks (at least one), so the interleavings vary.
            const started = ready.filter((_, i) => i === 0 || picks[nextPick++ % picks.length] === true);
            for (const id of started) {
              executed.add(id);
              statuses.set(id, outcomes[nextOutcome++ % outcomes.length] === true ? 'SUCCEEDED' : 'FAILED');
            }
            // Never stuck: something happens on every step until the run ends.
            expect(started.length + skipped.length).toBeGreaterThan(0);
          }
          for (const t of definition.tasks) expect(FINAL_TASK_STATUSES.has(statuses.get(t.id) ?? 'PENDING')).toBe(true);
          const criticalFailure = definition.tasks.some((t) => t.critical && statuses.get(t.id) === 'FAILED');
          expect(runOutcome(definition, statuses)).toBe(criticalFailure ? 'FAILED' : 'COMPLETED');
        },
      ),
      { numRuns: 200 },
    );
  });
});
