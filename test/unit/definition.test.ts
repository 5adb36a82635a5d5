import { describe, expect, it } from 'vitest';
import { assertDefinition, parseDefinition, type WorkflowDefinitionInput } from '../../shared/model/definition.js';
import { ValidationError } from '../../shared/model/errors.js';
import { LIMITS } from '../../shared/model/limits.js';
import { definitionVersion } from '../../shared/model/version.js';
import { workflow } from '../../shared/model/builder.js';

/** The example of docs/architecture.md, as JSON config. */
const orderProcessing: WorkflowDefinitionInput = {
  id: 'order_processing',
  tasks: [
    { id: 'validate_payment', handler: 'check_payment' },
    { id: 'reserve_inventory', handler: 'reserve_items' },
    {
      id: 'charge_payment',
      handler: 'run_charge',
      dependsOn: ['validate_payment'],
      retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 },
      timeoutSeconds: 30,
      compensate: 'refund_charge',
    },
    { id: 'ship_order', handler: 'create_shipment', dependsOn: ['reserve_inventory', 'charge_payment'] },
    { id: 'send_confirmation', handler: 'notify_customer', dependsOn: ['ship_order'] },
  ],
};

function problemsOf(raw: unknown, knownHandlers?: ReadonlySet<string>): string[] {
  const result = parseDefinition(raw, knownHandlers === undefined ? {} : { knownHandlers });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('parseDefinition', () => {
  it('accepts the order_processing example and makes every default explicit', () => {
    const definition = assertDefinition(orderProcessing);
    const validate = definition.tasks[0];
    expect(validate).toEqual({
      id: 'validate_payment',
      type: 'handler',
      handler: 'check_payment',
      dependsOn: [],
      trigger: 'all_success',
      critical: true,
    });
    expect(definition.tasks[2]?.retry).toEqual({ maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 });
  });

  it('accepts every task kind in its documented shape', () => {
    const definition = assertDefinition({
      id: 'kinds',
      tasks: [
        { id: 'validate', type: 'pass', output: { amount: 5 } },
        {
          id: 'charge',
          type: 'http',
          dependsOn: ['validate'],
          http: {
            url: 'http://h/charge/{{input.orderId}}',
            method: 'POST',
            headers: { 'x-k': 'v' },
            body: { amount: '{{upstream.validate.output.amount}}' },
          },
        },
        { id: 'w', type: 'wait', seconds: 5, dependsOn: ['charge'] },
        { id: 'until', type: 'wait', until: '2030-01-01T00:00:00Z' },
        { id: 'f', type: 'fail', error: 'OutOfStock', message: 'none left', dependsOn: ['w'], trigger: 'one_failed' },
        { id: 'l', type: 'lambda', lambda: { functionName: 'arn:aws:lambda:us-east-1:123:function:x' } },
        {
          id: 'gated',
          handler: 'h',
          dependsOn: ['validate'],
          when: { all: [{ path: 'upstream.validate.output.amount', op: 'gt', value: 1 }, { not: { path: 'input.vip', op: 'exists' } }] },
          critical: false,
          compensate: { type: 'http', http: { url: 'https://h/refund', method: 'POST' } },
        },
      ],
    });
    expect(definition.tasks.map((t) => t.type)).toEqual(['pass', 'http', 'wait', 'wait', 'fail', 'lambda', 'handler']);
  });

  it('refuses an empty workflow', () => {
    expect(problemsOf({ id: 'x', tasks: [] })).toEqual(['tasks: a workflow needs at least one task']);
  });

  it('names the task with a bad retry or timeout value', () => {
    const problems = problemsOf({
      id: 'x',
      tasks: [
        { id: 'a', handler: 'h', retry: { maxRetries: -1 } },
        { id: 'b', handler: 'h', retry: { maxRetries: 2, backoffRate: 0.5 } },
        { id: 'c', handler: 'h', timeoutSeconds: 0 },
        { id: 'd', handler: 'h', timeoutSeconds: 10, heartbeatSeconds: 20 },
        { id: 'e', handler: 'h', retry: { maxRetries: 1, initialDelaySeconds: 600, maxDelaySeconds: 60 } },
      ],
    });
    expect(problems).toEqual([
      'tasks.a.retry.maxRetries: maxRetries must not be negative',
      'tasks.b.retry.backoffRate: backoffRate must be at least 1',
      'tasks.c.timeoutSeconds: timeoutSeconds must be greater than 0',
      'tasks.d.heartbeatSeconds: heartbeatSeconds must not exceed timeoutSeconds',
      'tasks.e.retry.initialDelaySeconds: initialDelaySeconds must not exceed maxDelaySeconds',
    ]);
  });

  it('refuses a missing handler, an unknown type and a misspelt field', () => {
    const problems = problemsOf({
      id: 'x',
      tasks: [{ id: 'a' }, { id: 'b', type: 'bogus' }, { id: 'c', handler: 'h', dependOn: ['a'] }],
    });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^tasks\.a\.handler: /);
    expect(problems[1]).toBe('tasks.b.type: type must be one of handler, http, lambda, pass, wait, fail, callback, workflow, map');
    expect(problems[2]).toMatch(/^tasks\.c: .*dependOn/);
  });

  it('names duplicate ids, unknown dependencies and cycles', () => {
    expect(problemsOf({ id: 'x', tasks: [{ id: 'a', handler: 'h' }, { id: 'a', handler: 'h' }] }).join('\n')).toMatch(/"a"/);
    expect(problemsOf({ id: 'x', tasks: [{ id: 'ship', handler: 'h', dependsOn: ['chrge'] }] }).join('\n')).toMatch(
      /"ship".*"chrge"/,
    );
    const cycle = problemsOf({
      id: 'x',
      tasks: [
        { id: 'a', handler: 'h', dependsOn: ['c'] },
        { id: 'b', handler: 'h', dependsOn: ['a'] },
        { id: 'c', handler: 'h', dependsOn: ['b'] },
      ],
    }).join('\n');
    expect(cycle).toMatch(/a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c/);
  });

  it('refuses attempt time limits no worker invocation can meet, naming the limit', () => {
    const problems = problemsOf({
      id: 'x',
      tasks: [
        { id: 'long', type: 'pass', timeoutSeconds: 3600 },
        { id: 'beat', type: 'pass', heartbeatSeconds: 1000 },
        { id: 'undo', type: 'pass', compensate: { type: 'handler', handler: 'h', timeoutSeconds: 901 } },
        { id: 'fine', type: 'pass', timeoutSeconds: LIMITS.maxTimeoutSeconds },
      ],
    });
    const limit = `at most ${LIMITS.maxTimeoutSeconds}: an attempt runs inside one worker invocation, which lasts at most 900 s`;
    expect(problems).toEqual([
      `tasks.long.timeoutSeconds: timeoutSeconds must be ${limit}`,
      `tasks.beat.heartbeatSeconds: heartbeatSeconds must be ${limit}`,
      expect.stringMatching(/^tasks\.undo\.compensate/),
    ]);
    // A run's own deadline is not bound by one invocation.
    expect(problemsOf({ id: 'x', timeoutSeconds: 7 * 86_400, tasks: [{ id: 'a', type: 'pass' }] })).toEqual([]);
  });

  it('refuses a __proto__ key anywhere, naming where, instead of silently dropping it', () => {
    const raw = JSON.parse(
      '{"id":"x","tasks":[{"id":"p","type":"pass","output":{"a":{"__proto__":{"admin":true}}}},' +
        '{"id":"h","type":"http","http":{"url":"http://h/","method":"POST","body":{"__proto__":1}}}]}',
    ) as unknown;
    expect(problemsOf(raw)).toEqual([
      'tasks.h.http.body.__proto__: "__proto__" cannot be used as a key in a definition',
      'tasks.p.output.a.__proto__: "__proto__" cannot be used as a key in a definition',
    ]);
  });

  it('refuses unknown handlers when the registry is given', () => {
    const known = new Set(['check_payment', 'reserve_items', 'run_charge', 'create_shipment', 'notify_customer']);
    expect(problemsOf(orderProcessing, known)).toEqual(['tasks.charge_payment.compensate: unknown handler "refund_charge"']);
    expect(problemsOf(orderProcessing, new Set([...known, 'refund_charge']))).toEqual([]);
  });

  it('refuses a definition over the size limit', () => {
    const huge = { id: 'x', tasks: [{ id: 'a', type: 'pass', output: { blob: 'x'.repeat(LIMITS.maxDefinitionBytes) } }] };
    expect(problemsOf(huge)[0]).toMatch(/over the limit/);
  });

  it('refuses more compensations than can start in one transaction', () => {
    const tasks = Array.from({ length: LIMITS.maxCompensations + 1 }, (_, i) => ({ id: `t${i}`, type: 'pass', compensate: 'undo' }));
    expect(problemsOf({ id: 'x', tasks })).toEqual([`tasks: 99 tasks declare compensate; a workflow may compensate at most 98`]);
  });

  it('refuses more tasks than the limit', () => {
    const tasks = Array.from({ length: LIMITS.maxTasks + 1 }, (_, i) => ({ id: `t${i}`, type: 'pass' }));
    expect(problemsOf({ id: 'x', tasks })).toEqual([`tasks: a workflow has at most ${LIMITS.maxTasks} tasks`]);
  });

  it('throws a ValidationError listing every problem from assertDefinition', () => {
    expect(() => assertDefinition({ id: '9bad', tasks: [] })).toThrow(ValidationError);
  });
});

