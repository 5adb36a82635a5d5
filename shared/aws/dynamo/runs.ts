// Runs in the table: the run item (small: status, phase, completion groups, deadlines; never the
// input, which has an item of its own, written once), the idempotency record, the phase archives.
// Every state change is a conditional UpdateItem whose condition comes from RUN_MOVES.
import * as z from 'zod';
import { TABLE } from '../../config/table-schema.js';
import { TIMINGS } from '../../config/settings.js';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../../model/errors.js';
import { RUN_MOVES, visibleRunStatus } from '../../model/transitions.js';
import type { RunStatus, StoredRunStatus } from '../../model/states.js';
import type { TaskError } from '../../model/task-error.js';
import { PAYLOAD_KEYS, payloadLimits, type PayloadRef, type PayloadStore } from '../../engine/payloads.js';
import type { CreateRunParams, Outcome, RunStore, RunSummary } from '../../engine/ports.js';
import type { PhaseSummary, RunRecord, StoredDefinition } from '../../engine/records.js';
import { IdempotencyItemSchema, RunSummaryItemSchema, parseItem, toPhaseSummary, toRunRecord, withoutUndefined } from './items.js';
import { PHASE_PREFIX, RUNS_SORT_KEY, RUN_ID_PATTERN, expiryShard, keys, runPartition } from './keys.js';
import { listRecentRuns, statusFilter } from './runs-by-time.js';
import type { Item, Table } from './table.js';

const DAY_SECONDS = 86_400;
/** Idempotency keys are kept this long (as API idempotency keys usually are: a day or more). */
const IDEMPOTENCY_TTL_SECONDS = 7 * DAY_SECONDS;
/** Failed tasks named on the run per completion group (the rest are counted). */
const NAMED_PER_GROUP = 3;

export interface RunStoreOptions {
  now: () => Date;
  newToken: () => string;
  /** Days a finished run is kept (DynamoDB's TTL deletes it after). */
  retentionDays?: number;
  /** Where inputs over the inline limit go (without it, an input must fit in its item). */
  payloads?: PayloadStore;
  /** Reads a definition version (a repeated Idempotency-Key may pin another than the latest). */
  getDefinition: (workflowId: string, version: string) => Promise<StoredDefinition | undefined>;
}

export class DynamoRunStore implements RunStore {
  private readonly retentionSeconds: number;

  constructor(
    private readonly table: Table,
    private readonly options: RunStoreOptions,
  ) {
    this.retentionSeconds = (options.retentionDays ?? TIMINGS.retentionDays) * DAY_SECONDS;
  }

