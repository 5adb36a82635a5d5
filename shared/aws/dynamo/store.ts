// The one module that talks to DynamoDB. It owns the single-table layout (items.ts) and turns
// every conditional write into a named outcome: a lost race, a stale attempt or a replay is a
// value callers branch on, not a thrown SDK error.
//
// Invariants kept here (docs/architecture.md):
// - a claim moves QUEUED -> RUNNING only for the expected attempt, and hands out a lease token;
// - a result is committed only while the attempt and the lease token still match (fencing), in
//   the same transaction that counts the task as finished on its run, so the count is exact;
// - satisfied dependencies are recorded with an idempotent string-set ADD;
// - a run is never visible half-created (see createRun).
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { compensatedTaskId } from '../../engine/compensation.js';
import { WorkflowDefinitionSchema, type WorkflowDefinition } from '../../model/definition.js';
import { ConflictError, EngineError, PayloadTooLargeError, ValidationError } from '../../model/errors.js';
import { LIMITS } from '../../model/limits.js';
import type { TaskError } from '../../model/task-error.js';
import type { RunStatus, TaskStatus } from '../../model/states.js';
import { TIMINGS } from '../../config/settings.js';
import { TABLE } from '../../config/table-schema.js';
import { definitionVersion } from '../../model/version.js';
import {
  DefinitionItemSchema,
  IdempotencyItemSchema,
  RunItemSchema,
  RunSummaryItemSchema,
  TaskItemSchema,
  WorkflowEntryItemSchema,
  expiryShard,
  keys,
  parseItem,
  type AttemptRecord,
  type RunItem,
  type TaskItem,
} from './items.js';

export type { AttemptRecord } from './items.js';
export type { TaskError } from '../../model/task-error.js';

export interface StoredDefinition {
  workflowId: string;
  version: string;
  definition: WorkflowDefinition;
  createdAt: string;
}

export interface WorkflowSummary {
  workflowId: string;
  latestVersion: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

export interface RunRecord {
  runId: string;
  workflowId: string;
  version: string;
  status: RunStatus;
  input: unknown;
  output?: unknown;
  error?: TaskError;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  updatedAt: string;
  taskCount: number;
  finishedCount: number;
  failedCriticalCount: number;
  idempotencyKey?: string;
  cancelReason?: string;
  compensationOutcome?: 'CANCELLED' | 'FAILED';
  /** While COMPENSATING: how many compensations run, and how many of them have finished. */
  compensationCount?: number;
  compensationsFinished?: number;
  /** Critical tasks that failed for good, by id. */
  failedCritical: string[];
  resumedAt?: string;
  resumeCount?: number;
}

export type RunSummary = Pick<
  RunRecord,
  'runId' | 'workflowId' | 'version' | 'status' | 'createdAt' | 'startedAt' | 'completedAt' | 'taskCount' | 'finishedCount'
>;

/** The final states of a task's direct dependencies, as recorded on the task. */
export interface DependencyOutcomes {
  succeeded: string[];
  failed: string[];
  skipped: string[];
  cancelled: string[];
}

export interface TaskRecord {
  runId: string;
  taskId: string;
  workflowId: string;
  version: string;
  status: TaskStatus;
  /** The current (or next) attempt; 0 before the task was first queued. */
  attempt: number;
  leaseToken?: string;
  /** Epoch ms when the lease (RUNNING), the delivery (QUEUED) or the timer (WAITING) is due. */
  expiresAt?: number;
  output?: unknown;
  checkpoint?: unknown;
  error?: TaskError;
  reason?: string;
  /** A WAITING wait task's wake-up time (epoch ms). */
  wakeAt?: number;
  blockers?: string[];
  generation: number;
  keyGeneration?: number;
  attempts: AttemptRecord[];
  attemptBase: number;
  cancelRequested: boolean;
  dependencies: DependencyOutcomes;
  queuedAt?: string;
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
  updatedAt: string;
}

export interface RunWithTasks {
  run: RunRecord;
  tasks: TaskRecord[];
}

export interface CreateRunParams {
  runId: string;
  definition: StoredDefinition;
  input: unknown;
  /** With a key, a second create with the same key returns the first run instead. */
  idempotency?: { key: string; requestFingerprint: string };
}

export type CreateRunResult = { runId: string; created: boolean };

export type ClaimOutcome =
  | { outcome: 'claimed'; task: TaskRecord }
  | { outcome: 'not-claimable'; current: TaskRecord | undefined };

export type FencedOutcome = { outcome: 'ok' } | { outcome: 'stale'; current: TaskRecord | undefined };

export type QueueOutcome =
  | { outcome: 'queued'; task: TaskRecord }
  | { outcome: 'conflict'; current: TaskRecord | undefined };

export type TaskResult = { status: 'SUCCEEDED'; output: unknown } | { status: 'FAILED'; error: TaskError };

const DueTaskSchema = TaskItemSchema.pick({
  runId: true,
  taskId: true,
  workflowId: true,
  version: true,
  status: true,
  attempt: true,
  leaseToken: true,
  startedAt: true,
}).extend({ expiresAt: z.number() });
export type DueTask = z.output<typeof DueTaskSchema>;

const DueRunSchema = RunItemSchema.pick({ runId: true, workflowId: true, version: true, status: true, deadlineAt: true }).extend({
  expiresAt: z.number(),
});
export type DueRun = z.output<typeof DueRunSchema>;

export type DueItem = { kind: 'task'; task: DueTask } | { kind: 'run'; run: DueRun };

function toDueItem(item: Record<string, unknown>): DueItem {
  if (item['sk'] === 'RUN') return { kind: 'run', run: withoutUndefined(parseItem(DueRunSchema, item, 'due run')) };
  return { kind: 'task', task: withoutUndefined(parseItem(DueTaskSchema, item, 'due task')) };
}

function dueAt(item: DueItem): number {
  return item.kind === 'task' ? item.task.expiresAt : item.run.expiresAt;
}

export interface StoreDeps {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** The clock; tests pass their own. */
  now?: () => Date;
  /** How long an unfinished run waits before the sweeper checks it (TIMINGS.reconcileIntervalSeconds). */
  reconcileIntervalSeconds?: number;
}

/** DynamoDB's limit on items in one TransactWriteItems call. */
const MAX_TRANSACTION_ITEMS = 100;
/** Items in one BatchWriteItem call, and how many such calls a large run creation keeps in flight. */
const BATCH_WRITE_SIZE = 25;
const BATCH_WRITE_CONCURRENCY = 8;
/** Keys in one BatchGetItem call. */
const BATCH_GET_SIZE = 100;
/**
 * How long a staged run creation may take before another request with the same idempotency key
 * may take it over. Longer than any API Lambda can live, so the first writer is surely gone.
 */
const CREATION_LEASE_MS = 120_000;
/** Attempts at a transaction that lost a race with another transaction on the same item. */
const TRANSACTION_CONFLICT_ATTEMPTS = 8;
const DAY_SECONDS = 86_400;
/** Idempotency keys are kept this long (as API idempotency keys usually are: a day or more). */
const IDEMPOTENCY_TTL_SECONDS = 7 * DAY_SECONDS;

export class DynamoStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly now: () => Date;
  private readonly reconcileIntervalMs: number;

  constructor(deps: StoreDeps) {
    this.reconcileIntervalMs = (deps.reconcileIntervalSeconds ?? TIMINGS.reconcileIntervalSeconds) * 1000;
    this.client = deps.client;
    this.tableName = deps.tableName;
    this.now = deps.now ?? (() => new Date());
  }

  // ---- definitions -------------------------------------------------------------------------

