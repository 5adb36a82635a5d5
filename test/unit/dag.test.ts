import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dependentsIndex, rootTasks, topologicalOrder } from '../../shared/model/dag.js';
import { WorkflowDefinitionSchema, checkGraph, parseDefinition, type TaskDefinition } from '../../shared/model/definition.js';
import { ValidationError } from '../../shared/model/errors.js';
import { dagArbitrary, descendants, task, workflow } from './arbitraries.js';

function messages(...tasks: TaskDefinition[]): string[] {
  return checkGraph(workflow(...tasks)).map((p) => `${p.path}: ${p.message}`);
}

/** An http task, through the schema so that its defaults are filled in. */
function httpTask(id: string, dependsOn: string[], http: object, extra: object = {}): TaskDefinition {
  const raw = { id: 'wf', tasks: [{ id, type: 'http', dependsOn, http, ...extra }] };
  return WorkflowDefinitionSchema.parse(raw).tasks[0] as TaskDefinition;
}

/** `cycle: a -> b -> a` -> ['a', 'b', 'a']. */
function cycleIn(message: string): string[] | undefined {
  const match = /^cycle: (.*)$/.exec(message);
  return match?.[1]?.split(' -> ');
}

describe('checkGraph', () => {
  it('accepts the order-processing example', () => {
    expect(
      messages(
        task('validate_payment'),
        task('reserve_inventory'),
        task('charge_payment', ['validate_payment']),
        task('ship_order', ['reserve_inventory', 'charge_payment']),
        task('send_confirmation', ['ship_order']),
      ),
    ).toEqual([]);
  });

  it('names a duplicate task id', () => {
    expect(messages(task('a'), task('b'), task('a'))).toEqual(['tasks.a.id: task id "a" is used by 2 tasks']);
  });

  it('names an unknown dependency and the task that lists it', () => {
    expect(messages(task('charge'), task('ship_order', ['chrge']))).toEqual([
      'tasks.ship_order.dependsOn: task "ship_order" depends on unknown task "chrge"',
    ]);
  });

  it('refuses a dependency listed twice by the same task, once', () => {
    expect(messages(task('a'), task('b', ['a', 'a', 'a']))).toEqual([
      'tasks.b.dependsOn: task "b" lists dependency "a" more than once',
    ]);
  });

  it('refuses a task that depends on itself', () => {
    expect(messages(task('a', ['a']))).toEqual(['tasks.a.dependsOn: task "a" depends on itself']);
  });

  it('names the cycle a -> b -> c -> a', () => {
    // c depends on b, b on a, a on c: a runs before b, b before c, c before a.
    expect(messages(task('a', ['c']), task('b', ['a']), task('c', ['b']))).toEqual(['tasks.a.dependsOn: cycle: a -> b -> c -> a']);
  });

  it('starts a cycle at the task that comes first in the definition', () => {
    expect(messages(task('x'), task('c', ['b']), task('a', ['c', 'x']), task('b', ['a']))).toEqual([
      'tasks.c.dependsOn: cycle: c -> a -> b -> c',
    ]);
  });

  it('reports each separate cycle once', () => {
    const problems = messages(task('a', ['b']), task('b', ['a']), task('c', ['d']), task('d', ['c']), task('e', ['a', 'c']));
    expect(problems).toEqual(['tasks.a.dependsOn: cycle: a -> b -> a', 'tasks.c.dependsOn: cycle: c -> d -> c']);
  });

  it('refers to upstream values only of direct dependencies in when', () => {
    const problems = messages(
      task('check'),
      task('other'),
      task('ship', ['check'], {
        when: {
          all: [
            { path: 'upstream.check.output.approved', op: 'eq', value: true },
            { path: 'upstream.other.output.ok', op: 'exists' },
            { path: 'upstream.nope.output', op: 'exists' },
          ],
        },
      }),
    );
    expect(problems).toEqual([
      'tasks.ship.when: task "ship" refers to upstream.other.output.ok but does not depend on task "other"',
      'tasks.ship.when: task "ship" refers to upstream.nope.output of unknown task "nope"',
    ]);
  });

  it('refers to upstream values only of direct dependencies in http url, headers and body', () => {
    const charge = httpTask('charge', ['validate'], {
      url: 'http://h/charge/{{input.orderId}}/{{upstream.far.output.id}}',
      method: 'POST',
      headers: { 'x-k': '{{upstream.validate.output.key}}', 'x-j': 'Bearer {{upstream.far.output.token}}' },
      body: { amount: '{{upstream.validate.output.amount}}', items: ['{{upstream.far.output.items}}'] },
    });
    expect(messages(task('far'), task('validate', ['far']), charge)).toEqual([
      'tasks.charge.http.url: task "charge" refers to upstream.far.output.id but does not depend on task "far"',
      'tasks.charge.http.headers.x-j: task "charge" refers to upstream.far.output.token but does not depend on task "far"',
      'tasks.charge.http.body: task "charge" refers to upstream.far.output.items but does not depend on task "far"',
    ]);
  });

  it('checks an inline http compensation, which may read the output of the task it undoes', () => {
    const charge = httpTask(
      'charge',
      ['validate'],
      { url: 'http://h/charge' },
      {
        compensate: {
          type: 'http',
          http: { url: 'http://h/refund/{{upstream.charge.output.chargeId}}', body: { why: '{{upstream.other.output}}' } },
        },
      },
    );
    expect(messages(task('validate'), task('other'), charge)).toEqual([
      'tasks.charge.compensate.http.body: task "charge" refers to upstream.other.output but does not depend on task "other"',
    ]);
  });

  it('refuses a malformed placeholder instead of sending it literally', () => {
    const t = httpTask('t', ['a'], { url: 'http://h/{{upstream.a.outptu.x}}', body: '{{ input.ok }} and {{ not.a.placeholder }}' });
    expect(messages(task('a'), t)).toEqual([
      'tasks.t.http.url: task "t" refers to "upstream.a.outptu.x": a path must be input[.field...] or upstream.<taskId>.output[.field...]',
    ]);
  });

  it('is what parseDefinition reports for the graph', () => {
    const result = parseDefinition({
      id: 'wf',
      tasks: [
        { id: 'a', handler: 'h', dependsOn: ['b'] },
        { id: 'b', handler: 'h', dependsOn: ['a'] },
      ],
    });
    expect(result).toEqual({ ok: false, problems: [{ path: 'tasks.a.dependsOn', message: 'cycle: a -> b -> a' }] });
  });

  it('handles a 5,000-task chain and a 5,000-task cycle without deep recursion', () => {
    const chain = Array.from({ length: 5000 }, (_, i) => task(`t${i}`, i === 0 ? [] : [`t${i - 1}`]));
    expect(checkGraph(workflow(...chain))).toEqual([]);
    const ring = Array.from({ length: 5000 }, (_, i) => task(`t${i}`, [`t${(i + 4999) % 5000}`]));
    const problems = checkGraph(workflow(...ring));
    expect(problems).toHaveLength(1);
    expect(cycleIn(problems[0]?.message ?? '')).toHaveLength(5001);
  });

  it('stays fast on a wide, dense 5,000-task graph', () => {
    // Each task depends on up to 20 earlier ones: 100,000 edges.
    const tasks = Array.from({ length: 5000 }, (_, i) => {
      const dependencies = Array.from({ length: Math.min(i, 20) }, (_, k) => `t${(i * 7 + k * 13) % i}`);
      return task(`t${i}`, [...new Set(dependencies)]);
    });
    const started = performance.now();
    expect(checkGraph(workflow(...tasks))).toEqual([]);
    expect(topologicalOrder(tasks)).toHaveLength(5000);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('finds no problem in any DAG (property)', () => {
    fc.assert(
      fc.property(dagArbitrary(), ({ definition }) => {
        expect(checkGraph(definition)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('reports a real cycle when a back edge is added to a DAG (property)', () => {
    fc.assert(
      fc.property(dagArbitrary({ maxTasks: 15 }), fc.nat(), fc.nat(), ({ definition }, fromPick, toPick) => {
        const ids = definition.tasks.map((t) => t.id);
        const from = ids[fromPick % ids.length] ?? '';
        const below = [...descendants(definition, from)];
        const tasks = definition.tasks.map((t) => ({ ...t, dependsOn: [...t.dependsOn] }));
        const byId = new Map(tasks.map((t) => [t.id, t]));
        let to = below[toPick % Math.max(below.length, 1)];
        if (to === undefined) {
          // No descendant: add one, so the back edge closes a cycle of two.
          to = 'extra';
          const extra = task(to, [from]);
          tasks.push(extra);
          byId.set(to, extra);
        }
        byId.get(from)?.dependsOn.push(to); // from now depends on its own descendant
        const problems = checkGraph(workflow(...tasks));
        const cycles = problems.map((p) => cycleIn(p.message));
        expect(cycles.length).toBeGreaterThan(0);
        for (const cycle of cycles) {
          expect(cycle).toBeDefined();
          const path = cycle ?? [];
          expect(path.length).toBeGreaterThanOrEqual(3);
          expect(path[0]).toBe(path[path.length - 1]);
          expect(new Set(path.slice(1)).size).toBe(path.length - 1);
          for (let i = 0; i + 1 < path.length; i++) {
            // execution order: the next task depends on this one
            expect(byId.get(path[i + 1] ?? '')?.dependsOn).toContain(path[i]);
          }
        }
        expect(() => topologicalOrder(tasks)).toThrow(ValidationError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('topologicalOrder', () => {
  it('breaks ties by the order of the tasks', () => {
    // Of the tasks whose dependencies are placed, the one listed first goes next.
    expect(topologicalOrder([task('b', ['c']), task('a'), task('c'), task('d', ['b'])])).toEqual(['a', 'c', 'b', 'd']);
    expect(topologicalOrder([task('c'), task('b', ['c']), task('a')])).toEqual(['c', 'b', 'a']);
  });

  it('throws a ValidationError naming the cycle', () => {
    expect(() => topologicalOrder([task('a', ['b']), task('b', ['a'])])).toThrow('cycle: a -> b -> a');
  });

  it('throws on a task that depends on itself', () => {
    expect(() => topologicalOrder([task('a', ['a'])])).toThrow('task "a" depends on itself');
  });

  it('throws on an unknown dependency', () => {
    expect(() => topologicalOrder([task('a', ['zz'])])).toThrow('task "a" depends on unknown task "zz"');
  });

  it('places every task after all its dependencies, deterministically (property)', () => {
    fc.assert(
      fc.property(dagArbitrary(), ({ definition }) => {
        const order = topologicalOrder(definition.tasks);
        expect([...order].sort()).toEqual(definition.tasks.map((t) => t.id).sort());
        const position = new Map(order.map((id, i) => [id, i]));
        for (const t of definition.tasks) {
          for (const dependency of t.dependsOn) expect(position.get(dependency)).toBeLessThan(position.get(t.id) ?? -1);
        }
        expect(topologicalOrder(definition.tasks)).toEqual(order);
      }),
      { numRuns: 200 },
    );
  });
});

describe('dependentsIndex', () => {
  it('maps each task to the tasks that depend on it, every task included', () => {
    const index = dependentsIndex(workflow(task('a'), task('b', ['a']), task('c', ['a', 'b']), task('d')));
    expect(Object.fromEntries(index)).toEqual({ a: ['b', 'c'], b: ['c'], c: [], d: [] });
  });
});

describe('rootTasks', () => {
  it('lists the tasks with no dependencies, in definition order', () => {
    expect(rootTasks(workflow(task('b', ['a']), task('z'), task('a')))).toEqual(['z', 'a']);
  });
});
