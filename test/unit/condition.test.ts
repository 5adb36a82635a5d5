import { describe, expect, it } from 'vitest';
import {
  evaluateCondition,
  placeholderPaths,
  renderTemplate,
  resolvePath,
  type JsonValue,
  type ValueScope,
} from '../../shared/model/condition.js';
import type { Condition, ConditionOp } from '../../shared/model/condition.js';
import { UnresolvedPlaceholderError } from '../../shared/model/errors.js';

const scope: ValueScope = {
  input: { orderId: 'o-1', amount: 42, tags: ['a', 'b'], nested: { deep: { x: null } }, name: 'Ann' },
  upstream: {
    check: { output: { approved: true, score: 7, items: [{ sku: 's1' }] } },
    empty: {},
  },
};

describe('resolvePath', () => {
  it('reads the run input and upstream outputs', () => {
    expect(resolvePath('input', scope)).toBe(scope.input);
    expect(resolvePath('input.amount', scope)).toBe(42);
    expect(resolvePath('upstream.check.output.approved', scope)).toBe(true);
    expect(resolvePath('upstream.check.output.items.0.sku', scope)).toBe('s1');
    expect(resolvePath('input.nested.deep.x', scope)).toBeNull();
  });

  it('is undefined for anything missing', () => {
    expect(resolvePath('input.missing.deeper', scope)).toBeUndefined();
    expect(resolvePath('upstream.nope.output', scope)).toBeUndefined();
    expect(resolvePath('upstream.empty.output.x', scope)).toBeUndefined();
    expect(resolvePath('input.tags.2', scope)).toBeUndefined();
    expect(resolvePath('input.tags.01', scope)).toBeUndefined();
    expect(resolvePath('input.amount.x', scope)).toBeUndefined();
    expect(resolvePath('other.x', scope)).toBeUndefined();
  });

  it('never follows the prototype chain', () => {
    expect(resolvePath('input.constructor', scope)).toBeUndefined();
    expect(resolvePath('input.tags.length', scope)).toBeUndefined();
    expect(resolvePath('upstream.constructor.output', scope)).toBeUndefined();
  });
});

describe('evaluateCondition', () => {
  const leaf = (path: string, op: ConditionOp, value?: JsonValue): Condition =>
    value === undefined ? { path, op } : { path, op, value };

  it('compares with eq and ne by deep equality', () => {
    expect(evaluateCondition(leaf('upstream.check.output.approved', 'eq', true), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.tags', 'eq', ['a', 'b']), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.tags', 'eq', ['b', 'a']), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.nested', 'eq', { deep: { x: null } }), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.nested', 'eq', { deep: { x: null, y: 1 } }), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.amount', 'eq', '42'), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.amount', 'ne', 41), scope)).toBe(true);
  });

  it('treats a missing value as equal to nothing: eq false, ne true', () => {
    expect(evaluateCondition(leaf('input.missing', 'eq', null), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.missing', 'ne', null), scope)).toBe(true);
  });

  it('orders only number with number and string with string', () => {
    expect(evaluateCondition(leaf('input.amount', 'gt', 41), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.amount', 'gte', 42), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.amount', 'lt', 42), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.amount', 'lte', 42), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.name', 'gt', 'Adam'), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.name', 'lt', 'B'), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.amount', 'gt', '1'), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.amount', 'lt', '100'), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.missing', 'lt', 1), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.nested', 'gte', 0), scope)).toBe(false);
  });

  it('tests membership with in', () => {
    expect(evaluateCondition(leaf('input.orderId', 'in', ['o-0', 'o-1']), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.tags', 'in', [['a', 'b']]), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.orderId', 'in', []), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.missing', 'in', [null]), scope)).toBe(false);
  });

  it('tests presence with exists, null counting as present', () => {
    expect(evaluateCondition(leaf('input.amount', 'exists'), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.nested.deep.x', 'exists'), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.missing', 'exists'), scope)).toBe(false);
    expect(evaluateCondition(leaf('input.missing', 'exists', false), scope)).toBe(true);
    expect(evaluateCondition(leaf('input.amount', 'exists', false), scope)).toBe(false);
  });

  it('combines with all, any and not', () => {
    const yes = leaf('input.amount', 'eq', 42);
    const no = leaf('input.amount', 'eq', 0);
    expect(evaluateCondition({ all: [yes, yes] }, scope)).toBe(true);
    expect(evaluateCondition({ all: [yes, no] }, scope)).toBe(false);
    expect(evaluateCondition({ any: [no, yes] }, scope)).toBe(true);
    expect(evaluateCondition({ any: [no, no] }, scope)).toBe(false);
    expect(evaluateCondition({ not: no }, scope)).toBe(true);
    expect(evaluateCondition({ not: { any: [no, { all: [yes, { not: yes }] }] } }, scope)).toBe(true);
  });
});

