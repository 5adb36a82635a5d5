// Values a definition refers to by path: `when` conditions and `{{...}}` placeholders in http
// templates. Both read the same scope (run input + upstream outputs) through `resolvePath`, and
// neither ever evaluates code: a condition is data interpreted by a fixed set of operators.
// `{{secret:NAME}}` is the one placeholder that is not a path: it names a secret, which only the
// worker resolves, and only in http header values (docs/secrets.md).
import type * as z from 'zod';
import { UnresolvedPlaceholderError } from './errors.js';

export type JsonValue = z.core.util.JSONType;

export const CONDITION_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'exists'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A `when` condition: a comparison at a path, or all/any/not of conditions. Data, never code. */
export type Condition =
  | { path: string; op: ConditionOp; value?: JsonValue }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

/** `input`, `input.a.b`, `upstream.<taskId>.output` or `upstream.<taskId>.output.a.b`. */
export const VALUE_PATH_PATTERN = /^(input|upstream\.[A-Za-z][A-Za-z0-9_-]*\.output)(\.[A-Za-z0-9_-]+)*$/;

/** The placeholder a callback task's request quotes its token with (nowhere else in scope). */
export const CALLBACK_TOKEN_PATH = 'callback.token';

/** In a map's task: `item`, `item.a.b` (the item the attempt runs for) and `index` (its place in the list). */
export const MAP_ITEM_PATH_PATTERN = /^(item(\.[A-Za-z0-9_-]+)*|index)$/;

/**
 * What paths and placeholders can see: the run input and the outputs of upstream tasks by id;
 * in a callback task's request, its token too.
 */
export interface ValueScope {
  input: unknown;
  upstream: Readonly<Record<string, { output?: unknown } | undefined>>;
  callback?: { token: string };
  /** In a map's task: the item and its index. */
  item?: { value: unknown; index: number };
}

/**
 * The value at `input[.a.b...]` or `upstream.<taskId>.output[.a.b...]`, or undefined when any step
 * is missing. Numeric segments index arrays. Only own properties are followed, so a path such as
 * `input.constructor` finds nothing rather than something from the prototype chain.
 */
export function resolvePath(path: string, scope: ValueScope): unknown {
  if (path === CALLBACK_TOKEN_PATH) return scope.callback?.token;
  if (path === 'index') return scope.item?.index;
  const segments = path.split('.');
  let current: unknown;
  let rest: string[];
  if (segments[0] === 'item') {
    current = scope.item?.value;
    rest = segments.slice(1);
  } else if (segments[0] === 'input') {
    current = scope.input;
    rest = segments.slice(1);
  } else if (segments[0] === 'upstream' && segments.length >= 3 && segments[2] === 'output') {
    const taskId = segments[1] ?? '';
    const upstream = Object.hasOwn(scope.upstream, taskId) ? scope.upstream[taskId] : undefined;
    current = upstream?.output;
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  for (const segment of rest) {
    current = child(current, segment);
    if (current === undefined) return undefined;
  }
  return current;
}

function child(value: unknown, segment: string): unknown {
  if (Array.isArray(value)) {
    if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
    return value[Number(segment)] as unknown;
  }
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, segment)) {
    return (value as Record<string, unknown>)[segment];
  }
  return undefined;
}

/**
 * Evaluates a `when` condition. Choices a reader may not guess:
 * - a missing value (undefined) equals nothing, so `eq` and `in` are false and `ne` is true
 *   (`ne` is exactly `not eq`);
 * - `exists` is true for any present value, JSON null included (as Step Functions' IsPresent);
 * - `gt gte lt lte` compare two numbers or two strings (by UTF-16 code units) and are false for
 *   any other pair, so a type mismatch never coerces.
 */