  /**
   * Saves a normalized definition under its content version and makes it the workflow's latest.
   * Idempotent on content: `created` is false when the version already existed.
   */
  async saveDefinition(
    definition: WorkflowDefinition,
    options: {
      /**
       * Whether content that is already registered becomes the latest again, as a redeploy of older
       * code would (`always`, the API's default), or stays where it is (`if-created`: the local
       * runtime's start-up registration, which must never move latest back).
       */
      makeLatest?: 'always' | 'if-created';
    } = {},
  ): Promise<{ version: string; created: boolean }> {
    const version = definitionVersion(definition);
    const now = this.isoNow();
    const definitionJson = JSON.stringify(definition);
    const pointToLatest = this.latestPointerUpdate(definition, version, now);
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...keys.definitionVersion(definition.id, version),
                  kind: 'definition',
                  workflowId: definition.id,
                  version,
                  definitionJson,
                  taskCount: definition.tasks.length,
                  createdAt: now,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Update: pointToLatest },
          ],
        }),
      );
      return { version, created: true };
    } catch (error) {
      if (cancellationCode(error, 0) !== 'ConditionalCheckFailed') throw error;
      // Same content registered again: it becomes the latest again, as a redeploy would.
      if ((options.makeLatest ?? 'always') === 'always') await this.client.send(new UpdateCommand(pointToLatest));
      return { version, created: false };
    }
  }

  async getDefinition(workflowId: string, version: string): Promise<StoredDefinition | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.definitionVersion(workflowId, version) }),
    );
    return Item === undefined ? undefined : toStoredDefinition(Item);
  }

  async getLatestDefinition(workflowId: string): Promise<StoredDefinition | undefined> {
    const entry = await this.getWorkflow(workflowId);
    return entry === undefined ? undefined : this.getDefinition(workflowId, entry.latestVersion);
  }

  async getWorkflow(workflowId: string): Promise<WorkflowSummary | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.workflowEntry(workflowId), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : toWorkflowSummary(Item);
  }

  async listWorkflows(): Promise<WorkflowSummary[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.workflowCatalog().pk },
    });
    return items.map(toWorkflowSummary);
  }

  /** Every version of a workflow, oldest first. */
  async listVersions(workflowId: string): Promise<Array<{ version: string; createdAt: string; taskCount: number }>> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
      ExpressionAttributeValues: { ':pk': `WF#${workflowId}`, ':v': 'V#' },
      ProjectionExpression: 'version, createdAt, taskCount',
    });
    return items
      .map((item) => parseItem(DefinitionItemSchema.pick({ version: true, createdAt: true, taskCount: true }), item, 'definition'))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  // ---- runs --------------------------------------------------------------------------------

  /**
   * Creates a run with all its task runs. A run of up to ~98 tasks is one transaction. A larger
   * one is staged: the run item is written as CREATING (invisible to readers and to the
   * scheduler), then the tasks in batches, then the run flips to RUNNING in one conditional
   * write. A creation that died half-way is taken over by the next request with the same
   * idempotency key once its creation lease has expired.
   */
  async createRun(params: CreateRunParams): Promise<CreateRunResult> {
    const inputJson = JSON.stringify(params.input ?? null);
    const bytes = Buffer.byteLength(inputJson, 'utf8');
    if (bytes > LIMITS.maxInputBytes) throw new PayloadTooLargeError('run input', bytes, LIMITS.maxInputBytes);

    const itemCount = params.definition.definition.tasks.length + 1 + (params.idempotency === undefined ? 0 : 1);
    return itemCount <= MAX_TRANSACTION_ITEMS
      ? this.createRunAtomically(params, inputJson)
      : this.createRunInStages(params, inputJson);
  }

  /** The run without its tasks; undefined while it does not exist or is still being created. */
  async getRun(runId: string): Promise<RunRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.run(runId), ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    const run = parseItem(RunItemSchema, Item, 'run');
    return run.status === 'CREATING' ? undefined : toRunRecord(run);
  }

  /** The run item as stored (internal statuses included), for the scheduler's checks. */
  async getRunItem(runId: string): Promise<RunItem | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keys.run(runId), ConsistentRead: true }));
    return Item === undefined ? undefined : parseItem(RunItemSchema, Item, 'run');
  }

  /** Sets an unfinished run's next check (or its deadline, if sooner); once per due check. */
  async rescheduleRunCheck(runId: string, previous: number, deadlineAt: number | undefined): Promise<FencedOutcome> {
    const now = this.now().getTime();
    const nextCheck = now + this.reconcileIntervalMs;
    const next = deadlineAt !== undefined && deadlineAt > now ? Math.min(deadlineAt, nextCheck) : nextCheck;
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.run(runId),
        // The deadline stays the next due time while it is ahead; once passed, checks go on.
        UpdateExpression: 'SET expiresAt = :next',
        ConditionExpression: 'expiresAt = :previous',
        ExpressionAttributeValues: { ':next': next, ':previous': previous },
      }),
    );
  }

  /** The run and every task run, read from its one partition. */
  async readRun(runId: string): Promise<RunWithTasks | undefined> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.run(runId).pk },
      ConsistentRead: true,
    });
    let run: RunItem | undefined;
    const tasks: TaskRecord[] = [];
    for (const item of items) {
      if (item['sk'] === 'RUN') run = parseItem(RunItemSchema, item, 'run');
      else if (typeof item['sk'] === 'string' && item['sk'].startsWith('TASK#')) {
        tasks.push(toTaskRecord(parseItem(TaskItemSchema, item, 'task')));
      }
    }
    if (run === undefined || run.status === 'CREATING') return undefined;
    return { run: toRunRecord(run), tasks };
  }

  /** Runs of a workflow, newest first, optionally of one status; paginated by an opaque token. */
  async listRuns(query: {
    workflowId: string;
    status?: RunStatus;
    limit?: number;
    nextToken?: string;
  }): Promise<{ runs: RunSummary[]; nextToken?: string }> {
    const limit = query.limit ?? 50;
    const index = TABLE.indexes.runsByWorkflow;
    const runs: RunSummary[] = [];
    const partition = keys.runsByWorkflow(query.workflowId);
    let startKey = query.nextToken === undefined ? undefined : decodeToken(query.nextToken, index.partitionKey, partition);
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: `${index.partitionKey} = :wf`,
          ExpressionAttributeValues: {
            ':wf': partition,
            ...(query.status === undefined ? {} : { ':status': query.status }),
          },
          ...(query.status === undefined
            ? {}
            : { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } }),
          ScanIndexForward: false,
          Limit: limit - runs.length,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) runs.push(toRunSummary(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && runs.length < limit);
    return startKey === undefined ? { runs } : { runs, nextToken: encodeToken(startKey) };
  }

  // ---- task runs ---------------------------------------------------------------------------

  async getTask(runId: string, taskId: string): Promise<TaskRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.task(runId, taskId), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : toTaskRecord(parseItem(TaskItemSchema, Item, 'task'));
  }

  /** Whether the run of a running task is being cancelled (a cheap, projected read). */
  async isCancelRequested(runId: string, taskId: string): Promise<boolean> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.task(runId, taskId),
        ProjectionExpression: 'cancelRequested',
        ConsistentRead: true,
      }),
    );
    return Item?.['cancelRequested'] === true;
  }

  /**
   * PENDING or WAITING -> QUEUED for `attempt`, expecting the task at `expected` (so of two
   * schedulers reacting to the same change, one queues and the other gets `conflict`). The task
   * carries a delivery deadline in the expiry index, so a lost message is found by the sweeper.
   */
  async queueTask(params: {
    runId: string;
    taskId: string;
    expected: { status: 'PENDING' | 'WAITING'; attempt: number };
    attempt: number;
    deliveryTimeoutSeconds: number;
  }): Promise<QueueOutcome> {
    const now = this.now();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression:
            'SET #status = :queued, attempt = :attempt, queuedAt = :now, updatedAt = :now, expiresAt = :due, expiryShard = :shard',
          ConditionExpression: '#status = :expectedStatus AND attempt = :expectedAttempt',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':queued': 'QUEUED',
            ':attempt': params.attempt,
            ':now': now.toISOString(),
            ':due': now.getTime() + params.deliveryTimeoutSeconds * 1000,
            ':shard': expiryShard(params.runId, params.taskId),
            ':expectedStatus': params.expected.status,
            ':expectedAttempt': params.expected.attempt,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'queued', task: toTaskRecord(parseItem(TaskItemSchema, Attributes, 'task')) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { outcome: 'conflict', current: oldTask(error.Item) };
      throw error;
    }
  }

  /**
   * PENDING -> WAITING for a `wait` task: the wait begins now (its startedAt) and ends at `wakeAt`,
   * which is also its deadline in the expiry index, so a lost wake-up message is re-sent by the
   * sweeper. `conflict` when the task is no longer PENDING (the current item says why).
   */
  async startWait(params: { runId: string; taskId: string; attempt: number; wakeAt: number; graceSeconds: number }): Promise<QueueOutcome> {
    const now = this.now();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression:
            'SET #status = :waiting, attempt = :attempt, queuedAt = :now, startedAt = :now, updatedAt = :now, wakeAt = :wakeAt, expiresAt = :due, expiryShard = :shard',
          ConditionExpression: '#status = :pending AND attempt = :previous',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':waiting': 'WAITING',
            ':pending': 'PENDING',
            ':attempt': params.attempt,
            ':previous': params.attempt - 1,
            ':now': now.toISOString(),
            ':wakeAt': params.wakeAt,
            ':due': Math.max(params.wakeAt, now.getTime()) + params.graceSeconds * 1000,
            ':shard': expiryShard(params.runId, params.taskId),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'queued', task: toTaskRecord(parseItem(TaskItemSchema, Attributes, 'task')) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { outcome: 'conflict', current: oldTask(error.Item) };
      throw error;
    }
  }

  /** WAITING -> SUCCEEDED for a `wait` task whose time has come: its attempt spans the whole wait. */
  async finishWait(params: { runId: string; taskId: string; attempt: number }): Promise<FencedOutcome> {
    const now = this.now();
    const current = await this.getTask(params.runId, params.taskId);
    const startedAt = current?.startedAt ?? now.toISOString();
    const durationMs = Math.max(0, now.getTime() - Date.parse(startedAt));
    return this.finishTask({
      runId: params.runId,
      taskId: params.taskId,
      status: 'SUCCEEDED',
      countsAsCriticalFailure: false,
      condition: '#status = :waiting AND attempt = :attempt',
      set: 'outputJson = :null, durationMs = :duration, attempts = list_append(if_not_exists(attempts, :noAttempts), :attemptRecord)',
      remove: 'wakeAt',
      names: {},
      values: {
        ':waiting': 'WAITING',
        ':attempt': params.attempt,
        ':null': 'null',
        ':duration': durationMs,
        ':noAttempts': [],
        ':attemptRecord': [attemptRecordOf({ attempt: params.attempt, startedAt }, now, durationMs, 'SUCCEEDED', undefined)],
      },
    });
  }

  /**
   * Claims a task attempt: QUEUED -> RUNNING only if the attempt matches. The lease token is the
   * fence for every later write of this attempt; the lease expiry is what the sweeper watches.
   */
  async claimTask(params: {
    runId: string;
    taskId: string;
    attempt: number;
    leaseSeconds: number;
    leaseToken?: string;
  }): Promise<ClaimOutcome> {
    const now = this.now();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression:
            'SET #status = :running, leaseToken = :token, expiresAt = :expiry, expiryShard = :shard, startedAt = :now, updatedAt = :now',
          ConditionExpression: '#status = :queued AND attempt = :attempt',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':queued': 'QUEUED',
            ':attempt': params.attempt,
            ':token': params.leaseToken ?? randomUUID(),
            ':expiry': now.getTime() + params.leaseSeconds * 1000,
            ':shard': expiryShard(params.runId, params.taskId),
            ':now': now.toISOString(),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'claimed', task: toTaskRecord(parseItem(TaskItemSchema, Attributes, 'task')) };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { outcome: 'not-claimable', current: oldTask(error.Item) };
      throw error;
    }
  }

  /** Extends the lease of a running attempt; `stale` once the attempt lost its lease. */
  async extendLease(params: {
    runId: string;
    taskId: string;
    attempt: number;
    leaseToken: string;
    leaseSeconds: number;
  }): Promise<FencedOutcome> {
    const now = this.now();
    return this.fencedUpdate(params, {
      UpdateExpression: 'SET expiresAt = :expiry, updatedAt = :now',
      ExpressionAttributeValues: { ':expiry': now.getTime() + params.leaseSeconds * 1000, ':now': now.toISOString() },
    });
  }

  /** Saves a running attempt's checkpoint; the next attempt starts from it. */
  async saveCheckpoint(params: {
    runId: string;
    taskId: string;
    attempt: number;
    leaseToken: string;
    checkpoint: unknown;
  }): Promise<FencedOutcome> {
    const checkpointJson = JSON.stringify(params.checkpoint ?? null);
    const bytes = Buffer.byteLength(checkpointJson, 'utf8');
    if (bytes > LIMITS.maxCheckpointBytes) throw new PayloadTooLargeError('checkpoint', bytes, LIMITS.maxCheckpointBytes);
    return this.fencedUpdate(params, {
      UpdateExpression: 'SET checkpointJson = :checkpoint, updatedAt = :now',
      ExpressionAttributeValues: { ':checkpoint': checkpointJson, ':now': this.isoNow() },
    });
  }

  /**
   * Commits the result of a running attempt, fenced by attempt and lease token, and counts the
   * task as finished on its run in the same transaction (failed critical tasks counted apart).
   * A zombie's late commit gets `stale` and changes nothing.
   */
  async commitTaskResult(params: {
    runId: string;
    taskId: string;
    attempt: number;
    leaseToken: string;
    startedAt: string;
    critical: boolean;
    result: TaskResult | { status: 'CANCELLED'; error: TaskError };
    /** The sweeper's fence: only if the lease has expired by then (a heartbeat may have won). */
    leaseExpiredBy?: Date;
  }): Promise<FencedOutcome> {
    const now = this.now();
    const durationMs = Math.max(0, now.getTime() - Date.parse(params.startedAt));
    const outcome =
      params.result.status === 'SUCCEEDED'
        ? { field: 'outputJson', value: outputJson(params.result.output) }
        : { field: 'error', value: params.result.error };
    const attemptRecord = attemptRecordOf(params, now, durationMs, params.result.status, params.result.status === 'SUCCEEDED' ? undefined : params.result.error);
    return this.finishTask({
      runId: params.runId,
      taskId: params.taskId,
      status: params.result.status,
      countsAsCriticalFailure: params.result.status === 'FAILED' && params.critical,
      condition:
        '#status = :running AND attempt = :attempt AND leaseToken = :token' +
        (params.leaseExpiredBy === undefined ? '' : ' AND expiresAt <= :expiredBy'),
      set: '#outcome = :outcome, durationMs = :duration, attempts = list_append(if_not_exists(attempts, :noAttempts), :attemptRecord)',
      // A success drops the last attempt's error: it stays in the attempt list, abridged.
      ...(params.result.status === 'SUCCEEDED' ? { remove: '#error' } : {}),
      names: { '#outcome': outcome.field, ...(params.result.status === 'SUCCEEDED' ? { '#error': 'error' } : {}) },
      values: {
        ...(params.leaseExpiredBy === undefined ? {} : { ':expiredBy': params.leaseExpiredBy.getTime() }),
        ':outcome': outcome.value,
        ':duration': durationMs,
        ':running': 'RUNNING',
        ':attempt': params.attempt,
        ':token': params.leaseToken,
        ':noAttempts': [],
        ':attemptRecord': [attemptRecord],
      },
    });
  }

  /**
   * PENDING -> SKIPPED (its join rule can no longer be met, or its condition is false), counted
   * as finished on the run in the same transaction. `stale` when it is no longer PENDING.
   */
  async skipTask(params: { runId: string; taskId: string; reason: string }): Promise<FencedOutcome> {
    return this.finishTask({
      runId: params.runId,
      taskId: params.taskId,
      status: 'SKIPPED',
      countsAsCriticalFailure: false,
      condition: '#status = :pending',
      set: 'reason = :reason',
      names: {},
      values: { ':pending': 'PENDING', ':reason': params.reason },
    });
  }

  /**
   * A failed attempt that will be retried: RUNNING -> QUEUED for the next attempt (its message is
   * sent with a delay), or WAITING when the backoff is longer than SQS can delay a message and the
   * sweeper must release it. Fenced like a commit; the error is kept as the last error.
   */
  async retryTask(params: {
    runId: string;
    taskId: string;
    attempt: number;
    leaseToken: string;
    startedAt: string;
    error: TaskError;
    /** How the attempt ended: failed (RETRIED) or ran out of time (TIMED_OUT). */
    outcome?: 'RETRIED' | 'TIMED_OUT';
    status: 'QUEUED' | 'WAITING';
    /** When the next attempt may start. */
    dueAt: Date;
    /** The sweeper's fence: only if the lease has expired by then (a heartbeat may have won). */
    leaseExpiredBy?: Date;
  }): Promise<FencedOutcome> {
    const now = this.now();
    const graceMs = params.status === 'QUEUED' ? TIMINGS.deliveryGraceSeconds * 1000 : 0;
    const durationMs = Math.max(0, now.getTime() - Date.parse(params.startedAt));
    return this.fencedUpdate(params, {
      UpdateExpression:
        'SET #status = :next, attempt = :nextAttempt, #error = :error, queuedAt = :now, updatedAt = :now, expiresAt = :due, ' +
        'attempts = list_append(if_not_exists(attempts, :noAttempts), :attemptRecord) REMOVE leaseToken',
      ExpressionAttributeNames: { '#error': 'error' },
      // No retry once the run is being cancelled: the caller records CANCELLED instead.
      extraCondition:
        'attribute_not_exists(cancelRequested)' + (params.leaseExpiredBy === undefined ? '' : ' AND expiresAt <= :expiredBy'),
      ...(params.leaseExpiredBy === undefined ? {} : { extraValues: { ':expiredBy': params.leaseExpiredBy.getTime() } }),
      ExpressionAttributeValues: {
        ':next': params.status,
        ':nextAttempt': params.attempt + 1,
        ':error': params.error,
        ':now': now.toISOString(),
        ':due': params.dueAt.getTime() + graceMs,
        ':noAttempts': [],
        ':attemptRecord': [attemptRecordOf(params, now, durationMs, params.outcome ?? 'RETRIED', params.error)],
      },
    });
  }

  /**
   * A QUEUED task whose delivery deadline passed (its message was lost): pushes the deadline on,
   * only if nobody moved the task meanwhile, so that one sweeper re-sends its message.
   */
  async extendDelivery(params: {
    runId: string;
    taskId: string;
    attempt: number;
    expiresAt: number;
    deliveryTimeoutSeconds: number;
    /** QUEUED (a lost task message) or WAITING (a lost wake-up message of a wait task). */
    status?: 'QUEUED' | 'WAITING';
  }): Promise<FencedOutcome> {
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: 'SET expiresAt = :next, updatedAt = :now',
        ConditionExpression: '#status = :queued AND attempt = :attempt AND expiresAt = :previous',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':next': this.now().getTime() + params.deliveryTimeoutSeconds * 1000,
          ':now': this.isoNow(),
          ':queued': params.status ?? 'QUEUED',
          ':attempt': params.attempt,
          ':previous': params.expiresAt,
        },
      }),
    );
  }

  /**
   * A task whose message SQS dead-lettered: QUEUED or RUNNING (for that attempt) -> FAILED with
   * the reason and the message, so the run goes on instead of hanging.
   */
  async deadLetterTask(params: { runId: string; taskId: string; attempt: number; critical: boolean; error: TaskError }): Promise<FencedOutcome> {
    return this.finishTask({
      runId: params.runId,
      taskId: params.taskId,
      status: 'FAILED',
      countsAsCriticalFailure: params.critical,
      // WAITING: a wait task whose wake-up message was the one dead-lettered.
      condition: '#status IN (:queued, :running, :waiting) AND attempt = :attempt',
      set: '#error = :error',
      names: { '#error': 'error' },
      values: { ':queued': 'QUEUED', ':running': 'RUNNING', ':waiting': 'WAITING', ':attempt': params.attempt, ':error': params.error },
    });
  }

  /**
   * RUNNING or CANCELLING -> COMPENSATING, with one task run per compensation (PENDING, waiting
   * for its blockers) and the run's task count raised by as many: one transaction, conditional on
   * every task being final, so a replayed record cannot start the compensations twice.
   */
  async beginCompensation(params: {
    runId: string;
    workflowId: string;
    version: string;
    from: 'RUNNING' | 'CANCELLING';
    outcome: 'FAILED' | 'CANCELLED';
    /** The run's current generation (resumeCount), stamped on the compensations. */
    generation: number;
    compensations: ReadonlyArray<{ taskId: string; blockers: readonly string[] }>;
  }): Promise<FencedOutcome> {
    if (params.compensations.length > MAX_TRANSACTION_ITEMS - 1) {
      throw new EngineError('TOO_MANY_COMPENSATIONS', `a run can compensate at most ${MAX_TRANSACTION_ITEMS - 1} tasks`);
    }
    const now = this.isoNow();
    try {
      await this.transactWithConflictRetry({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: keys.run(params.runId),
              // Compensations are counted apart from the definition's tasks (taskCount stays what it says).
              UpdateExpression:
                'SET #status = :compensating, compensationOutcome = :outcome, updatedAt = :now, compensationCount = :n, compensationsFinished = :zero',
              ConditionExpression: '#status = :from AND finishedCount >= taskCount',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: {
                ':compensating': 'COMPENSATING',
                ':outcome': params.outcome,
                ':now': now,
                ':n': params.compensations.length,
                ':zero': 0,
                ':from': params.from,
              },
            },
          },
          ...params.compensations.map((compensation) => ({
            Put: {
              TableName: this.tableName,
              Item: {
                ...this.pendingTaskItem(params.runId, params, compensation.taskId, now, params.generation),
                blockers: [...compensation.blockers],
              },
            },
          })),
        ],
      });
      return { outcome: 'ok' };
    } catch (error) {
      if (cancellationCode(error, 0) === 'ConditionalCheckFailed') return { outcome: 'stale', current: undefined };
      throw error;
    }
  }

  /**
   * Ends a run exactly once: RUNNING -> COMPLETED or FAILED, CANCELLING -> CANCELLED (or, with
   * `from`, any other legal move). `stale` if the run was no longer in `from`.
   */
  async finishRun(params: {
    runId: string;
    status: 'COMPLETED' | 'FAILED' | 'CANCELLED';
    from?: RunStatus;
    error?: TaskError;
  }): Promise<FencedOutcome> {
    const now = this.isoNow();
    const from = params.from ?? (params.status === 'CANCELLED' ? 'CANCELLING' : 'RUNNING');
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.run(params.runId),
        UpdateExpression:
          params.error === undefined
            ? 'SET #status = :final, completedAt = :now, updatedAt = :now REMOVE expiresAt, expiryShard'
            : 'SET #status = :final, completedAt = :now, updatedAt = :now, #error = :error REMOVE expiresAt, expiryShard',
        // Every task must be final (and none critically failed, to complete): a replayed record
        // of an earlier phase of a resumed run cannot end it.
        ConditionExpression:
          (from === 'COMPENSATING' ? '#status = :from AND compensationsFinished >= compensationCount' : '#status = :from AND finishedCount >= taskCount') +
          (params.status === 'COMPLETED' ? ' AND failedCriticalCount = :zero' : ''),
        ExpressionAttributeNames: { '#status': 'status', ...(params.error === undefined ? {} : { '#error': 'error' }) },
        ExpressionAttributeValues: {
          ...(params.status === 'COMPLETED' ? { ':zero': 0 } : {}),
          ':final': params.status,
          ':now': now,
          ':from': from,
          ...(params.error === undefined ? {} : { ':error': params.error }),
        },
      }),
    );
  }

  /**
   * RUNNING -> CANCELLING. Returns the run as it was: a run already CANCELLING is left as it is
   * (a repeated cancel is accepted), a final run is refused by the caller with 409.
   */
  async requestCancel(
    runId: string,
    reason: string,
    /** How the run ends once stopped: CANCELLED on request, FAILED when it passed its deadline. */
    outcome: 'CANCELLED' | 'FAILED' = 'CANCELLED',
  ): Promise<{ outcome: 'cancelling' } | { outcome: 'refused'; run: RunRecord | undefined }> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.run(runId),
          UpdateExpression: 'SET #status = :cancelling, updatedAt = :now, cancelReason = :reason, cancelOutcome = :outcome',
          ConditionExpression: '#status = :running',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':cancelling': 'CANCELLING',
            ':running': 'RUNNING',
            ':now': this.isoNow(),
            ':reason': reason,
            ':outcome': outcome,
          },
        }),
      );
      return { outcome: 'cancelling' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const run = await this.getRun(runId);
      return run?.status === 'CANCELLING' ? { outcome: 'cancelling' } : { outcome: 'refused', run };
    }
  }

  /** A task that has not started (PENDING, QUEUED, WAITING) -> CANCELLED, counted as finished. */
  async cancelTask(params: { runId: string; taskId: string; reason: string }): Promise<FencedOutcome> {
    return this.finishTask({
      runId: params.runId,
      taskId: params.taskId,
      status: 'CANCELLED',
      countsAsCriticalFailure: false,
      condition: '#status IN (:pending, :queued, :waiting)',
      set: 'reason = :reason',
      names: {},
      values: { ':pending': 'PENDING', ':queued': 'QUEUED', ':waiting': 'WAITING', ':reason': params.reason },
      runStatus: 'CANCELLING',
    });
  }

  /** Asks a RUNNING task's worker to stop: it polls this flag and fires the attempt's signal. */
  async requestTaskCancel(runId: string, taskId: string): Promise<FencedOutcome> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: keys.task(runId, taskId),
                UpdateExpression: 'SET cancelRequested = :true, updatedAt = :now',
                ConditionExpression: '#status = :running',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':true': true, ':running': 'RUNNING', ':now': this.isoNow() },
              },
            },
            {
              // Only while the run is being cancelled: a replayed record of an earlier cancel
              // must not stop a task of the resumed run.
              ConditionCheck: {
                TableName: this.tableName,
                Key: keys.run(runId),
                ConditionExpression: '#status = :cancelling',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':cancelling': 'CANCELLING' },
              },
            },
          ],
        }),
      );
      return { outcome: 'ok' };
    } catch (error) {
      if (error instanceof TransactionCanceledException) return { outcome: 'stale', current: undefined };
      throw error;
    }
  }


  /**
   * First step of resuming a FAILED or CANCELLED run: -> RESUMING, which holds every executor
   * back while tasks are reset. A run already RESUMING (a resume that died half-way, or one in
   * progress) may be continued: every step after this one is idempotent.
   */
  async beginResume(runId: string): Promise<{ outcome: 'resuming' } | { outcome: 'refused'; run: RunRecord | undefined }> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.run(runId),
          UpdateExpression: 'SET #status = :resuming, updatedAt = :now',
          ConditionExpression: '#status IN (:failed, :cancelled, :resuming)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':resuming': 'RESUMING', ':failed': 'FAILED', ':cancelled': 'CANCELLED', ':now': this.isoNow() },
        }),
      );
      return { outcome: 'resuming' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { outcome: 'refused', run: await this.getRun(runId) };
    }
  }

  /**
   * Resets FAILED, SKIPPED and CANCELLED tasks of a RESUMING run to PENDING, keeping their
   * attempt count (retries count again from here) and recording which dependencies already
   * SUCCEEDED. Each reset is guarded by the run still being RESUMING.
   */
  async resetTasksForResume(
    runId: string,
    generation: number,
    resets: ReadonlyArray<{ taskId: string; succeededDependencies: readonly string[]; newIdempotencyKey: boolean }>,
  ): Promise<FencedOutcome> {
    const now = this.isoNow();
    const perTransaction = MAX_TRANSACTION_ITEMS - 1;
    for (let i = 0; i < resets.length; i += perTransaction) {
      const chunk = resets.slice(i, i + perTransaction);
      const done = await this.transactWithConflictRetry({
        TransactItems: [
          {
            ConditionCheck: {
              TableName: this.tableName,
              Key: keys.run(runId),
              ConditionExpression: '#status = :resuming',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':resuming': 'RESUMING' },
            },
          },
          ...chunk.map((reset) => ({
            Update: {
              TableName: this.tableName,
              Key: keys.task(runId, reset.taskId),
              UpdateExpression:
                'SET #status = :pending, attemptBase = attempt, generation = :generation, updatedAt = :now' +
                (reset.newIdempotencyKey ? ', keyGeneration = :generation' : '') +
                (reset.succeededDependencies.length > 0 ? ', depsSucceeded = :succeeded' : '') +
                ' REMOVE #error, reason, completedAt, durationMs, cancelRequested, leaseToken, expiresAt, expiryShard, depsFailed, depsSkipped, depsCancelled' +
                (reset.succeededDependencies.length > 0 ? '' : ', depsSucceeded'),
              // SUCCEEDED too: a task whose work a compensation undid runs again.
              ConditionExpression: '#status IN (:pending, :failed, :skipped, :cancelled, :succeededStatus)',
              ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
              ExpressionAttributeValues: {
                ':generation': generation,
                ':succeededStatus': 'SUCCEEDED',
                ':pending': 'PENDING',
                ':failed': 'FAILED',
                ':skipped': 'SKIPPED',
                ':cancelled': 'CANCELLED',
                ':now': now,
                ...(reset.succeededDependencies.length > 0 ? { ':succeeded': new Set(reset.succeededDependencies) } : {}),
              },
            },
          })),
        ],
      }).then(
        () => true,
        (error: unknown) => {
          // The run is no longer RESUMING: another request finished this resume.
          if (cancellationCode(error, 0) === 'ConditionalCheckFailed') return false;
          throw error;
        },
      );
      if (!done) return { outcome: 'stale', current: undefined };
    }
    return { outcome: 'ok' };
  }

  /** Last step of a resume: RESUMING -> RUNNING with the counters of the reset run. */
  async finishResume(runId: string, succeededCount: number, taskCount: number, timeoutSeconds?: number): Promise<FencedOutcome> {
    const now = this.isoNow();
    // A resumed run is checked again, and gets a fresh deadline counted from the resume.
    const check = this.runCheck(runId, this.now().getTime(), timeoutSeconds);
    const deadline = ', expiresAt = :check, expiryShard = :shard' + (check.deadlineAt === undefined ? '' : ', deadlineAt = :deadline');
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.run(runId),
        UpdateExpression:
          `SET #status = :running, finishedCount = :succeeded, taskCount = :taskCount, failedCriticalCount = :zero, resumedAt = :now, updatedAt = :now${deadline} ` +
          'ADD resumeCount :one REMOVE completedAt, #error, cancelReason, cancelOutcome, compensationOutcome, compensationCount, compensationsFinished, failedCritical' +
          (check.deadlineAt === undefined ? ', deadlineAt' : ''),
        ConditionExpression: '#status = :resuming',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':running': 'RUNNING',
          ':resuming': 'RESUMING',
          ':succeeded': succeededCount,
          ':taskCount': taskCount,
          ':check': check.expiresAt,
          ':shard': check.expiryShard,
          ...(check.deadlineAt === undefined ? {} : { ':deadline': check.deadlineAt }),
          ':zero': 0,
          ':one': 1,
          ':now': now,
        },
      }),
    );
  }

  /** The status and output of some tasks of a run (a task's upstream), in one or a few batch reads. */
  async getTaskOutputs(runId: string, taskIds: readonly string[]): Promise<Record<string, { status: TaskStatus; output?: unknown }>> {
    const result: Record<string, { status: TaskStatus; output?: unknown }> = {};
    for (let i = 0; i < taskIds.length; i += BATCH_GET_SIZE) {
      let requestKeys: Array<Record<string, unknown>> = taskIds.slice(i, i + BATCH_GET_SIZE).map((taskId) => keys.task(runId, taskId));
      for (let attempt = 1; requestKeys.length > 0; attempt++) {
        const page = await this.client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: requestKeys,
                ConsistentRead: true,
                ProjectionExpression: 'taskId, #status, outputJson',
                ExpressionAttributeNames: { '#status': 'status' },
              },
            },
          }),
        );
        for (const item of page.Responses?.[this.tableName] ?? []) {
          const task = parseItem(TaskItemSchema.pick({ taskId: true, status: true, outputJson: true }), item, 'task');
          result[task.taskId] = withoutUndefined({
            status: task.status,
            output: task.outputJson === undefined ? undefined : (JSON.parse(task.outputJson) as unknown),
          });
        }
        requestKeys = page.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        if (requestKeys.length > 0) {
          if (attempt >= 10) throw new EngineError('THROTTLED', 'batch get kept returning unprocessed keys', { retryable: true });
          await sleep(Math.random() * 25 * 2 ** attempt);
        }
      }
    }
    return result;
  }

  /**
   * Records that a dependency of `taskId` reached a final state. A string-set ADD, so a replayed
   * stream record changes nothing; returns the dependent as it now stands, for the join decision.
   */
  async recordDependencyOutcome(params: {
    runId: string;
    taskId: string;
    dependencyId: string;
    dependencyStatus: 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';
    /** The changed task's generation: the dependent must be of the same phase of the run. */
    generation: number;
  }): Promise<TaskRecord | undefined> {
    const attribute = DEPENDENCY_SET[params.dependencyStatus];
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression: `ADD ${attribute} :dependency`,
          ConditionExpression: 'attribute_exists(pk) AND generation = :generation',
          ExpressionAttributeValues: { ':dependency': new Set([params.dependencyId]), ':generation': params.generation },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toTaskRecord(parseItem(TaskItemSchema, Attributes, 'task'));
    } catch (error) {
      // No such dependent (a compensation that was not planned), or one of another phase of the run.
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * Tasks whose lease, delivery deadline or timer is due at `now`, from the sparse expiry index
   * (a query per shard, never a scan), earliest first.
   */
  async queryDueTasks(params: { now?: Date; limit?: number } = {}): Promise<DueTask[]> {
    return (await this.queryDue(params)).flatMap((due) => (due.kind === 'task' ? [due.task] : []));
  }

  /** Tasks and runs whose deadline has passed: both kinds carry their deadline in the index. */
  async queryDue(params: { now?: Date; limit?: number } = {}): Promise<DueItem[]> {
    const index = TABLE.indexes.expiries;
    const now = (params.now ?? this.now()).getTime();
    const limit = params.limit ?? 100;
    const shards = Array.from({ length: index.shardCount }, (_, i) => `EXP#${i}`);
    const pages = await Promise.all(
      shards.map((shard) =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: index.name,
            KeyConditionExpression: `${index.partitionKey} = :shard AND ${index.sortKey} <= :now`,
            ExpressionAttributeValues: { ':shard': shard, ':now': now },
            Limit: limit,
          }),
        ),
      ),
    );
    return pages
      .flatMap((page) => page.Items ?? [])
      .map(toDueItem)
      .sort((a, b) => dueAt(a) - dueAt(b))
      .slice(0, limit);
  }


  /**
   * Every item of the expiry index due by `until`, page by page, shard by shard: for a pass that
   * must see them all (the local runtime's recovery after a restart), unlike `queryDue`'s sample.
   */
  async *allDue(until: Date): AsyncGenerator<DueItem[]> {
    const index = TABLE.indexes.expiries;
    for (let shard = 0; shard < index.shardCount; shard++) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: index.name,
            KeyConditionExpression: `${index.partitionKey} = :shard AND ${index.sortKey} <= :until`,
            ExpressionAttributeValues: { ':shard': `EXP#${shard}`, ':until': until.getTime() },
            ExclusiveStartKey: startKey,
          }),
        );
        yield (page.Items ?? []).map(toDueItem);
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
    }
  }

  // ---- internals ---------------------------------------------------------------------------

  private async createRunAtomically(params: CreateRunParams, inputJson: string): Promise<CreateRunResult> {
    const now = this.isoNow();
    const { definition } = params;
    const transactItems: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.tableName,
          Item: this.runItem(params, inputJson, now, 'RUNNING'),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      ...definition.definition.tasks.map((task) => ({
        Put: { TableName: this.tableName, Item: this.pendingTaskItem(params.runId, definition, task.id, now) },
      })),
    ];
    const idempotencyIndex = transactItems.length;
    if (params.idempotency !== undefined) {
      transactItems.push({
        Put: {
          TableName: this.tableName,
          Item: this.idempotencyItem(params, now),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      });
    }
    try {
      await this.transactWithConflictRetry({ TransactItems: transactItems });
      return { runId: params.runId, created: true };
    } catch (error) {
      if (params.idempotency !== undefined && cancellationCode(error, idempotencyIndex) === 'ConditionalCheckFailed') {
        const existing = parseItem(IdempotencyItemSchema, unmarshallItem(cancellationItem(error, idempotencyIndex)), 'idempotency');
        assertSameRequest(existing.requestHash, params.idempotency);
        return { runId: existing.runId, created: false };
      }
      throw error;
    }
  }

  private async createRunInStages(params: CreateRunParams, inputJson: string): Promise<CreateRunResult> {
    let runId = params.runId;
    let definition = params.definition;
    let resuming = false;
    if (params.idempotency !== undefined) {
      const existing = await this.putIdempotencyRecord(params);
      if (existing !== undefined) {
        assertSameRequest(existing.requestHash, params.idempotency);
        runId = existing.runId;
        resuming = true;
        if (existing.version !== definition.version) {
          const pinned = await this.getDefinition(existing.workflowId, existing.version);
          if (pinned === undefined) throw new EngineError('INTERNAL', `definition ${existing.workflowId}@${existing.version} is missing`);
          definition = pinned;
        }
      }
    }
    const staged = { ...params, runId, definition };
    const creationToken = randomUUID();
    const acquired = resuming
      ? await this.takeOverCreation(staged, inputJson, creationToken)
      : await this.beginCreation(staged, inputJson, creationToken);
    if (!acquired) return { runId, created: false };

    const now = this.isoNow();
    const taskItems = definition.definition.tasks.map((task) => this.pendingTaskItem(runId, definition, task.id, now));
    await this.batchPut(taskItems);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.run(runId),
          UpdateExpression:
            'SET #status = :running, updatedAt = :now, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk REMOVE creationToken, creationExpiresAt',
          ConditionExpression: '#status = :creating AND creationToken = :token',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'RUNNING',
            ':creating': 'CREATING',
            ':token': creationToken,
            ':now': this.isoNow(),
            ':gsi1pk': keys.runsByWorkflow(definition.workflowId),
            ':gsi1sk': keys.runsByWorkflowSort(now, runId),
          },
        }),
      );
    } catch (error) {
      // Another request took the creation over after our lease ran out: it finishes the job.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    return { runId, created: !resuming };
  }

  /** Returns the existing record when the key was already used. */
  private async putIdempotencyRecord(params: CreateRunParams): Promise<ReturnType<typeof IdempotencyItemSchema.parse> | undefined> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.idempotencyItem(params, this.isoNow()),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return parseItem(IdempotencyItemSchema, unmarshallItem(error.Item), 'idempotency');
      }
      throw error;
    }
  }

  private async beginCreation(params: CreateRunParams, inputJson: string, creationToken: string): Promise<boolean> {
    const now = this.isoNow();
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.runItem(params, inputJson, now, 'CREATING'),
            creationToken,
            creationExpiresAt: this.now().getTime() + CREATION_LEASE_MS,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Takes over a creation whose writer died (lease expired), or starts one that never began. */
  private async takeOverCreation(params: CreateRunParams, inputJson: string, creationToken: string): Promise<boolean> {
    const current = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.run(params.runId), ConsistentRead: true }),
    );
    if (current.Item === undefined) return this.beginCreation(params, inputJson, creationToken);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.run(params.runId),
          UpdateExpression: 'SET creationToken = :token, creationExpiresAt = :expiry',
          ConditionExpression: '#status = :creating AND creationExpiresAt < :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':token': creationToken,
            ':expiry': this.now().getTime() + CREATION_LEASE_MS,
            ':creating': 'CREATING',
            ':now': this.now().getTime(),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private runItem(params: CreateRunParams, inputJson: string, now: string, status: 'RUNNING' | 'CREATING') {
    const { workflowId, version, definition } = params.definition;
    return {
      ...keys.run(params.runId),
      kind: 'run',
      runId: params.runId,
      workflowId,
      version,
      status,
      inputJson,
      createdAt: now,
      startedAt: now,
      updatedAt: now,
      taskCount: definition.tasks.length,
      finishedCount: 0,
      failedCriticalCount: 0,
      ...(params.idempotency === undefined ? {} : { idempotencyKey: params.idempotency.key }),
      // An unfinished run waits in the expiry index for the sweeper's next check of it (or its
      // deadline, if sooner), like a lease.
      ...this.runCheck(params.runId, Date.parse(now), definition.timeoutSeconds),
      // Only a visible run is listed: the index keys are set once it is RUNNING.
      ...(status === 'RUNNING'
        ? { gsi1pk: keys.runsByWorkflow(workflowId), gsi1sk: keys.runsByWorkflowSort(now, params.runId) }
        : {}),
    };
  }

  /** The expiry-index attributes of an unfinished run: its next check, or its deadline if sooner. */
  private runCheck(runId: string, from: number, timeoutSeconds: number | undefined) {
    const deadlineAt = timeoutSeconds === undefined ? undefined : from + timeoutSeconds * 1000;
    const nextCheck = from + this.reconcileIntervalMs;
    return {
      expiryShard: expiryShard(runId, 'RUN'),
      expiresAt: deadlineAt === undefined ? nextCheck : Math.min(deadlineAt, nextCheck),
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
    };
  }

  private pendingTaskItem(runId: string, definition: { workflowId: string; version: string }, taskId: string, now: string, generation = 0) {
    const { workflowId, version } = definition;
    return { ...keys.task(runId, taskId), kind: 'task', runId, taskId, workflowId, version, status: 'PENDING', attempt: 0, generation, updatedAt: now };
  }

  private idempotencyItem(params: CreateRunParams, now: string) {
    if (params.idempotency === undefined) throw new Error('idempotencyItem needs an idempotency key');
    return {
      ...keys.idempotency(params.idempotency.key),
      kind: 'idempotency',
      runId: params.runId,
      requestHash: params.idempotency.requestFingerprint,
      workflowId: params.definition.workflowId,
      version: params.definition.version,
      createdAt: now,
      [TABLE.ttlAttribute]: Math.floor(this.now().getTime() / 1000) + IDEMPOTENCY_TTL_SECONDS,
    };
  }

  private latestPointerUpdate(definition: WorkflowDefinition, version: string, now: string) {
    return {
      TableName: this.tableName,
      Key: keys.workflowEntry(definition.id),
      UpdateExpression:
        definition.description === undefined
          ? 'SET workflowId = :id, latestVersion = :version, updatedAt = :now, createdAt = if_not_exists(createdAt, :now) REMOVE description'
          : 'SET workflowId = :id, latestVersion = :version, updatedAt = :now, createdAt = if_not_exists(createdAt, :now), description = :description',
      ExpressionAttributeValues: {
        ':id': definition.id,
        ':version': version,
        ':now': now,
        ...(definition.description === undefined ? {} : { ':description': definition.description }),
      },
    };
  }

  /**
   * Moves a task into a final state and counts it as finished on its run, in one transaction, so
   * the run's count is exact however often the move is attempted (docs/architecture.md, invariants).
   */
  private async finishTask(params: {
    runId: string;
    taskId: string;
    status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';
    /** A critical task's final failure: counted apart, and named on the run for its error. */
    countsAsCriticalFailure: boolean;
    condition: string;
    set: string;
    /** Attributes to drop besides the lease (e.g. the last error, on success). */
    remove?: string;
    names: Record<string, string>;
    values: Record<string, unknown>;
    /** Only while the run is in this status (a replayed record of an earlier phase changes nothing). */
    runStatus?: RunStatus;
  }): Promise<FencedOutcome> {
    const now = this.isoNow();
    const counter = compensatedTaskId(params.taskId) === undefined ? 'finishedCount' : 'compensationsFinished';
    const transaction: TransactWriteCommandInput = {
      TransactItems: [
        {
          Update: {
            TableName: this.tableName,
            Key: keys.task(params.runId, params.taskId),
            UpdateExpression: `SET #status = :final, completedAt = :now, updatedAt = :now, ${params.set} REMOVE leaseToken, expiresAt, expiryShard${params.remove === undefined ? '' : `, ${params.remove}`}`,
            ConditionExpression: params.condition,
            ExpressionAttributeNames: { '#status': 'status', ...params.names },
            ExpressionAttributeValues: { ...params.values, ':final': params.status, ':now': now },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
        {
          Update: {
            TableName: this.tableName,
            Key: keys.run(params.runId),
            UpdateExpression: params.countsAsCriticalFailure
              ? `ADD ${counter} :one, failedCriticalCount :one, failedCritical :taskIds SET updatedAt = :now`
              : `ADD ${counter} :one SET updatedAt = :now`,
            ConditionExpression: params.runStatus === undefined ? 'attribute_exists(pk)' : '#status = :runStatus',
            ...(params.runStatus === undefined ? {} : { ExpressionAttributeNames: { '#status': 'status' } }),
            ExpressionAttributeValues: {
              ':one': 1,
              ':now': now,
              ...(params.countsAsCriticalFailure ? { ':taskIds': new Set([params.taskId]) } : {}),
              ...(params.runStatus === undefined ? {} : { ':runStatus': params.runStatus }),
            },
          },
        },
      ],
    };
    try {
      await this.transactWithConflictRetry(transaction);
      return { outcome: 'ok' };
    } catch (error) {
      if (cancellationCode(error, 0) === 'ConditionalCheckFailed') {
        return { outcome: 'stale', current: oldTask(cancellationItem(error, 0)) };
      }
      if (cancellationCode(error, 1) === 'ConditionalCheckFailed') return { outcome: 'stale', current: undefined };
      throw error;
    }
  }

  private async fencedUpdate(
    params: { runId: string; taskId: string; attempt: number; leaseToken: string },
    update: {
      UpdateExpression: string;
      ExpressionAttributeValues: Record<string, unknown>;
      ExpressionAttributeNames?: Record<string, string>;
      extraCondition?: string;
      extraValues?: Record<string, unknown>;
    },
  ): Promise<FencedOutcome> {
    return this.conditionalWrite(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: update.UpdateExpression,
        ConditionExpression:
          '#status = :running AND attempt = :attempt AND leaseToken = :token' +
          (update.extraCondition === undefined ? '' : ` AND ${update.extraCondition}`),
        ExpressionAttributeNames: { '#status': 'status', ...update.ExpressionAttributeNames },
        ExpressionAttributeValues: {
          ...update.ExpressionAttributeValues,
          ...update.extraValues,
          ':running': 'RUNNING',
          ':attempt': params.attempt,
          ':token': params.leaseToken,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  }

  /**
   * One conditional write: `ok`, or `stale` (with the task as it was, when the write asked for
   * ALL_OLD) when its condition failed. The SDK's ConditionalCheckFailedException never escapes.
   */
  private async conditionalWrite(command: UpdateCommand): Promise<FencedOutcome> {
    try {
      await this.client.send(command);
      return { outcome: 'ok' };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { outcome: 'stale', current: oldTask(error.Item) };
      throw error;
    }
  }

  /** Transactions touching a busy run item can lose to a concurrent one; they are simply retried. */
  private async transactWithConflictRetry(input: TransactWriteCommandInput): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new TransactWriteCommand(input));
        return;
      } catch (error) {
        const conflicted =
          error instanceof TransactionCanceledException &&
          (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict');
        if (!conflicted || attempt >= TRANSACTION_CONFLICT_ATTEMPTS) throw error;
        await sleep(Math.random() * 20 * 2 ** attempt);
      }
    }
  }

  private async batchPut(items: Array<Record<string, unknown>>): Promise<void> {
    const chunks: Array<Array<Record<string, unknown>>> = [];
    for (let i = 0; i < items.length; i += BATCH_WRITE_SIZE) chunks.push(items.slice(i, i + BATCH_WRITE_SIZE));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++];
        if (chunk !== undefined) await this.batchPutChunk(chunk);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_WRITE_CONCURRENCY, chunks.length) }, worker));
  }

  private async batchPutChunk(items: Array<Record<string, unknown>>): Promise<void> {
    let requests = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      const { UnprocessedItems } = await this.client.send(
        new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
      );
      requests = (UnprocessedItems?.[this.tableName] ?? []) as typeof requests;
      if (requests.length > 0) {
        if (attempt >= 10) throw new EngineError('THROTTLED', 'batch write kept returning unprocessed items', { retryable: true });
        await sleep(Math.random() * 25 * 2 ** attempt);
      }
    }
  }

  private async queryAll(
    query: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName' | 'ExclusiveStartKey'>,
  ): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(new QueryCommand({ ...query, TableName: this.tableName, ExclusiveStartKey: startKey }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }

  private isoNow(): string {
    return this.now().toISOString();
  }
}

