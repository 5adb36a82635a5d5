// The HTTP API's routes (the contract in docs/architecture.md): each parses its parameters with
// zod, calls the engine through its ports, and shapes the response. Routes, field names and status
// codes are the contract.
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';
import type { DefinitionSource, LatestVersions } from '../../shared/engine/definition-cache.js';
import { id, parseDefinition } from '../../shared/model/definition.js';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../../shared/model/errors.js';
import { jsonByteLength } from '../../shared/model/limits.js';
import { RUN_STATUSES, isFinalRunStatus } from '../../shared/model/states.js';
import { visibleRunStatus } from '../../shared/model/transitions.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import type { RunRecord, StoredDefinition, TaskRecord } from '../../shared/engine/records.js';
import { compensatedTaskId } from '../../shared/engine/compensation.js';
import { criticalPath } from '../../shared/engine/critical-path.js';
import { explainRun } from '../../shared/engine/explain.js';
import { runHistory } from '../../shared/engine/history.js';
import type { RunControl } from '../../shared/engine/run-control.js';
import type { CallbackOutcome, Callbacks } from '../../shared/engine/callbacks.js';
import { runOutput } from '../../shared/engine/children.js';
import { itemAddress } from '../../shared/engine/map-items.js';
import { payloadLimits, type PayloadRef, type PayloadStore } from '../../shared/engine/payloads.js';
import { taskStats } from '../../shared/engine/run-stats.js';
import { canonicalJson } from '../../shared/model/version.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { LayoutCache } from './graph-layout.js';
import { json, jsonBody, parseWith } from './http.js';
import { ScheduleIdSchema, scheduleRoutes } from './schedule-routes.js';
import type { ScheduleManager } from '../../shared/engine/schedules.js';

/** Per container: a version's layout never changes. */
const layouts = new LayoutCache();

export interface ApiDeps {
  store: Pick<EngineStore, 'definitions' | 'runs' | 'tasks' | 'maps'>;
  definitions: DefinitionSource;
  /** Workflows' latest versions, kept briefly (without it, read for every run started). */
  latest?: Pick<LatestVersions, 'get' | 'forget'>;
  runControl: Pick<RunControl, 'start' | 'cancel' | 'resume'>;
  /** Workflow schedules: their items and what fires them. */
  schedules: ScheduleManager;
  callbacks: Pick<Callbacks, 'answer' | 'heartbeat'>;
  /** Links to large inputs and outputs (stored apart). */
  payloads?: Pick<PayloadStore, 'url'>;
  /** Handler names the worker bundle registers: definitions naming others are refused. */
  knownHandlers: ReadonlySet<string>;
  /** The worker build new runs are recorded as starting on (HANDLER_BUILD). */
  handlerBuild?: string;
  newRunId?: () => string;
}

type Params = Record<string, string>;
export type RouteHandler = (event: APIGatewayProxyEventV2, params: Params, deps: ApiDeps) => Promise<APIGatewayProxyStructuredResultV2>;

export interface Route {
  method: string;
  pattern: string;
  handler: RouteHandler;
}

