// The shapes of the table's items, parsed with zod on the way out of DynamoDB (a malformed item is
// an error naming its key and attribute, never a silently wrong record), and their mapping to the
// engine's records. Inputs, outputs and checkpoints are stored as JSON text: exactly what was sent,
// whatever its keys, and their size is what the limits count.
import { gunzipSync } from 'node:zlib';
import * as z from 'zod';
import { STORED_RUN_STATUSES, TASK_STATUSES } from '../../model/states.js';
import { TaskErrorSchema } from '../../model/task-error.js';
import type { AttemptRecord, PhaseSummary, RunRecord, StoredDefinition, TaskRecord, WorkflowSummary } from '../../engine/records.js';
import { WorkflowDefinitionSchema } from '../../model/definition.js';

const stringSet = z
  .union([z.set(z.string()), z.array(z.string())])
  .optional()
  .transform((value) => [...(value ?? [])].sort());

export const DefinitionItemSchema = z.object({
  workflowId: z.string(),
  version: z.string(),
  /** The definition as JSON, or (a large one) gzipped JSON. */
  definitionJson: z.string().optional(),
  definitionGz: z.instanceof(Uint8Array).optional(),
  taskCount: z.number(),
  createdAt: z.string(),
});

export const WorkflowEntryItemSchema = z.object({
  workflowId: z.string(),
  latestVersion: z.string(),
  description: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const CancelSchema = z.object({ requestedAt: z.string(), reason: z.string(), outcome: z.enum(['CANCELLED', 'FAILED']) });

export const RunItemSchema = z.object({
  runId: z.string(),
  workflowId: z.string(),
  version: z.string(),
  status: z.enum(STORED_RUN_STATUSES),
  phase: z.number(),
  createdAt: z.string(),
  startedAt: z.string(),
  completedAt: z.string().optional(),
  updatedAt: z.string(),
  taskCount: z.number(),
  groupCount: z.number(),
  doneGroups: stringSet,
  failedCount: z.number().optional(),
  failedTasks: z.array(z.string()).optional(),
  error: TaskErrorSchema.optional(),
  deadlineAt: z.number().optional(),
  cancel: CancelSchema.optional(),
  compensation: z.object({ outcome: z.enum(['CANCELLED', 'FAILED']), error: TaskErrorSchema.optional(), tasks: z.array(z.string()) }).optional(),
  resume: z.object({ owner: z.string(), expiresAt: z.number(), from: z.enum(['FAILED', 'CANCELLED']) }).optional(),
  resumedAt: z.string().optional(),
  idempotencyKey: z.string().optional(),
  handlerBuild: z.string().optional(),
  trigger: z.object({ scheduleId: z.string(), fireTime: z.string() }).optional(),
  parent: z.object({ runId: z.string(), taskId: z.string(), attempt: z.number(), tokenHash: z.string(), depth: z.number() }).optional(),
  dueAt: z.number().optional(),
});

/** A run as the runs-by-workflow index projects it. */
export const RunSummaryItemSchema = RunItemSchema.pick({
  runId: true,
  workflowId: true,
  version: true,
  status: true,
  createdAt: true,
  completedAt: true,
  taskCount: true,
});

export const AttemptRecordSchema = z.object({
  attempt: z.number(),
  phase: z.number().optional(),
  startedAt: z.string(),
  completedAt: z.string(),
  durationMs: z.number(),
  outcome: z.enum(['SUCCEEDED', 'FAILED', 'RETRIED', 'TIMED_OUT', 'CANCELLED']),
  error: TaskErrorSchema.optional(),
});

const CountsSchema = z.object({ total: z.number(), succeeded: z.number(), failed: z.number(), skipped: z.number(), cancelled: z.number() });

export const TaskItemSchema = z.object({
  runId: z.string(),
  taskId: z.string(),
  workflowId: z.string(),
  version: z.string(),
  phase: z.number(),
  status: z.enum(TASK_STATUSES),
  attempt: z.number(),
  attemptBase: z.number().optional(),
  leaseToken: z.string().optional(),
  leaseExpiresAt: z.number().optional(),
  dueAt: z.number().optional(),
  outputJson: z.string().optional(),
  outputRef: z.object({ key: z.string(), bytes: z.number() }).optional(),
  checkpointJson: z.string().optional(),
  error: TaskErrorSchema.optional(),
  reason: z.string().optional(),
  wakeAt: z.number().optional(),
  attempts: z.array(AttemptRecordSchema).optional(),
  depsSucceeded: stringSet,
  depsFailed: stringSet,
  depsSkipped: stringSet,
  depsCancelled: stringSet,
  joinGroups: z.record(z.string(), CountsSchema).optional(),
  keyGeneration: z.number().optional(),
  cancelRequested: z.boolean().optional(),
  callbackTokens: stringSet,
  callbackAttempt: z.number().optional(),
  childRunId: z.string().optional(),
  itemJson: z.string().optional(),
  nextIndex: z.number().optional(),
  mapItems: z.number().optional(),
  mapItemsOf: z.string().optional(),
  mapChunksDone: stringSet.optional(),
  mapFailed: z.number().optional(),
  queuedAt: z.string().optional(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationMs: z.number().optional(),
  updatedAt: z.string(),
  opToken: z.string().optional(),
});

export const IdempotencyItemSchema = z.object({
  runId: z.string(),
  requestHash: z.string(),
  workflowId: z.string(),
  version: z.string(),
  createdAt: z.string(),
});

export const OutcomeSetsSchema = z.object({
  SUCCEEDED: stringSet,
  FAILED: stringSet,
  SKIPPED: stringSet,
  CANCELLED: stringSet,
});

export const DoneItemSchema = z.object({ finished: stringSet, failed: stringSet });

export const PhaseItemSchema = z.object({ summaryJson: z.string() });

export const AttemptsItemSchema = z.object({ taskId: z.string(), attempts: z.array(AttemptRecordSchema) });

/** Parses an item, naming the item and the attribute when it does not fit. */
export function parseItem<T extends z.ZodType>(schema: T, item: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(item);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined ? '' : ` at ${issue.path.join('.') || '(root)'}: ${issue.message}`;
  throw new Error(`malformed ${what} item${where}`);
}

export function toStoredDefinition(item: unknown): StoredDefinition {
  const stored = parseItem(DefinitionItemSchema, item, 'definition');
  const json = stored.definitionGz === undefined ? (stored.definitionJson ?? 'null') : gunzipSync(stored.definitionGz).toString('utf8');
  return {
    workflowId: stored.workflowId,
    version: stored.version,
    definition: WorkflowDefinitionSchema.parse(JSON.parse(json)),
    createdAt: stored.createdAt,
  };
}

export function toWorkflowSummary(item: unknown): WorkflowSummary {
  return withoutUndefined(parseItem(WorkflowEntryItemSchema, item, 'workflow'));
}

export function toRunRecord(item: unknown): RunRecord {
  const run = parseItem(RunItemSchema, item, 'run');
  return withoutUndefined({
    ...run,
    failedCount: run.failedCount ?? 0,
    failedTasks: run.failedTasks ?? [],
    ...(run.compensation === undefined ? {} : { compensation: withoutUndefined(run.compensation) }),
  });
}

function toAttempt(attempt: z.output<typeof AttemptRecordSchema>): AttemptRecord {
  return withoutUndefined({ ...attempt, phase: attempt.phase ?? 0 });
}

export function toTaskRecord(item: unknown): TaskRecord {
  const task = parseItem(TaskItemSchema, item, 'task');
  const { outputJson, checkpointJson, depsSucceeded, depsFailed, depsSkipped, depsCancelled, attempts, attemptBase, cancelRequested, joinGroups, opToken, callbackTokens, itemJson, mapChunksDone, ...rest } = task;
  return withoutUndefined({
    ...rest,
    callbackTokens: callbackTokens.length === 0 ? undefined : callbackTokens,
    lastChange: opToken,
    attemptBase: attemptBase ?? 0,
    attempts: (attempts ?? []).map(toAttempt),
    cancelRequested: cancelRequested ?? false,
    joinGroups: joinGroups ?? {},
    output: outputJson === undefined ? undefined : (JSON.parse(outputJson) as unknown),
    ...(itemJson === undefined ? {} : { item: JSON.parse(itemJson) as unknown }),
    ...(mapChunksDone === undefined ? {} : { mapChunksDone }),
    checkpoint: checkpointJson === undefined ? undefined : (JSON.parse(checkpointJson) as unknown),
    dependencies: { succeeded: depsSucceeded, failed: depsFailed, skipped: depsSkipped, cancelled: depsCancelled },
  });
}

export function toPhaseSummary(item: unknown): PhaseSummary {
  return JSON.parse(parseItem(PhaseItemSchema, item, 'phase').summaryJson) as PhaseSummary;
}

export function toArchivedAttempts(item: unknown): { taskId: string; attempts: AttemptRecord[] } {
  const archived = parseItem(AttemptsItemSchema, item, 'attempts');
  return { taskId: archived.taskId, attempts: archived.attempts.map(toAttempt) };
}

/** Drops keys whose value is undefined, so records compare and serialize cleanly. */
export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
