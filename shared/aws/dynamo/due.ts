// The sweeper's view of the table: the sparse `expiries` index (keys only), each of its
// partitions page after page in due order, so that everything due is seen, however much of it
// there is; and the sweeper's marks (per partition, everything due up to it was handled), in an
// item of their own.
import { TABLE } from '../../config/table-schema.js';
import type { DueRef, DueStore } from '../../engine/ports.js';
import { EXPIRY_SHARDS, ITEM_PREFIX, TASK_PREFIX, keys, runIdOf } from './keys.js';
import type { Item, Table } from './table.js';

export class DynamoDueStore implements DueStore {
  constructor(private readonly table: Table) {}

  partitions(): readonly string[] {
    return EXPIRY_SHARDS;
  }

  async *due(partition: string, until: number, after = Number.MIN_SAFE_INTEGER): AsyncIterable<DueRef[]> {
    // BETWEEN is inclusive: `after` itself was handled, so the range starts just past it. A mark
    // ahead of this clock (another sweeper's, a clock behind) leaves nothing to read.
    if (after + 1 > until) return;
    const index = TABLE.indexes.expiries;
    let startKey: Item | undefined;
    do {
      const page = await this.table.query({
        IndexName: index.name,
        KeyConditionExpression: `${index.partitionKey} = :partition AND ${index.sortKey} BETWEEN :from AND :until`,
        ExpressionAttributeValues: { ':partition': partition, ':from': after + 1, ':until': until },
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      });
      const refs = page.items.flatMap(toRef);
      if (refs.length > 0) yield refs;
      startKey = page.lastKey;
    } while (startKey !== undefined);
  }

  async readMarks(): Promise<Record<string, number>> {
    const item = await this.table.get(keys.sweepMark());
    return Object.fromEntries(EXPIRY_SHARDS.flatMap((partition) => (typeof item?.[partition] === 'number' ? [[partition, item[partition]]] : [])));
  }

  async saveMark(partition: string, mark: number): Promise<void> {
    await this.table.update({
      Key: keys.sweepMark(),
      UpdateExpression: 'SET #mark = :mark',
      ConditionExpression: 'attribute_not_exists(#mark) OR #mark < :mark',
      ExpressionAttributeNames: { '#mark': partition },
      ExpressionAttributeValues: { ':mark': mark },
    });
  }
}

function toRef(item: Item): DueRef[] {
  const pk = typeof item['pk'] === 'string' ? item['pk'] : '';
  const sk = typeof item['sk'] === 'string' ? item['sk'] : '';
  const dueAt = Number(item[TABLE.indexes.expiries.sortKey]);
  if (!pk.startsWith('RUN#')) return [];
  if (sk === 'RUN') return [{ kind: 'run', runId: runIdOf(pk), dueAt }];
  if (sk.startsWith(TASK_PREFIX)) return [{ kind: 'task', runId: runIdOf(pk), taskId: sk.slice(TASK_PREFIX.length), dueAt }];
  if (sk.startsWith(ITEM_PREFIX)) return [{ kind: 'task', runId: runIdOf(pk), taskId: sk.slice(ITEM_PREFIX.length), dueAt }];
  return [];
}