/** Versions are content hashes: 16 hex digits. */
const VersionSchema = z.string({ error: 'version must be a string' }).regex(/^[0-9a-f]{16}$/, 'version must be 16 hex digits');
/** Run ids are UUIDs; anything longer or stranger cannot name a run. */
const RunIdSchema = z
  .string()
  .min(1, 'runId must not be empty')
  .max(64, 'runId must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'runId must use only letters, digits, _ and -');

/** Path parameters, by name: each route's are parsed before it runs, so a key DynamoDB would refuse never reaches it. */
export const PATH_PARAMETERS: Record<string, z.ZodType<string>> = {
  workflowId: workflowIdSchema('workflowId'),
  version: VersionSchema,
  runId: RunIdSchema,
  taskId: workflowIdSchema('taskId'),
  scheduleId: ScheduleIdSchema,
};

function workflowIdSchema(what: string) {
  return z.string({ error: `${what} is required` }).pipe(id(what));
}

const StartRunSchema = z.strictObject({
  workflowId: workflowIdSchema('workflowId'),
  version: VersionSchema.optional(),
  input: z.json({ error: 'input must be JSON' }).optional(),
});

const ListRunsSchema = z.strictObject({
  /** Without it, the runs of every workflow created in the last 7 days (runs-by-time.ts). */
  workflowId: workflowIdSchema('workflowId').optional(),
  status: z
    .string()
    .transform((status) => status.toUpperCase())
    .pipe(z.enum(RUN_STATUSES, { error: `status must be one of ${RUN_STATUSES.join(', ')} (any case)` }))
    .optional(),
  limit: z.coerce.number().int('limit must be a whole number').min(1, 'limit must be at least 1').max(100, 'limit must be at most 100').default(50),
  nextToken: z.string().min(1).optional(),
});

/** A page of a map task's items. */
const MapItemsQuerySchema = z.strictObject({
  limit: z.coerce.number().int('limit must be a whole number').min(1, 'limit must be at least 1').max(1000, 'limit must be at most 1000').default(100),
  cursor: z.string().min(1).max(2048).optional(),
});

const StatsQuerySchema = z.strictObject({
  /** How many of the most recent runs the statistics cover. */
  runs: z.coerce.number().int('runs must be a whole number').min(1, 'runs must be at least 1').max(200, 'runs must be at most 200').default(50),
  /** Only the runs of this version (the console compares a run with its own version's). */
  version: z.string().regex(/^[0-9a-f]{16}$/, 'version must be 16 hex digits').optional(),
});

/** Pages of a workflow's runs read to find `runs` of one version: a bound on the requests. */
const STATS_VERSION_PAGES = 5;

/** A callback's answer: its output, or its failure (retried by the task's policy unless `retryable` is false). */
const CallbackAnswerSchema = z.union(
  [
    z.strictObject({ output: z.json({ error: 'output must be JSON' }) }),
    z.strictObject({
      error: z.strictObject({
        name: z.string({ error: 'error.name must be a string' }).min(1, 'error.name must not be empty').max(256, 'error.name must be at most 256 characters'),
        message: z.string({ error: 'error.message must be a string' }).max(4096, 'error.message must be at most 4096 characters'),
        retryable: z.boolean({ error: 'error.retryable must be true or false' }).default(true),
      }),
    }),
  ],
  { error: 'body must be { "output": <JSON> } or { "error": { "name", "message", "retryable"? } }' },
);

/**
 * How much of the tasks' outputs a run view carries; the rest are links. Its answer must stay under
 * Lambda's 6 MB, and the run's `output` repeats its leaves' outputs: twice this, plus the rest.
 */
const VIEW_OUTPUT_BUDGET_BYTES = 2.5 * 1024 * 1024;

/**
 * Each task's output as a view shows it: the value, while the view's budget lasts, or a link to
 * GET /runs/{runId}/tasks/{taskId}/output (always for one stored apart).
 */
function outputsWithin(runId: string, tasks: ReadonlyArray<TaskRecord | undefined>): (task: TaskRecord) => { output?: unknown; outputRef?: { bytes: number; href: string } } {
  let spent = 0;
  const shown = new Map<string, { output?: unknown; outputRef?: { bytes: number; href: string } }>();
  for (const task of tasks) {
    if (task === undefined) continue;
    const href = `/runs/${runId}/tasks/${task.taskId}/output`;
    if (task.outputRef !== undefined) shown.set(task.taskId, { outputRef: { bytes: task.outputRef.bytes, href } });
    else if (task.output !== undefined) {
      const bytes = jsonByteLength(task.output);
      spent += bytes;
      shown.set(task.taskId, spent <= VIEW_OUTPUT_BUDGET_BYTES ? { output: task.output } : { outputRef: { bytes, href } });
    }
  }
  return (task) => shown.get(task.taskId) ?? {};
}

function redirectTo(url: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 303, headers: { location: url, 'cache-control': 'no-store' }, body: '' };
}