describe('renderTemplate', () => {
  it('keeps the JSON type of a string that is exactly one placeholder', () => {
    expect(renderTemplate('{{input.amount}}', scope)).toBe(42);
    expect(renderTemplate('{{ upstream.check.output.items }}', scope)).toEqual([{ sku: 's1' }]);
    expect(renderTemplate('{{upstream.check.output.approved}}', scope)).toBe(true);
  });

  it('embeds values as text in a longer string, objects as JSON', () => {
    expect(renderTemplate('http://h/charge/{{input.orderId}}?n={{input.amount}}', scope)).toBe('http://h/charge/o-1?n=42');
    expect(renderTemplate('tags={{input.tags}};x={{input.nested.deep.x}}', scope)).toBe('tags=["a","b"];x=null');
  });

  it('refuses a placeholder with nothing at its path, whole or embedded, naming it and where it is', () => {
    expect(() => renderTemplate('{{input.missing}}', scope, { where: 'http.body' })).toThrow(UnresolvedPlaceholderError);
    expect(() => renderTemplate('m=[{{input.nope.deep}}]', scope, { where: 'http.url' })).toThrow(
      'http.url: {{input.nope.deep}} resolves to nothing (no value at that path)',
    );
    expect(() => renderTemplate({ a: ['{{upstream.absent.output}}'] }, scope)).toThrow(/upstream\.absent\.output/);
    // A present JSON null is a value, not a missing one.
    expect(renderTemplate('{{input.nested.deep.x}}', scope)).toBeNull();
  });

  it('recurses through arrays and object values, never keys', () => {
    const template = { '{{input.orderId}}': ['{{input.amount}}', { a: 'id {{input.orderId}}' }], n: 1, b: false, z: null };
    expect(renderTemplate(template, scope)).toEqual({
      '{{input.orderId}}': [42, { a: 'id o-1' }],
      n: 1,
      b: false,
      z: null,
    });
  });

  it('keeps a __proto__ key as data', () => {
    const rendered = renderTemplate(JSON.parse('{"__proto__": {"polluted": "{{input.orderId}}"}}') as JsonValue, scope);
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.hasOwn(rendered as object, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(rendered, '__proto__')?.value).toEqual({ polluted: 'o-1' });
  });

  it('leaves other double-brace text alone', () => {
    expect(renderTemplate('Hello {{name}} {{inputs.x}}', scope)).toBe('Hello {{name}} {{inputs.x}}');
  });

  it('escapes embedded values when asked, e.g. for a URL', () => {
    const s: ValueScope = { input: { q: 'a b/c' }, upstream: {} };
    expect(renderTemplate('http://h/{{input.q}}', s, { escape: encodeURIComponent })).toBe('http://h/a%20b%2Fc');
  });
});

describe('placeholderPaths', () => {
  it('lists the placeholders of strings, arrays and object values in order', () => {
    expect(
      placeholderPaths({ a: '{{input.x}}-{{ upstream.t.output.y }}', b: ['{{upstream.u.output}}', 3, null], '{{input.key}}': 'k' }),
    ).toEqual(['input.x', 'upstream.t.output.y', 'upstream.u.output']);
  });

  it('includes malformed input/upstream placeholders so they can be refused', () => {
    expect(placeholderPaths('{{upstream.t}} {{input}} {{other}}')).toEqual(['upstream.t', 'input']);
  });
});

describe('{{item}} and {{index}}', () => {
  it('resolve in a map task\'s item scope, and stay text anywhere else', () => {
    const template = { url: 'https://x.example/{{item.id}}?at={{index}}', whole: '{{item}}', other: '{{input.a}}' };
    expect(renderTemplate(template, { input: { a: 1 }, upstream: {}, item: { value: { id: 'k' }, index: 3 } })).toEqual({ url: 'https://x.example/k?at=3', whole: { id: 'k' }, other: 1 });
    expect(renderTemplate(template, { input: { a: 1 }, upstream: {} })).toEqual({ url: 'https://x.example/{{item.id}}?at={{index}}', whole: '{{item}}', other: 1 });
    expect(placeholderPaths(template)).toEqual(['input.a']);
    expect(placeholderPaths(template, { inMapTask: true })).toEqual(['item.id', 'index', 'item', 'input.a']);
  });
});