const DEPENDENCY_SET = {
  SUCCEEDED: 'depsSucceeded',
  FAILED: 'depsFailed',
  SKIPPED: 'depsSkipped',
  CANCELLED: 'depsCancelled',
} as const;

/** Errors in the attempt list are abridged: the item must stay small however many retries. */
const ATTEMPT_ERROR_MESSAGE_CHARS = 512;

function attemptRecordOf(
  params: { attempt: number; startedAt: string },
  now: Date,
  durationMs: number,
  outcome: AttemptRecord['outcome'],
  error: TaskError | undefined,
): AttemptRecord {
  return withoutUndefined({
    attempt: params.attempt,
    startedAt: params.startedAt,
    completedAt: now.toISOString(),
    durationMs,
    outcome,
    error:
      error === undefined
        ? undefined
        : { name: error.name, message: error.message.slice(0, ATTEMPT_ERROR_MESSAGE_CHARS), retryable: error.retryable },
  });
}

function outputJson(output: unknown): string {
  const json = JSON.stringify(output ?? null);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > LIMITS.maxOutputBytes) throw new PayloadTooLargeError('task output', bytes, LIMITS.maxOutputBytes);
  return json;
}

function assertSameRequest(storedHash: string, idempotency: { key: string; requestFingerprint: string }): void {
  if (storedHash !== idempotency.requestFingerprint) {
    throw new ConflictError(`Idempotency-Key "${idempotency.key}" was already used for a different request`, {
      idempotencyKey: idempotency.key,
    });
  }
}