  /**
   * Creates a run: its idempotency record (when keyed), its input, then the run item, each write
   * safe to repeat. A repeated key finds its record and makes sure its run exists, with the
   * version it pinned; `created` is true only for the call whose write made the run.
   */
  async createRun(params: CreateRunParams): Promise<{ runId: string; created: boolean }> {
    const inputJson = JSON.stringify(params.input ?? null);
    const bytes = Buffer.byteLength(inputJson, 'utf8');
    const limits = payloadLimits(this.options.payloads);
    if (bytes > limits.maxInputBytes) throw new PayloadTooLargeError('run input', bytes, limits.maxInputBytes);
    const now = this.options.now();
    let runId = params.runId;
    let definition = params.definition;
    if (params.idempotency !== undefined) {
      const recorded = await this.table.put(
        {
          Item: {
            ...keys.idempotency(params.idempotency.key),
            kind: 'idempotency',
            runId,
            requestHash: params.idempotency.requestFingerprint,
            workflowId: definition.workflowId,
            version: definition.version,
            createdAt: now.toISOString(),
            [TABLE.ttlAttribute]: Math.floor(now.getTime() / 1000) + IDEMPOTENCY_TTL_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
        this.options.newToken(),
      );
      if (!recorded.applied) {
        const existing = parseItem(IdempotencyItemSchema, recorded.item, 'idempotency');
        if (existing.requestHash !== params.idempotency.requestFingerprint) {
          throw new ConflictError(`Idempotency-Key "${params.idempotency.key}" was already used for a different request`, {
            idempotencyKey: params.idempotency.key,
          });
        }
        runId = existing.runId;
        if (existing.version !== definition.version) {
          const pinned = await this.options.getDefinition(existing.workflowId, existing.version);
          if (pinned === undefined) throw new Error(`definition ${existing.workflowId}@${existing.version} is missing`);
          definition = pinned;
        }
      }
    }
    const itemTtl = this.itemTtl(now);
    // A large input is an object of its own (written first: the item that refers to it comes after).
    const payloads = bytes > limits.inlineBytes ? this.options.payloads : undefined;
    if (payloads !== undefined) await payloads.put(PAYLOAD_KEYS.input(runId), inputJson);
    const input = payloads === undefined ? { inputJson } : { inputRef: { key: PAYLOAD_KEYS.input(runId), bytes } };
    await this.table.put({ Item: { ...keys.input(runId), kind: 'input', ...input, [TABLE.ttlAttribute]: itemTtl } });
    const iso = now.toISOString();
    const created = await this.table.put(
      {
        Item: {
          ...keys.run(runId),
          kind: 'run',
          runId,
          workflowId: definition.workflowId,
          version: definition.version,
          status: 'RUNNING',
          phase: 0,
          createdAt: iso,
          startedAt: iso,
          updatedAt: iso,
          taskCount: definition.definition.tasks.length,
          groupCount: params.groupCount,
          failedCount: 0,
          failedTasks: [],
          ...(params.deadlineAt === undefined ? {} : { deadlineAt: params.deadlineAt }),
          ...(params.idempotency === undefined ? {} : { idempotencyKey: params.idempotency.key }),
          ...(params.handlerBuild === undefined ? {} : { handlerBuild: params.handlerBuild }),
          ...(params.trigger === undefined ? {} : { trigger: params.trigger }),
          ...(params.parent === undefined ? {} : { parent: params.parent }),
          dueAt: params.dueAt,
          expiryShard: expiryShard(runPartition(runId), 'RUN'),
          gsi1pk: keys.runsByWorkflow(definition.workflowId),
          gsi1sk: keys.runsByWorkflowSort(iso, runId),
          gsi2pk: keys.runsByTime(iso, runId),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
      this.options.newToken(),
    );
    return { runId, created: created.applied };
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const item = await this.table.get(keys.run(runId));
    return item === undefined ? undefined : runRecord(item);
  }

  async getRunInput(runId: string): Promise<unknown> {
    const described = await this.describeRunInput(runId);
    if ('input' in described) return described.input;
    if (this.options.payloads === undefined) throw new Error(`the input of run ${runId} is stored apart, but this store has no payload store`);
    return JSON.parse(await this.options.payloads.get(described.inputRef.key)) as unknown;
  }

  async describeRunInput(runId: string): Promise<{ input: unknown } | { inputRef: PayloadRef }> {
    const item = await this.table.get(keys.input(runId));
    const inputJson = item?.['inputJson'];
    const ref = item?.['inputRef'] as PayloadRef | undefined;
    if (typeof inputJson !== 'string' && ref !== undefined) return { inputRef: { key: ref.key, bytes: Number(ref.bytes) } };
    return { input: typeof inputJson === 'string' ? (JSON.parse(inputJson) as unknown) : null };
  }

  /**
   * Runs of a workflow, newest first, optionally of one status; paginated by an opaque token.
   * Without a workflow, the runs of every workflow created in the last days (runs-by-time.ts).
   */
  async listRuns(query: { workflowId?: string; status?: RunStatus; limit?: number; nextToken?: string }): Promise<{ runs: RunSummary[]; nextToken?: string }> {
    if (query.workflowId === undefined) return listRecentRuns(this.table, query, this.options.now());
    const limit = query.limit ?? 50;
    const index = TABLE.indexes.runsByWorkflow;
    const runs: RunSummary[] = [];
    const partition = keys.runsByWorkflow(query.workflowId);
    const filter = statusFilter(query.status);
    let startKey: Item | undefined = query.nextToken === undefined ? undefined : decodeToken(query.nextToken, partition);
    do {
      const page = await this.table.query({
        IndexName: index.name,
        KeyConditionExpression: `${index.partitionKey} = :wf`,
        ExpressionAttributeValues: { ':wf': partition, ...filter?.ExpressionAttributeValues },
        ...(filter === undefined ? {} : { FilterExpression: filter.FilterExpression, ExpressionAttributeNames: filter.ExpressionAttributeNames }),
        ScanIndexForward: false,
        Limit: limit - runs.length,
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      });
      for (const item of page.items) {
        const summary = parseItem(RunSummaryItemSchema, item, 'run summary');
        runs.push(withoutUndefined({ ...summary, status: visibleRunStatus(summary.status) }));
      }
      startKey = page.lastKey;
    } while (startKey !== undefined && runs.length < limit);
    return startKey === undefined ? { runs } : { runs, nextToken: encodeToken(startKey) };
  }

  async requestCancel(params: { runId: string; reason: string; outcome: 'CANCELLED' | 'FAILED' }): Promise<
    { outcome: 'cancelling'; run: RunRecord } | { outcome: 'refused'; run: RunRecord | undefined }
  > {
    const now = this.options.now().toISOString();
    const move = statusIn(RUN_MOVES.requestCancel.from);
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        UpdateExpression: 'SET #status = :to, updatedAt = :now, cancel = :cancel',
        ConditionExpression: move.condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ...move.values,
          ':to': RUN_MOVES.requestCancel.to,
          ':now': now,
          ':cancel': { requestedAt: now, reason: params.reason, outcome: params.outcome },
        },
        ReturnValues: 'ALL_NEW',
      },
      this.options.newToken(),
    );
    const run = result.item === undefined ? undefined : runRecord(result.item);
    if (result.applied && run !== undefined) return { outcome: 'cancelling', run };
    return run?.status === 'CANCELLING' ? { outcome: 'cancelling', run } : { outcome: 'refused', run };
  }

  async markGroupDone(params: { runId: string; phase: number; group: string; failed: readonly string[] }): Promise<RunRecord | undefined> {
    const result = await this.table.update({
      Key: keys.run(params.runId),
      UpdateExpression: 'SET updatedAt = :now, failedTasks = list_append(if_not_exists(failedTasks, :none), :named) ADD doneGroups :group, failedCount :failed',
      // Once per group and phase: a replayed record, or two schedulers, count a group's failures once.
      ConditionExpression: 'phase = :phase AND NOT contains(doneGroups, :groupName)',
      ExpressionAttributeValues: {
        ':now': this.options.now().toISOString(),
        ':none': [],
        ':named': params.failed.slice(0, NAMED_PER_GROUP),
        ':group': new Set([params.group]),
        ':groupName': params.group,
        ':failed': params.failed.length,
        ':phase': params.phase,
      },
      ReturnValues: 'ALL_NEW',
    });
    if (result.item === undefined) return undefined;
    const run = runRecord(result.item);
    return run.phase === params.phase ? run : undefined;
  }

  async completeWithOnlyGroup(params: { runId: string; phase: number; group: string }): Promise<RunRecord | undefined> {
    const now = this.options.now();
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        UpdateExpression: 'SET #status = :to, completedAt = :now, updatedAt = :now, #ttl = :ttl ADD doneGroups :group',
        ConditionExpression: '#status = :running AND phase = :phase AND failedCount = :zero AND NOT contains(doneGroups, :groupName)',
        ExpressionAttributeNames: { '#status': 'status', '#ttl': TABLE.ttlAttribute },
        ExpressionAttributeValues: {
          ':to': 'COMPLETED',
          ':running': 'RUNNING',
          ':phase': params.phase,
          ':zero': 0,
          ':group': new Set([params.group]),
          ':groupName': params.group,
          ':now': now.toISOString(),
          ':ttl': this.runTtl(now),
        },
        ReturnValues: 'ALL_NEW',
      },
      this.options.newToken(),
    );
    return result.applied && result.item !== undefined ? runRecord(result.item) : undefined;
  }

  async finishRun(params: { runId: string; phase: number; from: StoredRunStatus; status: RunStatus; error?: TaskError }): Promise<Outcome> {
    const now = this.options.now();
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        UpdateExpression:
          // The due entry stays (see DueStore): the sweeper's mark passes it.
          `SET #status = :to, completedAt = :now, updatedAt = :now, #ttl = :ttl${params.error === undefined ? '' : ', #error = :error'}`,
        ConditionExpression: '#status = :from AND phase = :phase',
        ExpressionAttributeNames: { '#status': 'status', '#ttl': TABLE.ttlAttribute, ...(params.error === undefined ? {} : { '#error': 'error' }) },
        ExpressionAttributeValues: {
          ':to': params.status,
          ':from': params.from,
          ':phase': params.phase,
          ':now': now.toISOString(),
          ':ttl': this.runTtl(now),
          ...(params.error === undefined ? {} : { ':error': params.error }),
        },
      },
      this.options.newToken(),
    );
    return result.applied ? { outcome: 'ok' } : { outcome: 'stale' };
  }

  async beginCompensation(params: {
    runId: string;
    phase: number;
    from: 'RUNNING' | 'CANCELLING';
    outcome: 'CANCELLED' | 'FAILED';
    error?: TaskError;
    tasks: readonly string[];
  }): Promise<Outcome> {
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        UpdateExpression: 'SET #status = :to, compensation = :compensation, updatedAt = :now',
        ConditionExpression: '#status = :from AND phase = :phase',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':to': RUN_MOVES.compensate.to,
          ':from': params.from,
          ':phase': params.phase,
          ':now': this.options.now().toISOString(),
          ':compensation': withoutUndefined({ outcome: params.outcome, error: params.error, tasks: [...params.tasks] }),
        },
      },
      this.options.newToken(),
    );
    return result.applied ? { outcome: 'ok' } : { outcome: 'stale' };
  }

  async rescheduleRun(params: { runId: string; previous: number; next?: number }): Promise<Outcome> {
    const result = await this.table.update({
      Key: keys.run(params.runId),
      UpdateExpression: params.next === undefined ? 'REMOVE dueAt, expiryShard' : 'SET dueAt = :next, expiryShard = :shard',
      ConditionExpression: 'dueAt = :previous',
      ExpressionAttributeValues: {
        ':previous': params.previous,
        ...(params.next === undefined ? {} : { ':next': params.next, ':shard': expiryShard(runPartition(params.runId), 'RUN') }),
      },
    });
    return result.applied ? { outcome: 'ok' } : { outcome: 'stale' };
  }

  async beginResume(params: { runId: string; owner: string; expiresAt: number }): Promise<
    { outcome: 'resuming'; run: RunRecord } | { outcome: 'refused'; run: RunRecord | undefined }
  > {
    const now = this.options.now();
    const move = statusIn(RUN_MOVES.resume.from);
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        // How the run had ended is kept (a take-over keeps the first one's).
        UpdateExpression:
          'SET resumeFrom = if_not_exists(resumeFrom, #status), #status = :to, resume = :resume, updatedAt = :now, dueAt = :expiresAt, expiryShard = :shard',
        // A resume whose owner went quiet past its lease may be taken over.
        ConditionExpression: `${move.condition} OR (#status = :to AND resume.expiresAt < :nowMs)`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ...move.values,
          ':to': RUN_MOVES.resume.to,
          ':resume': { owner: params.owner, expiresAt: params.expiresAt },
          ':now': now.toISOString(),
          ':nowMs': now.getTime(),
          ':expiresAt': params.expiresAt,
          ':shard': expiryShard(runPartition(params.runId), 'RUN'),
        },
        ReturnValues: 'ALL_NEW',
      },
      this.options.newToken(),
    );
    const run = result.item === undefined ? undefined : runRecord(result.item);
    if (result.applied && run !== undefined) return { outcome: 'resuming', run };
    return { outcome: 'refused', run };
  }

  async saveResumeProgress(params: { runId: string; owner: string; expiresAt: number }): Promise<Outcome> {
    const result = await this.table.update({
      Key: keys.run(params.runId),
      UpdateExpression: 'SET resume.expiresAt = :expiresAt, dueAt = :expiresAt',
      ConditionExpression: '#status = :resuming AND resume.#owner = :owner',
      ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
      ExpressionAttributeValues: { ':expiresAt': params.expiresAt, ':resuming': 'RESUMING', ':owner': params.owner },
    });
    return result.applied ? { outcome: 'ok' } : { outcome: 'stale' };
  }

  async finishResume(params: {
    runId: string;
    owner: string;
    phase: number;
    groupCount: number;
    doneGroups: readonly string[];
    dueAt: number;
    deadlineAt?: number;
  }): Promise<Outcome> {
    const now = this.options.now().toISOString();
    const sets = [
      '#status = :to',
      'phase = :phase',
      'groupCount = :groups',
      'failedCount = :zero',
      'failedTasks = :none',
      'startedAt = :now',
      'resumedAt = :now',
      'updatedAt = :now',
      'dueAt = :dueAt',
      'expiryShard = :shard',
      ...(params.doneGroups.length === 0 ? [] : ['doneGroups = :done']),
      ...(params.deadlineAt === undefined ? [] : ['deadlineAt = :deadline']),
    ];
    const removes = ['completedAt', '#error', 'cancel', 'compensation', 'resume', 'resumeFrom', '#ttl', ...(params.doneGroups.length === 0 ? ['doneGroups'] : []), ...(params.deadlineAt === undefined ? ['deadlineAt'] : [])];
    const result = await this.table.update(
      {
        Key: keys.run(params.runId),
        UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
        ConditionExpression: '#status = :from AND resume.#owner = :owner',
        ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner', '#error': 'error', '#ttl': TABLE.ttlAttribute },
        ExpressionAttributeValues: {
          ':to': RUN_MOVES.resumed.to,
          ':from': RUN_MOVES.resumed.from[0],
          ':owner': params.owner,
          ':phase': params.phase,
          ':groups': params.groupCount,
          ':zero': 0,
          ':none': [],
          ':now': now,
          ':dueAt': params.dueAt,
          ':shard': expiryShard(runPartition(params.runId), 'RUN'),
          ...(params.doneGroups.length === 0 ? {} : { ':done': new Set(params.doneGroups) }),
          ...(params.deadlineAt === undefined ? {} : { ':deadline': params.deadlineAt }),
        },
      },
      this.options.newToken(),
    );
    return result.applied ? { outcome: 'ok' } : { outcome: 'stale' };
  }

  async archivePhase(runId: string, summary: PhaseSummary): Promise<void> {
    await this.table.put({
      Item: { ...keys.phase(runId, summary.phase), kind: 'phase', summaryJson: JSON.stringify(summary), [TABLE.ttlAttribute]: this.itemTtl(this.options.now()) },
    });
  }

  async phaseArchives(runId: string): Promise<PhaseSummary[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':prefix': PHASE_PREFIX },
    });
    return items.map(toPhaseSummary);
  }

  /** A run ended now expires after the retention. */
  private runTtl(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.retentionSeconds;
  }

  /** Items other than the run expire a while after the run could have ended at the latest. */
  private itemTtl(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.retentionSeconds + 30 * DAY_SECONDS;
  }
}

