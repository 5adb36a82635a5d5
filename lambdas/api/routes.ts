// The HTTP API's routes (docs/architecture.md): each parses its parameters with zod, calls the
// store, and shapes the response. Routes, field names and status codes are the contract.
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import type { DefinitionCache } from '../../shared/engine/definition-cache.js';
import { id, parseDefinition } from '../../shared/model/definition.js';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../../shared/model/errors.js';
import { LIMITS, jsonByteLength } from '../../shared/model/limits.js';
import { RUN_STATUSES } from '../../shared/model/states.js';
import type { DynamoStore, RunWithTasks, StoredDefinition } from '../../shared/aws/dynamo/store.js';
import { compensatedTaskId } from '../../shared/engine/compensation.js';
import { cancelRun, resumeRun, runHistory } from '../../shared/engine/run-control.js';
import { taskStats } from '../../shared/engine/run-stats.js';
import { canonicalJson } from '../../shared/model/version.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { json, jsonBody, parseWith } from './http.js';

export interface ApiDeps {
  store: DynamoStore;
  definitions: DefinitionCache;
  /** Handler names the worker bundle registers: definitions naming others are refused. */
  knownHandlers: ReadonlySet<string>;
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
  workflowId: z.string({ error: 'workflowId is required (runs are listed per workflow)' }).pipe(id('workflowId')),
  status: z
    .string()
    .transform((status) => status.toUpperCase())
    .pipe(z.enum(RUN_STATUSES, { error: `status must be one of ${RUN_STATUSES.join(', ')} (any case)` }))
    .optional(),
  limit: z.coerce.number().int('limit must be a whole number').min(1, 'limit must be at least 1').max(100, 'limit must be at most 100').default(50),
  nextToken: z.string().min(1).optional(),
});

const StatsQuerySchema = z.strictObject({
  /** How many of the most recent runs the statistics cover. */
  runs: z.coerce.number().int('runs must be a whole number').min(1, 'runs must be at least 1').max(200, 'runs must be at most 200').default(50),
});

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
      const { version, created } = await deps.store.saveDefinition(parsed.definition);
      return json(created ? 201 : 200, { workflowId: parsed.definition.id, version });
    },
  },
  {
    method: 'GET',
    pattern: '/workflows',
    handler: async (_event, _params, deps) => json(200, { workflows: await deps.store.listWorkflows() }),
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}',
    handler: async (_event, { workflowId = '' }, deps) => {
      const entry = await deps.store.getWorkflow(workflowId);
      if (entry === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
      const [latest, versions] = await Promise.all([
        deps.definitions.get(workflowId, entry.latestVersion),
        deps.store.listVersions(workflowId),
      ]);
      return json(200, { ...entry, version: entry.latestVersion, definition: latest.definition, versions });
    },
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}/versions/{version}',
    handler: async (_event, { workflowId = '', version = '' }, deps) => {
      const stored = await deps.store.getDefinition(workflowId, version);
      if (stored === undefined) throw new NotFoundError(`workflow "${workflowId}" version "${version}"`);
      return json(200, stored);
    },
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}/stats',
    handler: async (event, { workflowId = '' }, deps) => {
      const query = parseWith(StatsQuerySchema, event.queryStringParameters ?? {}, 'query');
      const entry = await deps.store.getWorkflow(workflowId);
      if (entry === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
      const latest = await deps.definitions.get(workflowId, entry.latestVersion);
      const { runs } = await deps.store.listRuns({ workflowId, limit: query.runs });
      const read = await Promise.all(runs.map((run) => deps.store.readRun(run.runId)));
      const tasks = read.flatMap((found) => (found === undefined ? [] : [found.tasks]));
      return json(200, {
        workflowId,
        version: entry.latestVersion,
        runs: tasks.length,
        tasks: taskStats(latest.definition.tasks.map((task) => task.id), tasks),
      });
    },
  },
  {
    method: 'POST',
    pattern: '/runs',
    handler: async (event, _params, deps) => {
      const body = jsonBody(event);
      const parsed = parseWith(StartRunSchema, body, 'body');
      // The input exactly as sent: zod's copy of a JSON value drops a "__proto__" key.
      const request = { ...parsed, input: (body as { input?: unknown }).input };
      const inputBytes = jsonByteLength(request.input ?? null);
      if (inputBytes > LIMITS.maxInputBytes) throw new PayloadTooLargeError('input', inputBytes, LIMITS.maxInputBytes);
      const headerKey = event.headers['idempotency-key'];
      const idempotencyKey = headerKey === undefined ? undefined : parseWith(IdempotencyKeySchema, headerKey, 'Idempotency-Key');
      const definition = await definitionFor(deps, request.workflowId, request.version);
      const { runId, created } = await deps.store.createRun({
        runId: (deps.newRunId ?? randomUUID)(),
        definition,
        input: request.input ?? null,
        ...(idempotencyKey === undefined
          ? {}
          : { idempotency: { key: idempotencyKey, requestFingerprint: fingerprint(request) } }),
      });
      if (created) return json(201, { runId, status: 'RUNNING' });
      const existing = await deps.store.getRun(runId);
      // The first request with this key is still writing a large run (or died doing so): retrying
      // later, with the same key, returns the run or finishes creating it.
      if (existing === undefined) {
        throw new ConflictError(`run "${runId}" for this Idempotency-Key is still being created; retry later with the same key`, { runId });
      }
      return json(200, { runId, status: existing.status });
    },
  },
  {
    method: 'GET',
    pattern: '/runs',
    handler: async (event, _params, deps) => {
      const query = parseWith(ListRunsSchema, event.queryStringParameters ?? {}, 'query');
      if ((await deps.store.getWorkflow(query.workflowId)) === undefined) throw new NotFoundError(`workflow "${query.workflowId}"`);
      const page = await deps.store.listRuns(query);
      return json(200, page);
    },
  },
  {
    method: 'GET',
    pattern: '/runs/{runId}',
    handler: async (_event, { runId = '' }, deps) => {
      const found = await deps.store.readRun(runId);
      if (found === undefined) throw new NotFoundError(`run "${runId}"`);
      const definition = await deps.definitions.get(found.run.workflowId, found.run.version);
      return json(200, runView(found, definition));
    },
  },
  {
    method: 'GET',
    pattern: '/runs/{runId}/history',
    handler: async (_event, { runId = '' }, deps) => {
      const found = await deps.store.readRun(runId);
      if (found === undefined) throw new NotFoundError(`run "${runId}"`);
      const definition = await deps.definitions.get(found.run.workflowId, found.run.version);
      return json(200, { runId, events: runHistory(found, definition) });
    },
  },
  {
    method: 'POST',
    pattern: '/runs/{runId}/cancel',
    handler: async (_event, { runId = '' }, deps) => json(202, await cancelRun(deps.store, runId)),
  },
  {
    method: 'POST',
    pattern: '/runs/{runId}/retry',
    handler: async (_event, { runId = '' }, deps) => json(202, await resumeRun(deps.store, deps.definitions, runId)),
  },
];