export function evaluateCondition(condition: Condition, scope: ValueScope): boolean {
  if ('all' in condition) return condition.all.every((c) => evaluateCondition(c, scope));
  if ('any' in condition) return condition.any.some((c) => evaluateCondition(c, scope));
  if ('not' in condition) return !evaluateCondition(condition.not, scope);
  const actual = resolvePath(condition.path, scope);
  const expected = condition.value;
  switch (condition.op) {
    case 'eq':
      return jsonEqual(actual, expected);
    case 'ne':
      return !jsonEqual(actual, expected);
    case 'in':
      return Array.isArray(expected) && expected.some((candidate) => jsonEqual(actual, candidate));
    case 'exists':
      return (actual !== undefined) === (expected ?? true);
    case 'gt':
      return compare(actual, expected, (order) => order > 0);
    case 'gte':
      return compare(actual, expected, (order) => order >= 0);
    case 'lt':
      return compare(actual, expected, (order) => order < 0);
    case 'lte':
      return compare(actual, expected, (order) => order <= 0);
  }
}

function compare(actual: unknown, expected: unknown, accept: (order: number) => boolean): boolean {
  if (typeof actual === 'number' && typeof expected === 'number') {
    return accept(actual < expected ? -1 : actual > expected ? 1 : 0);
  }
  if (typeof actual === 'string' && typeof expected === 'string') {
    return accept(actual < expected ? -1 : actual > expected ? 1 : 0);
  }
  return false;
}

/** Structural equality of JSON values; undefined equals nothing, not even undefined. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  return aKeys.every((key) => Object.hasOwn(bRecord, key) && jsonEqual(aRecord[key], bRecord[key]));
}

// A placeholder is `{{` + a path starting with `input`, `upstream` or `callback` + `}}` (blanks
// inside the braces allowed); in a map's task, `item` and `index` too. Other `{{...}}` text is left
// alone, so a body may carry another template language (outside a map's task, `{{item}}` is such
// text); a malformed path that starts with one of them is still a placeholder, so that checkGraph
// can refuse the typo instead of it being sent literally.
const ROOTS = 'input|upstream|callback';
const MAP_ROOTS = 'input|upstream|callback|item|index';
const patterns = (roots: string) => ({
  placeholder: new RegExp(`\\{\\{\\s*((?:${roots})(?:\\.[^{}\\s]*)?)\\s*\\}\\}`, 'g'),
  whole: new RegExp(`^\\{\\{\\s*((?:${roots})(?:\\.[^{}\\s]*)?)\\s*\\}\\}$`),
  // Both kinds in one pattern, so that a header is rendered in a single pass: a value from the
  // input that happens to read `{{secret:...}}` stays text and never names a secret.
  withSecrets: new RegExp(`\\{\\{\\s*(?:((?:${roots})(?:\\.[^{}\\s]*)?)|secret:([^{}]*?))\\s*\\}\\}`, 'g'),
});
const TASK_PATTERNS = patterns(ROOTS);
const MAP_TASK_PATTERNS = patterns(MAP_ROOTS);
// `{{secret:NAME}}`. Whatever follows `secret:` is taken as the name, even a malformed one, so that
// the definition checks refuse it rather than it being sent literally.
const SECRET_PLACEHOLDER = /\{\{\s*secret:([^{}]*?)\s*\}\}/g;

/** What a secret's name may look like: the names Secrets Manager and SSM (with `/`) both accept. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9/_+=.@-]*$/;
/** Secrets Manager's longest name. */
export const MAX_SECRET_NAME_LENGTH = 512;

export interface RenderOptions {
  /** Applied to each value embedded in a longer string, e.g. encodeURIComponent for a URL. */
  escape?: (text: string) => string;
  /** Where the template is, for the message of a placeholder that resolves to nothing. */
  where?: string;
  /**
   * Resolved secrets by name. When given, `{{secret:NAME}}` placeholders are replaced by their
   * values; when not, they are left as text (the definition checks allow them in headers only).
   */
  secrets?: ReadonlyMap<string, string>;
}

/**
 * Fills the placeholders of an http template. A string that is exactly one placeholder becomes
 * the value itself (its JSON type kept); in a longer string values are embedded as text (objects
 * and arrays as JSON). Arrays and object values are rendered recursively; object keys are not
 * templated. A placeholder with nothing at its path throws UnresolvedPlaceholderError: a request
 * built from a missing value is never sent.
 */
export function renderTemplate(value: JsonValue, scope: ValueScope, options: RenderOptions = {}): JsonValue {
  if (typeof value === 'string') return renderString(value, scope, options);
  if (Array.isArray(value)) return value.map((item) => renderTemplate(item, scope, options));
  if (typeof value === 'object' && value !== null) {
    // fromEntries defines own properties, so a "__proto__" key stays data and never a prototype.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderTemplate(item, scope, options)]));
  }
  return value;
}

