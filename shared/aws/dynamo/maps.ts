// A map task's items in the table: item tasks (ITEM#..., moved by the task store like any task)
// made PENDING all at once by the map's attempt, each holding its item; and a count per chunk of
// 64 items (MAPDONE#...), a string set grown by idempotent ADDs like a completion group's. A chunk
// that is complete is marked on the map task once, so the map task is written once per 64 items.
import { TABLE } from '../../config/table-schema.js';
import { TIMINGS } from '../../config/settings.js';
import { chunkOf, itemAddress, itemIdPrefix, itemTaskId, type ItemAddress } from '../../engine/map-items.js';
import type { MapAttempt, MapStore, NewMapItem } from '../../engine/ports.js';
import type { TaskRecord } from '../../engine/records.js';
import { forEachLimited } from '../../engine/concurrency.js';
import { ConflictError, ValidationError } from '../../model/errors.js';
import { keys } from './keys.js';
import { taskRecord } from './tasks.js';
import type { Item, Table } from './table.js';

const DAY_SECONDS = 86_400;
/** Batch writes of one map's items in flight at once. */
const CREATE_CONCURRENCY = 4;
const ITEMS_PER_BATCH = 25;

/** A cursor's key, only if it is one of this map attempt's items (anything else is refused, never sent to DynamoDB). */
function startKey(cursor: string, pk: string, skPrefix: string): Item {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const { pk: keyPk, sk: keySk } = (typeof key === 'object' && key !== null ? key : {}) as { pk?: unknown; sk?: unknown };
  if (keyPk !== pk || typeof keySk !== 'string' || !keySk.startsWith(skPrefix)) {
    throw new ValidationError([{ path: 'cursor', message: 'cursor is not one this list gave out' }]);
  }
  return { pk: keyPk, sk: keySk };
}

