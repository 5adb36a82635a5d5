// The workflow model: one zod schema for a definition (docs/architecture.md). The JSON config form
// and the TypeScript builder both go through `parseDefinition`, which adds the graph checks of
// dag.ts and the size limits, and returns the normalized definition (every default made explicit),
// which is what gets content-hashed and stored.
import * as z from 'zod';
import {
  CALLBACK_TOKEN_PATH,
  MAP_ITEM_PATH_PATTERN,
  conditionPaths,
  placeholderPaths,
  secretNameProblem,
  secretReferences,
  VALUE_PATH_PATTERN,
  type Condition,
  type JsonValue,
  CONDITION_OPS,
} from './condition.js';
import { graphProblems } from './dag.js';
import { ValidationError, type Problem } from './errors.js';
import { LIMITS, jsonByteLength, jsonDepthExceeds } from './limits.js';

export const TASK_TYPES = ['handler', 'http', 'lambda', 'pass', 'wait', 'fail', 'callback', 'workflow', 'map'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** Join rules, as in Airflow's trigger rules. */
export const TRIGGER_RULES = [
  'all_success',
  'all_done',
  'one_success',
  'one_failed',
  'none_failed',
  'all_failed',
] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];


export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** A workflow or task id: what the definition accepts, and what API routes accept in a path. */
export const id = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(LIMITS.maxIdLength, `${what} must be at most ${LIMITS.maxIdLength} characters`)
    .regex(ID_PATTERN, `${what} must start with a letter and use only letters, digits, _ and -`);

const name = (what: string) =>
  z.string({ error: `${what} must be a string` }).min(1, `${what} must not be empty`).max(256);

const seconds = (what: string, max: number) =>
  z
    .number({ error: `${what} must be a number of seconds` })
    .min(0, `${what} must not be negative`)
    .max(max, `${what} must be at most ${max}`);

const positiveSeconds = (what: string, max: number, why = '') =>
  z
    .number({ error: `${what} must be a number of seconds` })
    .positive(`${what} must be greater than 0`)
    .max(max, `${what} must be at most ${max}${why}`);

/** Why an attempt's time limits are capped, said where a definition breaks the cap. */
const WORKER_LIMIT = ': an attempt runs inside one worker invocation, which lasts at most 900 s';

export const RetryPolicySchema = z
  .strictObject({
    maxRetries: z
      .int({ error: 'maxRetries must be a whole number' })
      .min(0, 'maxRetries must not be negative')
      .max(LIMITS.maxRetries, `maxRetries must be at most ${LIMITS.maxRetries}`),
    initialDelaySeconds: seconds('initialDelaySeconds', LIMITS.maxDelaySeconds).default(1),
    backoffRate: z
      .number({ error: 'backoffRate must be a number' })
      .min(1, 'backoffRate must be at least 1')
      .max(LIMITS.maxBackoffRate, `backoffRate must be at most ${LIMITS.maxBackoffRate}`)
      .default(2),
    maxDelaySeconds: seconds('maxDelaySeconds', LIMITS.maxDelaySeconds).default(300),
    /** Only errors with these names are retried (default: every retryable error). */
    retryableErrors: z.array(name('an error name')).max(50).optional(),
    /** Errors with these names are never retried. */
    nonRetryableErrors: z.array(name('an error name')).max(50).optional(),
  })
  .refine((r) => r.initialDelaySeconds <= r.maxDelaySeconds, {
    message: 'initialDelaySeconds must not exceed maxDelaySeconds',
    path: ['initialDelaySeconds'],
  });
export type RetryPolicy = z.output<typeof RetryPolicySchema>;