describe('definitionVersion', () => {
  it('hashes the same definition the same, whatever the order of keys, tasks and dependencies', () => {
    const reordered: WorkflowDefinitionInput = {
      tasks: [...orderProcessing.tasks].reverse().map((task) => {
        const entries = Object.entries(task).reverse();
        const copy = Object.fromEntries(entries) as typeof task;
        return copy.dependsOn === undefined ? copy : { ...copy, dependsOn: [...copy.dependsOn].reverse() };
      }),
      id: 'order_processing',
    };
    expect(definitionVersion(assertDefinition(reordered))).toBe(definitionVersion(assertDefinition(orderProcessing)));
  });

  it('hashes written-out defaults like left-out ones', () => {
    const explicit = {
      id: 'x',
      tasks: [{ id: 'a', type: 'handler', handler: 'h', dependsOn: [], trigger: 'all_success', critical: true }],
    };
    const implicit = { id: 'x', tasks: [{ id: 'a', handler: 'h' }] };
    expect(definitionVersion(assertDefinition(explicit))).toBe(definitionVersion(assertDefinition(implicit)));
  });

  it('gives changed content a different version', () => {
    const changed = {
      ...orderProcessing,
      tasks: orderProcessing.tasks.map((t) => (t.id === 'charge_payment' ? { ...t, timeoutSeconds: 31 } : t)),
    };
    expect(definitionVersion(assertDefinition(changed))).not.toBe(definitionVersion(assertDefinition(orderProcessing)));
  });
});