async function definitionFor(deps: ApiDeps, workflowId: string, version: string | undefined): Promise<StoredDefinition> {
  if (version !== undefined) {
    const pinned = await deps.store.getDefinition(workflowId, version);
    if (pinned === undefined) throw new NotFoundError(`workflow "${workflowId}" version "${version}"`);
    return pinned;
  }
  const latest = await deps.store.getLatestDefinition(workflowId);
  if (latest === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
  return latest;
}

/** Same key + same request = same run; same key + another request = 409. */
function fingerprint(request: { workflowId: string; version?: string | undefined; input?: unknown }): string {
  const canonical = canonicalJson({ workflowId: request.workflowId, version: request.version ?? null, input: request.input ?? null });
  return createHash('sha256').update(canonical).digest('hex');
}

/** The run as GET /runs/{runId} shows it: tasks in definition order, with their dependencies. */
export function runView({ run, tasks }: RunWithTasks, definition: StoredDefinition) {
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const compensations = tasks.flatMap((task) => {
    const compensated = compensatedTaskId(task.taskId);
    // Compensations of an earlier phase of a resumed run are in its history, not in its state.
    if (compensated === undefined || task.generation !== (run.resumeCount ?? 0)) return [];
    return [
      {
        taskId: compensated,
        status: task.status,
        attempt: task.attempt,
        ...(task.startedAt === undefined ? {} : { startedAt: task.startedAt }),
        ...(task.completedAt === undefined ? {} : { completedAt: task.completedAt }),
        ...(task.output === undefined ? {} : { output: task.output }),
        ...(task.error === undefined ? {} : { error: task.error }),
      },
    ];
  });
  return {
    runId: run.runId,
    workflowId: run.workflowId,
    version: run.version,
    status: run.status,
    input: run.input,
    ...(run.output === undefined ? {} : { output: run.output }),
    ...(run.error === undefined ? {} : { error: run.error }),
    createdAt: run.createdAt,
    ...(run.completedAt === undefined ? {} : { completedAt: run.completedAt }),
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
        ...(task?.output === undefined ? {} : { output: task.output }),
        ...(task?.error === undefined ? {} : { error: task.error }),
        ...(task?.reason === undefined ? {} : { reason: task.reason }),
        // When a WAITING task goes on: a wait task's end, or a parked retry's due time.
        ...(task?.status === 'WAITING' ? { wakeAt: new Date(task.wakeAt ?? task.expiresAt ?? 0).toISOString() } : {}),
      };
    }),
    ...(compensations.length === 0 ? {} : { compensations }),
  };
}