function renderString(text: string, scope: ValueScope, options: RenderOptions): JsonValue {
  // A map's item task renders `{{item}}` and `{{index}}`; any other task leaves them as text.
  const forTask = scope.item === undefined ? TASK_PATTERNS : MAP_TASK_PATTERNS;
  const resolve = (path: string): unknown => {
    const resolved = resolvePath(path, scope);
    if (resolved === undefined) throw new UnresolvedPlaceholderError(path, options.where ?? 'template');
    return resolved;
  };
  const whole = forTask.whole.exec(text);
  if (whole?.[1] !== undefined) return resolve(whole[1]) as JsonValue;
  const { secrets } = options;
  const pattern = secrets === undefined ? forTask.placeholder : forTask.withSecrets;
  return text.replace(pattern, (_match, path: string | undefined, secretName: string | undefined) => {
    const embedded = secretName !== undefined && secrets !== undefined ? secretValue(secretName, secrets) : valueText(resolve(path ?? ''));
    return options.escape === undefined ? embedded : options.escape(embedded);
  });
}

function valueText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function secretValue(name: string, secrets: ReadonlyMap<string, string>): string {
  const value = secrets.get(name);
  // The caller resolves every name of the template first; a gap is a bug, never an empty header.
  if (value === undefined) throw new Error(`secret "${name}" was not resolved before rendering`);
  return value;
}

/**
 * The names in every `{{secret:NAME}}` placeholder of a template (strings, array items, object
 * values and keys), in order of appearance, duplicates kept, malformed names included.
 */
export function secretReferences(value: JsonValue): string[] {
  const names: string[] = [];
  const pending: JsonValue[] = [value];
  while (pending.length > 0) {
    const current = pending.pop() as JsonValue;
    if (typeof current === 'string') {
      for (const match of current.matchAll(SECRET_PLACEHOLDER)) names.push(match[1] ?? '');
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push(current[i] as JsonValue);
    } else if (typeof current === 'object' && current !== null) {
      const entries = Object.entries(current);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, JsonValue];
        pending.push(item, key);
      }
    }
  }
  return names;
}

/** Why a secret name is refused, or undefined for a good one. */
export function secretNameProblem(name: string): string | undefined {
  if (name.length > MAX_SECRET_NAME_LENGTH) return `secret name is longer than ${MAX_SECRET_NAME_LENGTH} characters`;
  if (SECRET_NAME_PATTERN.test(name)) return undefined;
  return `secret name "${name}" is invalid: it must start with a letter or digit and use only letters, digits and / _ + = . @ -`;
}

/**
 * The paths of every placeholder in a template, in order of appearance (duplicates kept);
 * `inMapTask`: a map's task's template, where `item` and `index` are placeholders too.
 */
export function placeholderPaths(value: JsonValue, options: { inMapTask?: boolean } = {}): string[] {
  const { placeholder } = options.inMapTask === true ? MAP_TASK_PATTERNS : TASK_PATTERNS;
  const paths: string[] = [];
  const pending: JsonValue[] = [value];
  while (pending.length > 0) {
    const current = pending.pop() as JsonValue;
    if (typeof current === 'string') {
      for (const match of current.matchAll(placeholder)) {
        if (match[1] !== undefined) paths.push(match[1]);
      }
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) pending.push(current[i] as JsonValue);
    } else if (typeof current === 'object' && current !== null) {
      const items = Object.values(current);
      for (let i = items.length - 1; i >= 0; i--) pending.push(items[i] as JsonValue);
    }
  }
  return paths;
}

/** Every `path` in a condition tree. */
export function conditionPaths(condition: Condition): string[] {
  const paths: string[] = [];
  const pending: Condition[] = [condition];
  while (pending.length > 0) {
    const current = pending.pop() as Condition;
    if ('all' in current) pending.push(...[...current.all].reverse());
    else if ('any' in current) pending.push(...[...current.any].reverse());
    else if ('not' in current) pending.push(current.not);
    else paths.push(current.path);
  }
  return paths;
}