describe('workflow builder', () => {
  it('produces the same JSON as the config form, and so the same version', () => {
    const built = workflow('order_processing')
      .task('validate_payment', { handler: 'check_payment' })
      .task('reserve_inventory', { handler: 'reserve_items' })
      .task('charge_payment', {
        handler: 'run_charge',
        dependsOn: ['validate_payment'],
        retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 },
        timeoutSeconds: 30,
        compensate: 'refund_charge',
      })
      .task('ship_order', { handler: 'create_shipment', dependsOn: ['reserve_inventory', 'charge_payment'] })
      .task('send_confirmation', { handler: 'notify_customer', dependsOn: ['ship_order'] });
    expect(built.toJSON()).toEqual(orderProcessing);
    expect(definitionVersion(built.build())).toBe(definitionVersion(assertDefinition(orderProcessing)));
  });

  it('builds other task kinds and reports problems like the config form', () => {
    const built = workflow('kinds').task('p', { type: 'pass', output: 1 }).task('w', { type: 'wait', seconds: 1, dependsOn: ['p'] });
    expect(built.build().tasks.map((t) => t.type)).toEqual(['pass', 'wait']);
    expect(() => workflow('bad').task('a', { handler: 'h', dependsOn: ['missing'] }).build()).toThrow(/missing/);
  });
});