const ConditionLeafSchema = z
  .strictObject({
    path: z
      .string({ error: 'path must be a string' })
      .regex(VALUE_PATH_PATTERN, 'path must be input[.field...] or upstream.<taskId>.output[.field...]'),
    op: z.enum(CONDITION_OPS, { error: `op must be one of ${CONDITION_OPS.join(', ')}` }),
    value: z.json().optional(),
  })
  .superRefine((leaf, ctx) => {
    if (leaf.op === 'in' && !Array.isArray(leaf.value)) {
      ctx.addIssue({ code: 'custom', message: 'op "in" needs an array value', path: ['value'] });
    } else if (leaf.op === 'exists') {
      if (leaf.value !== undefined && typeof leaf.value !== 'boolean') {
        ctx.addIssue({ code: 'custom', message: 'op "exists" takes no value or a boolean', path: ['value'] });
      }
    } else if (leaf.value === undefined) {
      ctx.addIssue({ code: 'custom', message: `op "${leaf.op}" needs a value`, path: ['value'] });
    }
  });

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union(
    [
      ConditionLeafSchema,
      z.strictObject({ all: z.array(ConditionSchema).min(1, 'all needs at least one condition') }),
      z.strictObject({ any: z.array(ConditionSchema).min(1, 'any needs at least one condition') }),
      z.strictObject({ not: ConditionSchema }),
    ],
    { error: 'a condition is { path, op, value? }, { all: [...] }, { any: [...] } or { not: {...} }' },
  ),
);

const HttpSpecSchema = z.strictObject({
  url: z
    .string({ error: 'http.url must be a string' })
    .min(1)
    .max(2048)
    // Or one whole placeholder (a webhook URL from the input): the rendered URL is checked before any request.
    .regex(/^(https?:\/\/|\{\{\s*(input|upstream)[^{}]*\}\}$)/, 'http.url must start with http:// or https://, or be one {{...}} placeholder'),
  method: z.enum(HTTP_METHODS, { error: `http.method must be one of ${HTTP_METHODS.join(', ')}` }).default('GET'),
  headers: z.record(z.string(), z.string({ error: 'header values must be strings' })).default({}),
  body: z.json().optional(),
});

const LambdaSpecSchema = z.strictObject({
  functionName: name('lambda.functionName'),
  payload: z.json().optional(),
});

/** The fields that say what a task does; shared by tasks and inline compensations. */
const actionShapes = {
  // `params`: static JSON from the definition, handed to the handler as ctx.params.
  handler: { type: z.literal('handler'), handler: name('handler'), params: z.json().optional() },
  http: { type: z.literal('http'), http: HttpSpecSchema },
  lambda: { type: z.literal('lambda'), lambda: LambdaSpecSchema },
  pass: { type: z.literal('pass'), output: z.json().optional() },
  wait: {
    type: z.literal('wait'),
    seconds: seconds('seconds', LIMITS.maxWaitSeconds).optional(),
    until: z.iso.datetime({ offset: true, error: 'until must be an ISO 8601 timestamp' }).optional(),
  },
  fail: { type: z.literal('fail'), error: name('error'), message: z.string().max(4096).optional() },
} as const;

/**
 * A task that waits, holding no worker, until an outside system answers `POST /callbacks/{token}`.
 * Its `timeoutSeconds` and `heartbeatSeconds` bound the wait (not one worker invocation, as for
 * other tasks); `http`, if given, is the request made as the wait begins, in which
 * `{{callback.token}}` is the token the answer must quote.
 */
const callbackShape = {
  type: z.literal('callback'),
  timeoutSeconds: positiveSeconds('timeoutSeconds', LIMITS.maxCallbackSeconds).default(LIMITS.defaultCallbackSeconds),
  heartbeatSeconds: positiveSeconds('heartbeatSeconds', LIMITS.maxCallbackSeconds).optional(),
  http: HttpSpecSchema.optional(),
} as const;

/**
 * A task that runs another workflow as a child run and takes its output (the object of its leaf
 * tasks' outputs by id). `input` is a template like an http body; without it the child gets `{}`.
 * Without `version`, the child runs the workflow's latest version when the task starts. Its
 * `timeoutSeconds` bounds the wait for the child (at most 30 days), not one worker invocation.
 */
const childWorkflowShape = {
  type: z.literal('workflow'),
  workflow: z.strictObject({
    id: id('workflow.id'),
    version: z.string({ error: 'workflow.version must be a string' }).regex(/^[0-9a-f]{16}$/, 'workflow.version must be 16 hex digits').optional(),
    input: z.json().optional(),
  }),
  timeoutSeconds: positiveSeconds('timeoutSeconds', LIMITS.maxCallbackSeconds).optional(),
} as const;