async function payloadUrl(deps: ApiDeps, ref: PayloadRef): Promise<string> {
  if (deps.payloads === undefined) throw new Error(`payload ${ref.key} is stored apart, but the api has no payload store`);
  return deps.payloads.url(ref.key);
}

function callbackResponse(result: CallbackOutcome): APIGatewayProxyStructuredResultV2 {
  if (result.outcome === 'unknown') throw new NotFoundError('callback token');
  const { runId, taskId, attempt } = result.task;
  if (result.outcome === 'over') {
    throw new ConflictError(`the callback of task "${taskId}" (attempt ${attempt}) is over: the task is ${result.task.status}`, { runId, taskId, status: result.task.status });
  }
  return json(202, { runId, taskId, attempt, status: 'ACCEPTED' });
}

/** Printable ASCII, as Stripe and AWS accept for idempotency keys. */
const IdempotencyKeySchema = z
  .string()
  .min(1, 'Idempotency-Key must not be empty')
  .max(255, 'Idempotency-Key must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key must be printable ASCII without spaces');

export const routes: Route[] = [
  {
    method: 'GET',
    pattern: '/',
    handler: () =>
      Promise.resolve({ statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: DASHBOARD_PAGE }),
  },
  {
    method: 'POST',
    pattern: '/workflows',
    handler: async (event, _params, deps) => {
      const parsed = parseDefinition(jsonBody(event), { knownHandlers: deps.knownHandlers });
      if (!parsed.ok) throw new ValidationError(parsed.problems);
      const { version, created } = await deps.store.definitions.saveDefinition(parsed.definition);
      deps.latest?.forget(parsed.definition.id);
      return json(created ? 201 : 200, { workflowId: parsed.definition.id, version });
    },
  },
  {
    method: 'GET',
    pattern: '/workflows',
    handler: async (_event, _params, deps) => json(200, { workflows: await deps.store.definitions.listWorkflows() }),
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}',
    handler: async (_event, { workflowId = '' }, deps) => {
      const entry = await deps.store.definitions.getWorkflow(workflowId);
      if (entry === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
      const [latest, versions] = await Promise.all([
        deps.definitions.get(workflowId, entry.latestVersion),
        deps.store.definitions.listVersions(workflowId),
      ]);
      return json(200, { ...entry, version: entry.latestVersion, definition: latest.definition, versions });
    },
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}/versions/{version}',
    handler: async (_event, { workflowId = '', version = '' }, deps) => {
      const stored = await deps.store.definitions.getDefinition(workflowId, version);
      if (stored === undefined) throw new NotFoundError(`workflow "${workflowId}" version "${version}"`);
      return json(200, stored);
    },
  },
  {
    // The DAG's layout for the dashboard (graph-layout.ts): positions of the boxes and edge paths.
    method: 'GET',
    pattern: '/workflows/{workflowId}/versions/{version}/layout',
    handler: async (_event, { workflowId = '', version = '' }, deps) => {
      const stored = await deps.definitions.get(workflowId, version).catch((error: unknown) => {
        if (error instanceof NotFoundError) throw new NotFoundError(`workflow "${workflowId}" version "${version}"`);
        throw error;
      });
      return json(200, { workflowId, version, ...layouts.get(`${workflowId}/${version}`, stored.definition) });
    },
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}/stats',
    handler: async (event, { workflowId = '' }, deps) => {
      const query = parseWith(StatsQuerySchema, event.queryStringParameters ?? {}, 'query');
      const entry = await deps.store.definitions.getWorkflow(workflowId);
      if (entry === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
      const version = query.version ?? entry.latestVersion;
      const definition = await definitionFor(deps, workflowId, version);
      const runs = query.version === undefined ? (await deps.store.runs.listRuns({ workflowId, limit: query.runs })).runs : await runsOfVersion(deps, workflowId, version, query.runs);
      const tasks = await Promise.all(runs.map((run) => readTasks(deps, run.runId)));
      return json(200, {
        workflowId,
        version,
        runs: tasks.length,
        tasks: taskStats(definition.definition.tasks.map((task) => task.id), tasks),
      });
    },
  },
  ...scheduleRoutes,
  {
    method: 'POST',
    pattern: '/runs',
    handler: async (event, _params, deps) => {
      const body = jsonBody(event);
      const parsed = parseWith(StartRunSchema, body, 'body');
      // The input exactly as sent: zod's copy of a JSON value drops a "__proto__" key.
      const request = { ...parsed, input: (body as { input?: unknown }).input };
      const inputBytes = jsonByteLength(request.input ?? null);
      const { maxInputBytes } = payloadLimits(deps.payloads);
      if (inputBytes > maxInputBytes) throw new PayloadTooLargeError('input', inputBytes, maxInputBytes);
      const headerKey = event.headers['idempotency-key'];
      const idempotencyKey = headerKey === undefined ? undefined : parseWith(IdempotencyKeySchema, headerKey, 'Idempotency-Key');
      const definition = await definitionFor(deps, request.workflowId, request.version);
      const { runId, created } = await deps.runControl.start({
        runId: (deps.newRunId ?? randomUUID)(),
        definition,
        input: request.input ?? null,
        ...(idempotencyKey === undefined ? {} : { idempotency: { key: idempotencyKey, requestFingerprint: fingerprint(request) } }),
        ...(deps.handlerBuild === undefined ? {} : { handlerBuild: deps.handlerBuild }),
      });
      if (created) return json(201, { runId, status: 'RUNNING' });
      const existing = await deps.store.runs.getRun(runId);
      // The first request with this key died before its run was written: retrying with the same
      // key finishes creating it.
      if (existing === undefined) {
        throw new ConflictError(`run "${runId}" for this Idempotency-Key is still being created; retry later with the same key`, { runId });
      }
      return json(200, { runId, status: visibleRunStatus(existing.status) });
    },
  },
  {
    method: 'GET',
    pattern: '/runs',
    handler: async (event, _params, deps) => {
      const query = parseWith(ListRunsSchema, event.queryStringParameters ?? {}, 'query');
      if (query.workflowId !== undefined && (await deps.store.definitions.getWorkflow(query.workflowId)) === undefined) {
        throw new NotFoundError(`workflow "${query.workflowId}"`);
      }
      const page = await deps.store.runs.listRuns(query);
      return json(200, page);
    },
  },
  {
    method: 'GET',
    pattern: '/runs/{runId}',
    handler: async (_event, { runId = '' }, deps) => {
      const [{ run, tasks }, input] = await Promise.all([readRun(deps, runId), deps.store.runs.describeRunInput(runId)]);
      const definition = await deps.definitions.get(run.workflowId, run.version);
      return json(200, runView(run, 'input' in input ? input.input : undefined, tasks, definition, Date.now(), 'inputRef' in input ? { inputRef: input.inputRef } : {}));
    },
  },
  {
    // The run's input alone: a large one is a link away (303 to the object, for a few minutes).
    method: 'GET',
    pattern: '/runs/{runId}/input',
    handler: async (_event, { runId = '' }, deps) => {
      if ((await deps.store.runs.getRun(runId)) === undefined) throw new NotFoundError(`run "${runId}"`);
      const input = await deps.store.runs.describeRunInput(runId);
      return 'input' in input ? json(200, input.input) : redirectTo(await payloadUrl(deps, input.inputRef));
    },
  },
  {
    // One task's output (GET /runs/{runId} links the large ones, and the rest past its budget).
    method: 'GET',
    pattern: '/runs/{runId}/tasks/{taskId}/output',
    handler: async (_event, { runId = '', taskId = '' }, deps) => {
      const task = await deps.store.tasks.getTask(runId, taskId);
      if (task === undefined || task.status !== 'SUCCEEDED') throw new NotFoundError(`output of task "${taskId}" of run "${runId}"`);
      return task.outputRef === undefined ? json(200, task.output ?? null) : redirectTo(await payloadUrl(deps, task.outputRef));
    },
  },
  {
    // A map task's items, in item order, a page at a time: those of its current (or last) attempt.
    method: 'GET',
    pattern: '/runs/{runId}/tasks/{taskId}/items',
    handler: async (event, { runId = '', taskId = '' }, deps) => {
      const query = parseWith(MapItemsQuerySchema, event.queryStringParameters ?? {}, 'query');
      const run = await deps.store.runs.getRun(runId);
      if (run === undefined) throw new NotFoundError(`run "${runId}"`);
      const definition = await deps.definitions.get(run.workflowId, run.version);
      const task = definition.tasksById.get(taskId);
      if (task === undefined) throw new NotFoundError(`task "${taskId}" of run "${runId}"`);
      if (task.type !== 'map') throw new ValidationError([{ path: 'taskId', message: `task "${taskId}" is a ${task.type} task, not a map` }]);
      const mapTask = await deps.store.tasks.getTask(runId, taskId);
      if (mapTask?.mapItems === undefined) return json(200, { runId, taskId, attempt: mapTask?.attempt ?? 0, total: 0, items: [] });
      // A cursor that is not one of this list's is refused by the store (400).
      const page = await deps.store.maps.listItems(
        { runId, mapId: taskId, phase: mapTask.phase, attempt: mapTask.attempt },
        { limit: query.limit, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) },
      );
      return json(200, {
        runId,
        taskId,
        attempt: mapTask.attempt,
        total: mapTask.mapItems,
        items: page.items.map(mapItemView),
        ...(page.cursor === undefined ? {} : { nextCursor: page.cursor }),
      });
    },
  },
  {
    method: 'GET',
    pattern: '/runs/{runId}/history',
    handler: async (_event, { runId = '' }, deps) => {
      const { run, tasks } = await readRun(deps, runId);
      const [definition, archivedAttempts, phases] = await Promise.all([
        deps.definitions.get(run.workflowId, run.version),
        deps.store.tasks.archivedAttempts(runId),
        deps.store.runs.phaseArchives(runId),
      ]);
      const order = new Map(definition.definition.tasks.map((task, i) => [task.id, i]));
      return json(200, { runId, events: runHistory({ run, tasks, archivedAttempts, phases, order }) });
    },
  },
  {
    method: 'POST',
    pattern: '/runs/{runId}/cancel',
    handler: async (_event, { runId = '' }, deps) => json(202, await deps.runControl.cancel(runId)),
  },
  {
    method: 'POST',
    pattern: '/runs/{runId}/retry',
    handler: async (_event, { runId = '' }, deps) => json(202, await deps.runControl.resume(runId)),
  },
  {
    // An outside system answers a callback task (callbacks.ts): 202 once, 409 after, 404 for a token never handed out.
    method: 'POST',
    pattern: '/callbacks/{token}',
    handler: async (event, { token = '' }, deps) => {
      const body = jsonBody(event);
      const answer = parseWith(CallbackAnswerSchema, body, 'body');
      const output = 'output' in answer ? (body as { output: unknown }).output : undefined;
      if (output !== undefined) {
        const bytes = jsonByteLength(output);
        const { maxOutputBytes } = payloadLimits(deps.payloads);
        if (bytes > maxOutputBytes) throw new PayloadTooLargeError('output', bytes, maxOutputBytes);
      }
      const error = 'error' in answer ? { name: answer.error.name, message: answer.error.message, retryable: answer.error.retryable } : undefined;
      return callbackResponse(await deps.callbacks.answer(token, error === undefined ? { output } : { error }));
    },
  },
  {
    method: 'POST',
    pattern: '/callbacks/{token}/heartbeat',
    handler: async (_event, { token = '' }, deps) => callbackResponse(await deps.callbacks.heartbeat(token)),
  },
];

