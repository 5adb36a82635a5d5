// The sweeper's view of the table: the sparse `expiries` index (keys only), every partition of it,
// page after page, so that everything due is seen, however much of it there is; and the sweeper's
// mark (everything due up to it was handled), in an item of its own.
import { TABLE } from '../../config/table-schema.js';
import type { DueRef, DueStore } from '../../engine/ports.js';
import { ITEM_PREFIX, TASK_PREFIX, keys, runIdOf } from './keys.js';
import type { Item, Table } from './table.js';

/** Partitions of the index read side by side. */
const PARALLEL_PARTITIONS = 8;

export class DynamoDueStore implements DueStore {
  constructor(private readonly table: Table) {}

  due(until: number, after = Number.MIN_SAFE_INTEGER): AsyncIterable<DueRef[]> {
    return this.pages(after, until);
  }

  all(after = Number.MIN_SAFE_INTEGER): AsyncIterable<DueRef[]> {
    return this.pages(after, Number.MAX_SAFE_INTEGER);
  }

  async readMark(): Promise<number | undefined> {
    const item = await this.table.get(keys.sweepMark());
    return typeof item?.['mark'] === 'number' ? item['mark'] : undefined;
  }

  async saveMark(mark: number): Promise<void> {
    await this.table.update({
      Key: keys.sweepMark(),
      UpdateExpression: 'SET #mark = :mark',
      ConditionExpression: 'attribute_not_exists(#mark) OR #mark < :mark',
      ExpressionAttributeNames: { '#mark': 'mark' },
      ExpressionAttributeValues: { ':mark': mark },
    });
  }

  private async *pages(after: number, until: number): AsyncGenerator<DueRef[]> {
    const index = TABLE.indexes.expiries;
    const partitions = Array.from({ length: index.shardCount }, (_, i) => `EXP#${i}`);
    for (let i = 0; i < partitions.length; i += PARALLEL_PARTITIONS) {
      const slice = partitions.slice(i, i + PARALLEL_PARTITIONS);
      const refs = await Promise.all(slice.map((partition) => this.partition(partition, after, until)));
      for (const page of refs.flat()) if (page.length > 0) yield page;
    }
  }

  /** Every page of one partition, each page as refs. */
  private async partition(partition: string, after: number, until: number): Promise<DueRef[][]> {
    const index = TABLE.indexes.expiries;
    const pages: DueRef[][] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.table.query({
        IndexName: index.name,
        // BETWEEN is inclusive: `after` itself was handled, so the range starts just past it.
        KeyConditionExpression: `${index.partitionKey} = :partition AND ${index.sortKey} BETWEEN :from AND :until`,
        ExpressionAttributeValues: { ':partition': partition, ':from': after + 1, ':until': until },
        ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
      });
      pages.push(page.items.flatMap(toRef));
      startKey = page.lastKey;
    } while (startKey !== undefined);
    return pages;
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