const executionFields = {
  retry: RetryPolicySchema.optional(),
  timeoutSeconds: positiveSeconds('timeoutSeconds', LIMITS.maxTimeoutSeconds, WORKER_LIMIT).optional(),
  heartbeatSeconds: positiveSeconds('heartbeatSeconds', LIMITS.maxTimeoutSeconds, WORKER_LIMIT).optional(),
};

/**
 * What a map task runs once per item: a handler, http, lambda or pass task body (no id, no
 * dependencies), in whose templates `{{item}}`, `{{item.<path>}}` and `{{index}}` resolve. Its
 * retry policy and timeouts are each item's.
 */
const MapBodySchema = z.preprocess(
  (raw) => (isRecord(raw) && raw['type'] === undefined ? { ...raw, type: 'handler' } : raw),
  z.discriminatedUnion(
    'type',
    [
      z.strictObject({ ...actionShapes.handler, ...executionFields }),
      z.strictObject({ ...actionShapes.http, ...executionFields }),
      z.strictObject({ ...actionShapes.lambda, ...executionFields }),
      z.strictObject({ ...actionShapes.pass }),
    ],
    { error: 'a map task\'s task must be of type handler, http, lambda or pass' },
  ),
);

/**
 * A task that runs `task` once per item of a list known only when it starts (`items`: one
 * placeholder naming an array in the input or a dependency's output), at most `maxConcurrency` at
 * once. Its output is the items' outputs in item order (null for a failed item); it fails when
 * more items fail than it tolerates (none, unless it says; with both a count and a percentage,
 * when either is exceeded). Its `timeoutSeconds` bounds the whole map (at most 30 days).
 */
const mapShape = {
  type: z.literal('map'),
  items: z
    .string({ error: 'items must be a {{...}} placeholder naming a list' })
    .regex(/^\{\{\s*(input|upstream)[^{}]*\}\}$/, 'items must be one {{input...}} or {{upstream.<taskId>.output...}} placeholder'),
  task: MapBodySchema,
  maxConcurrency: z
    .int({ error: 'maxConcurrency must be a whole number' })
    .min(1, 'maxConcurrency must be at least 1')
    .max(LIMITS.maxMapConcurrency, `maxConcurrency must be at most ${LIMITS.maxMapConcurrency}`)
    .default(10),
  toleratedFailurePercentage: z
    .number({ error: 'toleratedFailurePercentage must be a number' })
    .min(0, 'toleratedFailurePercentage must not be negative')
    .max(100, 'toleratedFailurePercentage must be at most 100')
    .optional(),
  toleratedFailureCount: z.int({ error: 'toleratedFailureCount must be a whole number' }).min(0, 'toleratedFailureCount must not be negative').optional(),
  timeoutSeconds: positiveSeconds('timeoutSeconds', LIMITS.maxCallbackSeconds).optional(),
} as const;

/** A handler name, or an inline action (no id, no dependencies). */
export const CompensationSchema = z.union(
  [
    name('compensate'),
    z.discriminatedUnion('type', [
      z.strictObject({ ...actionShapes.handler, ...executionFields }),
      z.strictObject({ ...actionShapes.http, ...executionFields }),
      z.strictObject({ ...actionShapes.lambda, ...executionFields }),
      z.strictObject({ ...actionShapes.pass }),
    ]),
  ],
  { error: 'compensate must be a handler name or an inline task of type handler, http, lambda or pass' },
);
export type Compensation = z.output<typeof CompensationSchema>;

const commonTaskFields = {
  id: id('task id'),
  description: z.string().max(1024).optional(),
  dependsOn: z.array(z.string({ error: 'dependsOn entries must be task ids' })).max(LIMITS.maxTasks).default([]),
  trigger: z.enum(TRIGGER_RULES, { error: `trigger must be one of ${TRIGGER_RULES.join(', ')}` }).default('all_success'),
  when: ConditionSchema.optional(),
  critical: z.boolean({ error: 'critical must be true or false' }).default(true),
  compensate: CompensationSchema.optional(),
  ...executionFields,
};

const TaskUnionSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ ...commonTaskFields, ...actionShapes.handler }),
    z.strictObject({ ...commonTaskFields, ...actionShapes.http }),
    z.strictObject({ ...commonTaskFields, ...actionShapes.lambda }),
    z.strictObject({ ...commonTaskFields, ...actionShapes.pass }),
    z.strictObject({ ...commonTaskFields, ...actionShapes.wait }),
    z.strictObject({ ...commonTaskFields, ...actionShapes.fail }),
    z.strictObject({ ...commonTaskFields, ...callbackShape }),
    z.strictObject({ ...commonTaskFields, ...childWorkflowShape }),
    z.strictObject({ ...commonTaskFields, ...mapShape }),
  ],
  { error: `type must be one of ${TASK_TYPES.join(', ')}` },
);

type TaskUnionInput = z.input<typeof TaskUnionSchema>;
/** A task as written: `type` may be left out of a handler task. */
type TaskSchemaInput =
  | Exclude<TaskUnionInput, { type: 'handler' }>
  | (Omit<Extract<TaskUnionInput, { type: 'handler' }>, 'type'> & { type?: 'handler' });

/**
 * A task; `type` defaults to `handler`. The cast gives the schema its real input type: preprocess
 * alone types the input as `unknown`, which made WorkflowDefinitionInput accept anything as a task.
 */
export const TaskSchema = z.preprocess(
  (raw) => (isRecord(raw) && raw['type'] === undefined ? { ...raw, type: 'handler' } : raw),
  TaskUnionSchema.superRefine((task, ctx) => {
    if (task.type === 'wait' && (task.seconds === undefined) === (task.until === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a wait task needs exactly one of seconds or until', path: ['seconds'] });
    }
    if (
      task.heartbeatSeconds !== undefined &&
      task.timeoutSeconds !== undefined &&
      task.heartbeatSeconds > task.timeoutSeconds
    ) {
      ctx.addIssue({
        code: 'custom',
        message: 'heartbeatSeconds must not exceed timeoutSeconds',
        path: ['heartbeatSeconds'],
      });
    }
    if (task.type === 'map' && task.heartbeatSeconds !== undefined) {
      ctx.addIssue({ code: 'custom', message: "a map task has no heartbeat: its task's heartbeatSeconds bounds each item", path: ['heartbeatSeconds'] });
    }
    if (task.when !== undefined && conditionDepth(task.when) > LIMITS.maxConditionDepth) {
      ctx.addIssue({
        code: 'custom',
        message: `when is nested deeper than ${LIMITS.maxConditionDepth} levels`,
        path: ['when'],
      });
    }
  }),
) as unknown as z.ZodType<z.output<typeof TaskUnionSchema>, TaskSchemaInput>;

export const WorkflowDefinitionSchema = z.strictObject({
  id: id('workflow id'),
  description: z.string().max(4096).optional(),
  /** The run's deadline: a run still going after this long is failed as overdue. */
  timeoutSeconds: positiveSeconds('timeoutSeconds', 30 * 86_400).optional(),
  tasks: z
    .array(TaskSchema, { error: 'tasks must be an array' })
    .min(1, 'a workflow needs at least one task')
    .max(LIMITS.maxTasks, `a workflow has at most ${LIMITS.maxTasks} tasks`),
});

/** The definition as written (JSON config or builder output): defaults may be left out. */
export type WorkflowDefinitionInput = z.input<typeof WorkflowDefinitionSchema>;
/** The normalized definition: every default explicit. What is hashed, stored and executed. */
export type WorkflowDefinition = z.output<typeof WorkflowDefinitionSchema>;
export type TaskDefinition = WorkflowDefinition['tasks'][number];
export type TaskDefinitionInput = z.input<typeof TaskUnionSchema>;

export interface ParseOptions {
  /** Handler names the worker bundle registers; when given, unknown handlers are refused. */
  knownHandlers?: ReadonlySet<string>;
}

export type ParseResult =
  | { ok: true; definition: WorkflowDefinition }
  | { ok: false; problems: Problem[] };

/**
 * Validates a definition completely: shape, limits, graph (duplicates, unknown dependencies,
 * cycles, references to non-dependencies) and, when given, handler names. Never throws.
 */
export function parseDefinition(raw: unknown, options: ParseOptions = {}): ParseResult {
  if (jsonDepthExceeds(raw, LIMITS.maxJsonDepth)) {
    return {
      ok: false,
      problems: [{ path: '', message: `definition nests objects and arrays deeper than ${LIMITS.maxJsonDepth} levels` }],
    };
  }
  const reserved = reservedKeyPaths(raw);
  if (reserved.length > 0) {
    // zod (like any code that copies objects by assignment) would silently drop such a key.
    return {
      ok: false,
      problems: reserved
        .map((path) => namedPath(path, raw))
        .sort()
        .map((path) => ({ path, message: '"__proto__" cannot be used as a key in a definition' })),
    };
  }
  const bytes = jsonByteLength(raw);
  if (bytes > LIMITS.maxDefinitionBytes) {
    return {
      ok: false,
      problems: [{ path: '', message: `definition is ${bytes} bytes, over the limit of ${LIMITS.maxDefinitionBytes}` }],
    };
  }
  const parsed = WorkflowDefinitionSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problems: zodProblems(parsed.error, raw) };
  }
  const definition = parsed.data;
  const problems = [...checkGraph(definition), ...secretProblems(definition)];
  const compensable = definition.tasks.filter((task) => task.compensate !== undefined).length;
  if (compensable > LIMITS.maxCompensations) {
    problems.push({
      path: 'tasks',
      message: `${compensable} tasks declare compensate; a workflow may compensate at most ${LIMITS.maxCompensations}`,
    });
  }
  if (options.knownHandlers !== undefined) {
    problems.push(...unknownHandlers(definition, options.knownHandlers));
  }
  return problems.length === 0 ? { ok: true, definition } : { ok: false, problems };
}