function cancellationCode(error: unknown, index: number): string | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  return error.CancellationReasons?.[index]?.Code;
}

function cancellationItem(error: unknown, index: number): Record<string, AttributeValue> | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  return error.CancellationReasons?.[index]?.Item;
}

function unmarshallItem(item: Record<string, AttributeValue> | undefined): Record<string, unknown> | undefined {
  return item === undefined ? undefined : unmarshall(item);
}

function oldTask(item: Record<string, AttributeValue> | undefined): TaskRecord | undefined {
  const plain = unmarshallItem(item);
  return plain === undefined ? undefined : toTaskRecord(parseItem(TaskItemSchema, plain, 'task'));
}

function toStoredDefinition(item: Record<string, unknown>): StoredDefinition {
  const stored = parseItem(DefinitionItemSchema, item, 'definition');
  return {
    workflowId: stored.workflowId,
    version: stored.version,
    definition: WorkflowDefinitionSchema.parse(JSON.parse(stored.definitionJson)),
    createdAt: stored.createdAt,
  };
}

function toWorkflowSummary(item: Record<string, unknown>): WorkflowSummary {
  return withoutUndefined(parseItem(WorkflowEntryItemSchema, item, 'workflow'));
}

function toRunRecord(item: RunItem): RunRecord {
  const { inputJson, outputJson: output, status, ...rest } = item;
  if (status === 'CREATING') throw new Error(`run ${item.runId} is still being created`);
  return withoutUndefined({
    ...rest,
    status: status === 'RESUMING' ? 'RUNNING' : status,
    input: JSON.parse(inputJson) as unknown,
    output: output === undefined ? undefined : (JSON.parse(output) as unknown),
  });
}