describe('map tasks', () => {
  const map = (fields: Record<string, unknown>, extra: Array<Record<string, unknown>> = []) => ({
    id: 'maps',
    tasks: [{ id: 'list', type: 'pass' }, ...extra, { id: 'each', type: 'map', dependsOn: ['list'], items: '{{upstream.list.output.items}}', task: { handler: 'one' }, ...fields }],
  });

  it('fills in the defaults: ten at once, no failure tolerated, a handler task by default', () => {
    const each = assertDefinition(map({})).tasks[1];
    expect(each).toMatchObject({ type: 'map', maxConcurrency: 10, task: { type: 'handler', handler: 'one' } });
    expect(each).not.toHaveProperty('toleratedFailurePercentage');
  });

  it('lets the task read its item, index, the input and its dependencies, in http, lambda and pass bodies', () => {
    expect(problemsOf(map({ task: { type: 'http', http: { url: 'https://api.example.com/{{item.id}}?n={{index}}&who={{input.who}}', method: 'POST', body: { all: '{{upstream.list.output}}' } } } }))).toEqual([]);
    expect(problemsOf(map({ task: { type: 'lambda', lambda: { functionName: 'f', payload: { value: '{{item}}' } } } }))).toEqual([]);
    expect(problemsOf(map({ task: { type: 'pass', output: { at: '{{index}}', name: '{{item.name}}' } } }))).toEqual([]);
  });

  it('refuses items that are not one placeholder, a bad concurrency or tolerance, and a task it cannot run per item', () => {
    expect(problemsOf(map({ items: ['a'] }))).toEqual(['tasks.each.items: items must be a {{...}} placeholder naming a list']);
    expect(problemsOf(map({ items: 'list: {{input.items}}' }))).toEqual(['tasks.each.items: items must be one {{input...}} or {{upstream.<taskId>.output...}} placeholder']);
    expect(problemsOf(map({ maxConcurrency: 0 }))).toEqual(['tasks.each.maxConcurrency: maxConcurrency must be at least 1']);
    expect(problemsOf(map({ maxConcurrency: LIMITS.maxMapConcurrency + 1 }))).toEqual([`tasks.each.maxConcurrency: maxConcurrency must be at most ${LIMITS.maxMapConcurrency}`]);
    expect(problemsOf(map({ toleratedFailurePercentage: 101 }))).toEqual(['tasks.each.toleratedFailurePercentage: toleratedFailurePercentage must be at most 100']);
    expect(problemsOf(map({ heartbeatSeconds: 10 }))).toEqual(["tasks.each.heartbeatSeconds: a map task has no heartbeat: its task's heartbeatSeconds bounds each item"]);
    expect(problemsOf(map({ task: { type: 'wait', seconds: 1 } }))).toEqual(["tasks.each.task.type: a map task's task must be of type handler, http, lambda or pass"]);
  });

  it('refuses references out of scope (another task than a dependency, a typo), and leaves {{item}} alone outside a map', () => {
    expect(problemsOf(map({ items: '{{upstream.other.output}}' }, [{ id: 'other', type: 'pass' }]))).toEqual([
      'tasks.each.items: task "each" refers to upstream.other.output but does not depend on task "other"',
    ]);
    expect(problemsOf(map({ task: { type: 'pass', output: '{{items.0}}' } }))).toEqual([]);
    expect(problemsOf(map({ task: { type: 'pass', output: '{{item..x}}' } }))[0]).toMatch(/refers to "item\.\.x".*or, in a map's task, item\[\.field\.\.\.\] or index/);
    // Outside a map's task `{{item}}` and `{{index}}` are another template language's text, sent as written.
    expect(problemsOf({ id: 'plain', tasks: [{ id: 'a', type: 'http', http: { url: 'https://example.com/{{index}}', body: { name: '{{item.name}}' } } }] })).toEqual([]);
  });

  it('checks the handler of its task against the known ones, and allows secrets only in its request headers', () => {
    expect(problemsOf(map({}), new Set(['other']))).toEqual(['tasks.each.task.handler: unknown handler "one"']);
    expect(problemsOf(map({ task: { type: 'http', http: { url: 'https://example.com', headers: { authorization: 'Bearer {{secret:api-key}}' } } } }))).toEqual([]);
    expect(problemsOf(map({ task: { type: 'http', http: { url: 'https://example.com', body: '{{secret:api-key}}' } } }))).toEqual(['tasks.each.task.http.body: secrets may only be used in http headers']);
  });
});