export class DynamoMapStore implements MapStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => Date,
    private readonly retentionDays: number = TIMINGS.retentionDays,
  ) {}

  async createItems(params: MapAttempt & { workflowId: string; version: string; leaseToken: string; keyGeneration?: number; total: number; first: boolean; items: readonly NewMapItem[] }): Promise<void> {
    const now = this.now();
    const iso = now.toISOString();
    const ttl = this.ttl(now);
    if (params.first) {
      // The count first: an item that ends is only ever counted against it. Only the attempt's own
      // worker, while it holds the lease, makes items: a stale attempt makes none.
      const counted = await this.table.update({
        Key: keys.task(params.runId, params.mapId),
        UpdateExpression: 'SET mapItems = :total, mapItemsOf = :prefix, updatedAt = :now REMOVE mapChunksDone, mapFailed',
        ConditionExpression: 'attempt = :attempt AND phase = :phase AND #status = :running AND leaseToken = :leaseToken',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':total': params.total, ':prefix': itemIdPrefix(params), ':now': iso, ':attempt': params.attempt, ':phase': params.phase, ':running': 'RUNNING', ':leaseToken': params.leaseToken },
      });
      if (!counted.applied) throw new ConflictError(`map task ${params.mapId}'s attempt ${params.attempt} is over; its items are not made`);
    }
    const items: Item[] = params.items.map(({ index, value, next, kept }) => {
      const taskId = itemTaskId({ ...params, index });
      return {
        ...keys.task(params.runId, taskId),
        runId: params.runId,
        taskId,
        workflowId: params.workflowId,
        version: params.version,
        phase: params.phase,
        itemJson: JSON.stringify(value ?? null),
        ...(next === undefined ? {} : { nextIndex: next }),
        ...(params.keyGeneration === undefined ? {} : { keyGeneration: params.keyGeneration }),
        ...(kept === undefined
          ? { status: 'PENDING', attempt: 0 }
          : {
              // Its output as the earlier phase's item kept it (a large one's object expires with the run).
              status: 'SUCCEEDED',
              attempt: kept.attempt,
              ...(kept.outputRef === undefined ? { outputJson: JSON.stringify(kept.output ?? null) } : { outputRef: kept.outputRef }),
              ...(kept.startedAt === undefined ? {} : { startedAt: kept.startedAt }),
              ...(kept.completedAt === undefined ? {} : { completedAt: kept.completedAt }),
              ...(kept.durationMs === undefined ? {} : { durationMs: kept.durationMs }),
              reason: `kept: it succeeded in phase ${kept.phase}`,
            }),
        updatedAt: iso,
        [TABLE.ttlAttribute]: ttl,
      };
    });
    const batches: Item[][] = [];
    for (let i = 0; i < items.length; i += ITEMS_PER_BATCH * 4) batches.push(items.slice(i, i + ITEMS_PER_BATCH * 4));
    await forEachLimited(batches, CREATE_CONCURRENCY, (batch) => this.table.batchPut(batch));
  }

  async listItems(map: MapAttempt, page: { cursor?: string; limit?: number; summary?: boolean } = {}): Promise<{ items: TaskRecord[]; cursor?: string }> {
    const { pk, skPrefix } = keys.mapItems(map.runId, itemIdPrefix(map));
    const result = await this.table.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      // Consistent: an item that just ended must be seen ended (its output goes into the map's).
      ConsistentRead: true,
      ...(page.summary === true
        ? { ProjectionExpression: 'runId, taskId, workflowId, version, phase, #status, attempt, #error, nextIndex, updatedAt', ExpressionAttributeNames: { '#status': 'status', '#error': 'error' } }
        : {}),
      ...(page.limit === undefined ? {} : { Limit: page.limit }),
      ...(page.cursor === undefined ? {} : { ExclusiveStartKey: startKey(page.cursor, pk, skPrefix) }),
    });
    return {
      items: result.items.map(taskRecord),
      ...(result.lastKey === undefined ? {} : { cursor: Buffer.from(JSON.stringify(result.lastKey)).toString('base64url') }),
    };
  }

  async readCounted(runId: string, itemIds: readonly string[]): Promise<Set<string>> {
    const chunks = new Map<string, ItemAddress>();
    for (const itemId of itemIds) {
      const address = itemAddress(itemId);
      if (address !== undefined) chunks.set(keys.mapChunk(runId, itemIdPrefix(address), chunkOf(address.index)).sk, address);
    }
    if (chunks.size === 0) return new Set();
    const read = await this.table.batchGet(
      [...chunks.keys()].map((sk) => ({ pk: keys.run(runId).pk, sk })),
      { projection: 'sk, finished' },
    );
    const counted = new Set<string>();
    for (const item of read) {
      const address = chunks.get(String(item['sk']));
      const finished = item['finished'];
      if (address === undefined || !(finished instanceof Set)) continue;
      for (const index of finished as Set<string>) counted.add(itemTaskId({ ...address, index: Number(index) }));
    }
    return new Set(itemIds.filter((itemId) => counted.has(itemId)));
  }

  async recordFinished(map: MapAttempt & { chunk: number; size: number; indexes: readonly number[]; failed: readonly number[] }): Promise<{ finished: number; failed: number }> {
    const result = await this.table.update({
      Key: keys.mapChunk(map.runId, itemIdPrefix(map), map.chunk),
      // Its size too, so that its stream record tells whether it is complete.
      UpdateExpression: `SET #ttl = if_not_exists(#ttl, :ttl), #size = :size ADD finished :finished${map.failed.length === 0 ? '' : ', failed :failed'}`,
      ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute, '#size': 'size' },
      ExpressionAttributeValues: {
        ':size': map.size,
        ':ttl': this.ttl(this.now()),
        ':finished': new Set(map.indexes.map(String)),
        ...(map.failed.length === 0 ? {} : { ':failed': new Set(map.failed.map(String)) }),
      },
      ReturnValues: 'ALL_NEW',
    });
    const size = (value: unknown) => (value instanceof Set ? value.size : 0);
    return { finished: size(result.item?.['finished']), failed: size(result.item?.['failed']) };
  }

  async markChunkDone(map: MapAttempt & { chunk: number; failed: number }): Promise<TaskRecord | undefined> {
    const result = await this.table.update({
      Key: keys.task(map.runId, map.mapId),
      UpdateExpression: 'SET mapFailed = if_not_exists(mapFailed, :zero) + :failed, updatedAt = :now ADD mapChunksDone :chunk',
      ConditionExpression: 'attempt = :attempt AND phase = :phase AND NOT contains(mapChunksDone, :chunkId)',
      ExpressionAttributeValues: {
        ':zero': 0,
        ':failed': map.failed,
        ':now': this.now().toISOString(),
        ':chunk': new Set([String(map.chunk)]),
        ':chunkId': String(map.chunk),
        ':attempt': map.attempt,
        ':phase': map.phase,
      },
      ReturnValues: 'ALL_NEW',
    });
    const task = result.item === undefined ? undefined : taskRecord(result.item);
    if (task === undefined || task.attempt !== map.attempt || task.phase !== map.phase) return undefined;
    return task;
  }

  private ttl(now: Date): number {
    // As task items: they outlive the latest a run could end (30 days), then the retention.
    return Math.floor(now.getTime() / 1000) + (this.retentionDays + 30) * DAY_SECONDS;
  }
}