/** A run item as a record, its `resumeFrom` folded into its resume record. */
export function runRecord(item: Item): RunRecord {
  const { resumeFrom, resume, ...rest } = item;
  return toRunRecord(resume === undefined ? rest : { ...rest, resume: { ...(resume as object), from: resumeFrom } });
}

/** `#status IN (...)` for the statuses a move starts from. */
export function statusIn(from: readonly string[]): { condition: string; values: Record<string, string> } {
  const values = Object.fromEntries(from.map((status, i) => [`:from${i}`, status]));
  return { condition: `#status IN (${Object.keys(values).join(', ')})`, values };
}

function encodeToken(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * The keys a page of the runs index ends on, in exactly the shape the store writes them: a crafted
 * token with other values would otherwise reach DynamoDB and fail there (a 500, not a 400).
 */
const RunsPageKeySchema = z.strictObject({
  pk: z.string().regex(new RegExp(`^RUN#${RUN_ID_PATTERN}$`)),
  sk: z.literal('RUN'),
  gsi1pk: z.string().regex(/^WF#[A-Za-z][A-Za-z0-9_-]{0,79}$/),
  gsi1sk: z.string().regex(RUNS_SORT_KEY),
});

/** A token is only accepted for the listing that produced it, and only in the shape it had. */
function decodeToken(token: string, partition: string): Item {
  try {
    const parsed = RunsPageKeySchema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (parsed.success && parsed.data.gsi1pk === partition) return parsed.data;
  } catch {
    // fall through to the validation error below
  }
  throw new ValidationError([{ path: 'nextToken', message: 'nextToken is not a token this API returned' }]);
}
