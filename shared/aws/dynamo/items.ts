// The shapes of the table's items (docs/architecture.md) and the records the store hands out.
// Items are parsed with zod on the way out of DynamoDB, so a malformed item is an error that
// names its key and attribute, never a silently wrong object.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TaskErrorSchema } from '../../model/task-error.js';
import { TASK_STATUSES, RUN_STATUSES } from '../../model/states.js';
import { TABLE } from '../../config/table-schema.js';

export const keys = {
  workflowCatalog: () => ({ pk: 'WORKFLOWS' }),
  workflowEntry: (workflowId: string) => ({ pk: 'WORKFLOWS', sk: `WF#${workflowId}` }),
  definitionVersion: (workflowId: string, version: string) => ({ pk: `WF#${workflowId}`, sk: `V#${version}` }),
  run: (runId: string) => ({ pk: `RUN#${runId}`, sk: 'RUN' }),
  task: (runId: string, taskId: string) => ({ pk: `RUN#${runId}`, sk: `TASK#${taskId}` }),
  idempotency: (key: string) => ({ pk: `IDEMP#${key}`, sk: 'IDEMP' }),
  runsByWorkflow: (workflowId: string) => `WF#${workflowId}`,
  runsByWorkflowSort: (createdAt: string, runId: string) => `${createdAt}#${runId}`,
};

/** The expiry-index partition of a task: a stable hash, so a task stays in one shard. */
export function expiryShard(runId: string, taskId: string): string {
  const digest = createHash('sha1').update(`${runId}/${taskId}`).digest();
  return `EXP#${digest.readUInt32BE(0) % TABLE.indexes.expiries.shardCount}`;
}


/**
 * The run's own status, plus two internal ones: CREATING while a large run's tasks are being
 * written (the run is invisible), RESUMING while a retried run's tasks are being reset (readers
 * see RUNNING; nothing executes until it is RUNNING).
 */
export const STORED_RUN_STATUSES = ['CREATING', 'RESUMING', ...RUN_STATUSES] as const;

const jsonText = z.string();

export const DefinitionItemSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  workflowId: z.string(),
  version: z.string(),
  definitionJson: jsonText,
  taskCount: z.number(),
  createdAt: z.string(),
});
export type DefinitionItem = z.infer<typeof DefinitionItemSchema>;

export const WorkflowEntryItemSchema = z.object({
  workflowId: z.string(),
  latestVersion: z.string(),
  description: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const RunItemSchema = z.object({
  runId: z.string(),
  workflowId: z.string(),
  version: z.string(),
  status: z.enum(STORED_RUN_STATUSES),
  inputJson: jsonText,
  outputJson: jsonText.optional(),
  error: TaskErrorSchema.optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  updatedAt: z.string(),
  taskCount: z.number(),
  finishedCount: z.number(),
  failedCriticalCount: z.number(),
  idempotencyKey: z.string().optional(),
  cancelReason: z.string().optional(),
  /** Epoch ms after which a still RUNNING run is stopped and fails (the definition's timeoutSeconds). */
  deadlineAt: z.number().optional(),
  cancelOutcome: z.enum(['CANCELLED', 'FAILED']).optional(),
  /** While COMPENSATING: how the run ends once its compensations are done. */
  compensationOutcome: z.enum(['CANCELLED', 'FAILED']).optional(),
  compensationCount: z.number().optional(),
  compensationsFinished: z.number().optional(),
  failedCritical: z
    .union([z.set(z.string()), z.array(z.string())])
    .optional()
    .transform((value) => [...(value ?? [])].sort()),
  resumedAt: z.string().optional(),
  resumeCount: z.number().optional(),
});
export type RunItem = z.infer<typeof RunItemSchema>;

/** A run summary as the runs-by-workflow index projects it. */
export const RunSummaryItemSchema = RunItemSchema.pick({
  runId: true,
  workflowId: true,
  version: true,
  status: true,
  createdAt: true,
  startedAt: true,
  completedAt: true,
  taskCount: true,
  finishedCount: true,
});

const stringSet = z
  .union([z.set(z.string()), z.array(z.string())])
  .optional()
  .transform((value) => [...(value ?? [])].sort());

/** One finished attempt of a task, kept on the task item for the run's history. */
export const AttemptRecordSchema = z.object({
  attempt: z.number(),
  startedAt: z.string(),
  completedAt: z.string(),
  durationMs: z.number(),
  /** SUCCEEDED, FAILED, RETRIED (failed, another attempt follows), TIMED_OUT or CANCELLED. */
  outcome: z.enum(['SUCCEEDED', 'FAILED', 'RETRIED', 'TIMED_OUT', 'CANCELLED']),
  error: TaskErrorSchema.optional(),
});
export type AttemptRecord = z.infer<typeof AttemptRecordSchema>;

export const TaskItemSchema = z.object({
  runId: z.string(),
  taskId: z.string(),
  /** The run's workflow and version, so a task's change is handled without reading its run. */
  workflowId: z.string(),
  version: z.string(),
  status: z.enum(TASK_STATUSES),
  attempt: z.number(),
  leaseToken: z.string().optional(),
  expiresAt: z.number().optional(),
  outputJson: jsonText.optional(),
  checkpointJson: jsonText.optional(),
  error: TaskErrorSchema.optional(),
  reason: z.string().optional(),
  /** A WAITING wait task's wake-up time (epoch ms). */
  wakeAt: z.number().optional(),
  /** Finished attempts, oldest first (errors abridged: the last error is kept whole in `error`). */
  attempts: z.array(AttemptRecordSchema).optional(),
  /** Attempts made before the run was resumed; the retry policy counts from here. */
  attemptBase: z.number().optional(),
  /**
   * Which phase of its run the task belongs to: the run's resumeCount when the task was (re)set.
   * Stream records of an earlier phase carry an older generation and change nothing.
   */
  generation: z.number().optional(),
  /** Set when a compensated task runs again after a resume: its idempotency key gets a new suffix. */
  keyGeneration: z.number().optional(),
  /** A compensation's: the compensations that must finish before it starts. */
  blockers: z.array(z.string()).optional(),
  /** Set when the run is being cancelled while this task runs: its worker fires ctx.signal. */
  cancelRequested: z.boolean().optional(),
  depsSucceeded: stringSet,
  depsFailed: stringSet,
  depsSkipped: stringSet,
  depsCancelled: stringSet,
  queuedAt: z.string().optional(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationMs: z.number().optional(),
  updatedAt: z.string(),
});
export type TaskItem = z.infer<typeof TaskItemSchema>;

export const IdempotencyItemSchema = z.object({
  runId: z.string(),
  requestHash: z.string(),
  workflowId: z.string(),
  version: z.string(),
  createdAt: z.string(),
});
export type IdempotencyItem = z.infer<typeof IdempotencyItemSchema>;

/** Parses an item, naming the item and the attribute when it does not fit. */
export function parseItem<T extends z.ZodType>(schema: T, item: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(item);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined ? '' : ` at ${issue.path.join('.') || '(root)'}: ${issue.message}`;
  throw new Error(`malformed ${what} item${where}`);
}