/**
 * The run, then its tasks: read in this order, the tasks are never older than the run, so a run
 * shown finished never shows a task still running (read side by side, a slow task read could).
 */
async function readRun(deps: ApiDeps, runId: string): Promise<{ run: RunRecord; tasks: TaskRecord[] }> {
  const run = await deps.store.runs.getRun(runId);
  if (run === undefined) throw new NotFoundError(`run "${runId}"`);
  return { run, tasks: await readTasks(deps, runId) };
}

async function readTasks(deps: ApiDeps, runId: string): Promise<TaskRecord[]> {
  const tasks: TaskRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.tasks.readTasks(runId, cursor);
    tasks.push(...page.tasks);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return tasks;
}

/** The definition a run starts on: a pinned version, or the latest (kept briefly; versions are cached). */
async function definitionFor(deps: ApiDeps, workflowId: string, version: string | undefined): Promise<StoredDefinition> {
  const wanted = version ?? (deps.latest === undefined ? (await deps.store.definitions.getWorkflow(workflowId))?.latestVersion : await deps.latest.get(workflowId));
  if (wanted === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
  return deps.definitions.get(workflowId, wanted).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`workflow "${workflowId}"${version === undefined ? '' : ` version "${version}"`}`);
    throw error;
  });
}

/** The most recent `wanted` runs of one version, from at most STATS_VERSION_PAGES pages of the workflow's runs. */
async function runsOfVersion(deps: ApiDeps, workflowId: string, version: string, wanted: number) {
  const found: Array<{ runId: string }> = [];
  let nextToken: string | undefined;
  for (let page = 0; page < STATS_VERSION_PAGES && found.length < wanted; page += 1) {
    const listed = await deps.store.runs.listRuns({ workflowId, limit: 100, ...(nextToken === undefined ? {} : { nextToken }) });
    found.push(...listed.runs.filter((run) => run.version === version));
    nextToken = listed.nextToken;
    if (nextToken === undefined) break;
  }
  return found.slice(0, wanted);
}