/** `parseDefinition`, throwing a ValidationError that lists every problem. */
export function assertDefinition(raw: unknown, options: ParseOptions = {}): WorkflowDefinition {
  const result = parseDefinition(raw, options);
  if (!result.ok) throw new ValidationError(result.problems);
  return result.definition;
}

function unknownHandlers(definition: WorkflowDefinition, known: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  for (const task of definition.tasks) {
    if (task.type === 'handler' && !known.has(task.handler)) {
      problems.push({ path: `tasks.${task.id}.handler`, message: `unknown handler "${task.handler}"` });
    }
    if (task.type === 'map' && task.task.type === 'handler' && !known.has(task.task.handler)) {
      problems.push({ path: `tasks.${task.id}.task.handler`, message: `unknown handler "${task.task.handler}"` });
    }
    const compensation = task.compensate;
    const compensationHandler =
      typeof compensation === 'string' ? compensation : compensation?.type === 'handler' ? compensation.handler : undefined;
    if (compensationHandler !== undefined && !known.has(compensationHandler)) {
      problems.push({ path: `tasks.${task.id}.compensate`, message: `unknown handler "${compensationHandler}"` });
    }
  }
  return problems;
}

/** Zod issues as problems whose path names the task by its id rather than its index. */
function zodProblems(error: z.ZodError, raw: unknown): Problem[] {
  return error.issues.map((issue) => ({ path: namedPath(issue.path, raw), message: issue.message }));
}

/** A path into the raw definition, dot-joined, with `tasks.<index>` written as `tasks.<taskId>`. */
function namedPath(path: ReadonlyArray<PropertyKey>, raw: unknown): string {
  const rawTasks = isRecord(raw) && Array.isArray(raw['tasks']) ? (raw['tasks'] as unknown[]) : [];
  return path
    .map((segment, i) => {
      if (i === 1 && path[0] === 'tasks' && (typeof segment === 'number' || /^\d+$/.test(String(segment)))) {
        const task = rawTasks[Number(segment)];
        return isRecord(task) && typeof task['id'] === 'string' && task['id'] !== '' ? task['id'] : `#${String(segment)}`;
      }
      return String(segment);
    })
    .join('.');
}