function toRunSummary(item: Record<string, unknown>): RunSummary {
  const summary = parseItem(RunSummaryItemSchema, item, 'run summary');
  if (summary.status === 'CREATING') throw new Error(`run ${summary.runId} is listed while being created`);
  return withoutUndefined({ ...summary, status: summary.status === 'RESUMING' ? 'RUNNING' : summary.status });
}

function toTaskRecord(item: TaskItem): TaskRecord {
  const { outputJson: output, checkpointJson, depsSucceeded, depsFailed, depsSkipped, depsCancelled, attempts, attemptBase, cancelRequested, generation, ...rest } =
    item;
  return withoutUndefined({
    ...rest,
    attempts: attempts ?? [],
    generation: generation ?? 0,
    attemptBase: attemptBase ?? 0,
    cancelRequested: cancelRequested ?? false,
    output: output === undefined ? undefined : (JSON.parse(output) as unknown),
    checkpoint: checkpointJson === undefined ? undefined : (JSON.parse(checkpointJson) as unknown),
    dependencies: { succeeded: depsSucceeded, failed: depsFailed, skipped: depsSkipped, cancelled: depsCancelled },
  });
}

function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * The keys a page of the runs index ends on, in exactly the shape the store writes them: a crafted
 * token with other values would otherwise reach DynamoDB and fail there (a 500, not a 400).
 */
const RUN_ID = '[A-Za-z0-9][A-Za-z0-9_-]{0,63}';
const RunsPageKeySchema = z.strictObject({
  pk: z.string().regex(new RegExp(`^RUN#${RUN_ID}$`)),
  sk: z.literal('RUN'),
  gsi1pk: z.string().regex(/^WF#[A-Za-z][A-Za-z0-9_-]{0,79}$/),
  gsi1sk: z.string().regex(new RegExp(`^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z#${RUN_ID}$`)),
});

/** A token is only accepted for the listing that produced it, and only in the shape it had. */
function decodeToken(token: string, partitionAttribute: string, partition: string): Record<string, unknown> {
  try {
    const parsed = RunsPageKeySchema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (parsed.success && (parsed.data as Record<string, unknown>)[partitionAttribute] === partition) {
      return parsed.data;
    }
  } catch {
    // fall through to the validation error below
  }
  throw new ValidationError([{ path: 'nextToken', message: 'nextToken is not a token this API returned' }]);
}

/** Drops keys whose value is undefined, so records compare and serialize cleanly. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