/** Same key + same request = same run; same key + another request = 409. */
function fingerprint(request: { workflowId: string; version?: string | undefined; input?: unknown }): string {
  const canonical = canonicalJson({ workflowId: request.workflowId, version: request.version ?? null, input: request.input ?? null });
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The run as GET /runs/{runId} shows it: tasks in definition order (a task without an item is
 * PENDING), each that is not final with `why` (explain.ts, as of `now`), and an ended run's
 * critical path, its tasks marked `onCriticalPath`.
 */
export function runView(
  run: RunRecord,
  input: unknown,
  tasks: readonly TaskRecord[],
  definition: StoredDefinition,
  now: number = Date.now(),
  stored: { inputRef?: PayloadRef } = {},
) {
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const outputOf = outputsWithin(run.runId, definition.definition.tasks.map((task) => byId.get(task.id)));
  const why = explainRun(run, definition.definition, tasks, now);
  // Only once the run has ended: before, the last task to finish is not the run's end.
  const path = isFinalRunStatus(run.status) ? criticalPath(run, definition.definition, tasks) : undefined;
  const onPath = new Set(path?.map((step) => step.taskId));
  const compensations = tasks.flatMap((task) => {
    const compensated = compensatedTaskId(task.taskId);
    // Compensations of an earlier phase of a resumed run are in its history, not in its state.
    if (compensated === undefined || task.phase !== run.phase) return [];
    return [
      {
        taskId: compensated,
        status: task.status,
        attempt: task.attempt,
        ...(task.startedAt === undefined ? {} : { startedAt: task.startedAt }),
        ...(task.completedAt === undefined ? {} : { completedAt: task.completedAt }),
        ...(task.output === undefined ? {} : { output: task.output }),
        // A large one is only said to exist (its object expires with the run).
        ...(task.outputRef === undefined ? {} : { outputBytes: task.outputRef.bytes }),
        ...(task.error === undefined ? {} : { error: task.error }),
      },
    ];
  });
  return {
    runId: run.runId,
    workflowId: run.workflowId,
    version: run.version,
    status: visibleRunStatus(run.status),
    ...(stored.inputRef === undefined ? { input } : { inputRef: { bytes: stored.inputRef.bytes, href: `/runs/${run.runId}/input` } }),
    ...(run.error === undefined ? {} : { error: run.error }),
    createdAt: run.createdAt,
    ...(run.completedAt === undefined ? {} : { completedAt: run.completedAt }),
    ...(run.handlerBuild === undefined ? {} : { handlerBuild: run.handlerBuild }),
    ...(run.trigger === undefined ? {} : { trigger: run.trigger }),
    // A child run links to the task that started it (never to its token).
    ...(run.parent === undefined ? {} : { parentRunId: run.parent.runId, parentTaskId: run.parent.taskId }),
    // A completed run's output: its leaf tasks' outputs by task id (what a parent task takes).
    // A leaf whose output is a link (stored apart, or past the budget) is left out of it.
    ...(run.status === 'COMPLETED' ? { output: runOutput(definition.definition, Object.fromEntries(tasks.map((task) => [task.taskId, outputOf(task)]))) } : {}),
    tasks: definition.definition.tasks.map((taskDefinition) => {
      const task = byId.get(taskDefinition.id);
      return {
        taskId: taskDefinition.id,
        type: taskDefinition.type,
        status: task?.status ?? 'PENDING',
        attempt: task?.attempt ?? 0,
        dependsOn: taskDefinition.dependsOn,
        ...(task?.startedAt === undefined ? {} : { startedAt: task.startedAt }),
        ...(task?.completedAt === undefined ? {} : { completedAt: task.completedAt }),
        ...(task?.durationMs === undefined ? {} : { durationMs: task.durationMs }),
        ...(task === undefined ? {} : outputOf(task)),
        ...(task?.error === undefined ? {} : { error: task.error }),
        ...(task?.reason === undefined ? {} : { reason: task.reason }),
        ...(task?.childRunId === undefined ? {} : { childRunId: task.childRunId }),
        // A map task: how many items its attempt runs, and where they are listed.
        ...(task?.mapItems === undefined ? {} : { items: { total: task.mapItems, href: `/runs/${run.runId}/tasks/${task.taskId}/items` } }),
        // Whether an attempt saved a checkpoint the next one resumes from (its content can be large).
        ...(task?.checkpoint === undefined ? {} : { hasCheckpoint: true }),
        // When a WAITING task goes on: a wait task's end, or a parked retry's due time.
        ...(task?.status === 'WAITING' && task.wakeAt !== undefined ? { wakeAt: new Date(task.wakeAt).toISOString() } : {}),
        ...(why.has(taskDefinition.id) ? { why: why.get(taskDefinition.id) } : {}),
        ...(onPath.has(taskDefinition.id) ? { onCriticalPath: true } : {}),
      };
    }),
    ...(compensations.length === 0 ? {} : { compensations }),
    ...(path === undefined ? {} : { criticalPath: path }),
  };
}

/** One item of a map, as GET /runs/{runId}/tasks/{taskId}/items lists it. */
function mapItemView(item: TaskRecord): Record<string, unknown> {
  const index = itemAddress(item.taskId)?.index ?? -1;
  return {
    index,
    status: item.status,
    attempt: item.attempt,
    item: item.item ?? null,
    ...(item.startedAt === undefined ? {} : { startedAt: item.startedAt }),
    ...(item.completedAt === undefined ? {} : { completedAt: item.completedAt }),
    ...(item.durationMs === undefined ? {} : { durationMs: item.durationMs }),
    ...(item.output === undefined ? {} : { output: item.output }),
    // A large one is kept apart: the map's own output carries it.
    ...(item.outputRef === undefined ? {} : { outputRef: { bytes: item.outputRef.bytes } }),
    ...(item.error === undefined ? {} : { error: item.error }),
    ...(item.reason === undefined ? {} : { reason: item.reason }),
  };
}