export function conditionDepth(condition: Condition): number {
  if ('all' in condition) return 1 + Math.max(...condition.all.map(conditionDepth));
  if ('any' in condition) return 1 + Math.max(...condition.any.map(conditionDepth));
  if ('not' in condition) return 1 + conditionDepth(condition.not);
  return 1;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The path of every own `__proto__` key in a JSON value; iterative, so any depth is safe. */
export function reservedKeyPaths(value: unknown): string[][] {
  const found: string[][] = [];
  const pending: Array<{ value: unknown; path: string[] }> = [{ value, path: [] }];
  while (pending.length > 0) {
    const { value: current, path } = pending.pop() as { value: unknown; path: string[] };
    if (typeof current !== 'object' || current === null) continue;
    for (const [key, item] of Object.entries(current)) {
      if (key === '__proto__' && !Array.isArray(current)) found.push([...path, key]);
      pending.push({ value: item as unknown, path: [...path, key] });
    }
  }
  return found;
}

/**
 * Every graph problem in a parsed definition, each naming its task: duplicates, unknown or repeated
 * dependencies and cycles (dag.ts), then references to values of tasks that are not dependencies.
 */
export function checkGraph(definition: WorkflowDefinition): Problem[] {
  const problems = graphProblems(definition.tasks);
  const known = new Map(definition.tasks.map((task, i) => [task.id, i]));
  for (const task of definition.tasks) problems.push(...referenceProblems(task, known));
  return problems;
}


/** Where a task refers to values by path, each with the problem path it is reported under. */
function referenceSites(task: TaskDefinition): Array<{ where: string; paths: string[]; isCompensation: boolean; inMap?: boolean }> {
  const sites: Array<{ where: string; paths: string[]; isCompensation: boolean; inMap?: boolean }> = [];
  if (task.when !== undefined) sites.push({ where: 'when', paths: conditionPaths(task.when), isCompensation: false });
  if (task.type === 'http') sites.push(...httpSites('http', task.http, false));
  if (task.type === 'callback' && task.http !== undefined) sites.push(...httpSites('http', task.http, false));
  if (task.type === 'workflow' && task.workflow.input !== undefined) {
    sites.push({ where: 'workflow.input', paths: placeholderPaths(task.workflow.input), isCompensation: false });
  }
  if (task.type === 'map') {
    sites.push({ where: 'items', paths: placeholderPaths(task.items), isCompensation: false });
    const body = task.task;
    const inBody = (where: string, paths: string[]) => ({ where: `task.${where}`, paths, isCompensation: false, inMap: true });
    if (body.type === 'http') sites.push(...httpSites('http', body.http, false, true).map((site) => inBody(site.where, site.paths)));
    if (body.type === 'lambda' && body.lambda.payload !== undefined) sites.push(inBody('lambda.payload', placeholderPaths(body.lambda.payload, { inMapTask: true })));
    if (body.type === 'pass' && body.output !== undefined) sites.push(inBody('output', placeholderPaths(body.output, { inMapTask: true })));
  }
  const compensation: Compensation | undefined = task.compensate;
  if (typeof compensation === 'object' && compensation.type === 'http') {
    sites.push(...httpSites('compensate.http', compensation.http, true));
  }
  return sites;
}

function httpSites(
  prefix: string,
  http: { url: string; headers: Record<string, string>; body?: JsonValue | undefined },
  isCompensation: boolean,
  inMapTask = false,
): Array<{ where: string; paths: string[]; isCompensation: boolean }> {
  const paths = (value: JsonValue) => placeholderPaths(value, { inMapTask });
  const sites = [{ where: `${prefix}.url`, paths: paths(http.url), isCompensation }];
  for (const [name, value] of Object.entries(http.headers)) {
    sites.push({ where: `${prefix}.headers.${name}`, paths: paths(value), isCompensation });
  }
  if (http.body !== undefined) {
    sites.push({ where: `${prefix}.body`, paths: paths(http.body), isCompensation });
  }
  return sites;
}

/**
 * `upstream.X` is only in scope when X is a direct dependency: the scheduler hands a task the
 * outputs of its dependencies and nothing else. A compensation may also read the output of the
 * task it undoes (`upstream.<thisTask>.output`), since that is what it needs to undo it.
 */
function referenceProblems(task: TaskDefinition, known: ReadonlyMap<string, number>): Problem[] {
  const problems: Problem[] = [];
  const dependencies = new Set(task.dependsOn);
  for (const site of referenceSites(task)) {
    const path = `tasks.${task.id}.${site.where}`;
    const reported = new Set<string>();
    for (const valuePath of site.paths) {
      if (reported.has(valuePath)) continue;
      reported.add(valuePath);
      if (valuePath === CALLBACK_TOKEN_PATH && task.type === 'callback' && !site.isCompensation) continue;
      if (site.inMap === true && MAP_ITEM_PATH_PATTERN.test(valuePath)) continue;
      if (!VALUE_PATH_PATTERN.test(valuePath)) {
        problems.push({
          path,
          message:
            `task "${task.id}" refers to "${valuePath}": ` +
            'a path must be input[.field...] or upstream.<taskId>.output[.field...]' +
            (site.inMap === true ? ' (or, in a map\'s task, item[.field...] or index)' : ''),
        });
        continue;
      }
      if (!valuePath.startsWith('upstream.')) continue;
      const referenced = valuePath.split('.')[1] ?? '';
      if (dependencies.has(referenced) || (site.isCompensation && referenced === task.id)) continue;
      const message = known.has(referenced)
        ? `task "${task.id}" refers to ${valuePath} but does not depend on task "${referenced}"`
        : `task "${task.id}" refers to ${valuePath} of unknown task "${referenced}"`;
      problems.push({ path, message });
    }
  }
  return problems;
}

/**
 * Where a `{{secret:NAME}}` may be: the value of a header of an http task or of an inline http
 * compensation. Nowhere else is it resolved, and a url, body or output is stored, logged or
 * echoed far more readily than a header, so it is refused there rather than sent literally. The
 * schema is strict, so an `http` key at these places can only be an http task's (or
 * compensation's) own.
 */
function isSecretSite(path: ReadonlyArray<string | number>): boolean {
  const [root, , ...rest] = path;
  if (root !== 'tasks') return false;
  // A compensation's request, or a map's task's.
  const site = rest[0] === 'compensate' || rest[0] === 'task' ? rest.slice(1) : rest;
  return site.length === 3 && site[0] === 'http' && site[1] === 'headers';
}

/** Every secret placeholder outside a header value, and every malformed secret name, by path. */
export function secretProblems(definition: WorkflowDefinition): Problem[] {
  const problems: Problem[] = [];
  const pending: Array<{ value: unknown; path: Array<string | number> }> = [{ value: definition, path: [] }];
  while (pending.length > 0) {
    const { value, path } = pending.pop() as { value: unknown; path: Array<string | number> };
    if (typeof value === 'string') {
      problems.push(...secretSiteProblems(value, path, definition));
    } else if (typeof value === 'object' && value !== null) {
      const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((item, i) => [i, item]) : Object.entries(value);
      for (const [key, item] of entries.reverse()) {
        // A key is never rendered: a secret in one would be sent (or stored) as it is written.
        if (typeof key === 'string') problems.push(...secretSiteProblems(key, [...path, key], definition, true));
        pending.push({ value: item, path: [...path, key] });
      }
    }
  }
  return problems;
}

function secretSiteProblems(text: string, path: Array<string | number>, definition: WorkflowDefinition, isKey = false): Problem[] {
  const names = secretReferences(text);
  if (names.length === 0) return [];
  const where = taskPath(path, definition);
  if (isKey || !isSecretSite(path)) return [{ path: where, message: 'secrets may only be used in http headers' }];
  return [...new Set(names)].flatMap((name) => {
    const message = secretNameProblem(name);
    return message === undefined ? [] : [{ path: where, message }];
  });
}

/** A path into a parsed definition, dot-joined, with `tasks.<index>` written as `tasks.<taskId>`. */
function taskPath(path: ReadonlyArray<string | number>, definition: WorkflowDefinition): string {
  return path
    .map((segment, i) => (i === 1 && path[0] === 'tasks' ? (definition.tasks[Number(segment)]?.id ?? String(segment)) : String(segment)))
    .join('.');
}

