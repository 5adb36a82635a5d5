// The sweeper's view of the table: the sparse `expiries` index (keys only), every partition of it,
// page after page, so that everything due is seen, however much of it there is.
import { TABLE } from '../../config/table-schema.js';
import type { DueRef, DueStore } from '../../engine/ports.js';
import { ITEM_PREFIX, TASK_PREFIX, runIdOf } from './keys.js';
import type { Item, Table } from './table.js';

/** Partitions of the index read side by side. */
const PARALLEL_PARTITIONS = 8;

export class DynamoDueStore implements DueStore {
  constructor(private readonly table: Table) {}

  due(now: number): AsyncIterable<DueRef[]> {
    return this.pages(now);
  }

  all(): AsyncIterable<DueRef[]> {
    return this.pages(Number.MAX_SAFE_INTEGER);
  }

  private async *pages(until: number): AsyncGenerator<DueRef[]> {
    const index = TABLE.indexes.expiries;
    const partitions = Array.from({ length: index.shardCount }, (_, i) => `EXP#${i}`);
    for (let i = 0; i < partitions.length; i += PARALLEL_PARTITIONS) {
      const slice = partitions.slice(i, i + PARALLEL_PARTITIONS);
      const refs = await Promise.all(slice.map((partition) => this.partition(partition, until)));
      for (const page of refs.flat()) if (page.length > 0) yield page;
    }
  }

  /** Every page of one partition, each page as refs. */
  private async partition(partition: string, until: number): Promise<DueRef[][]> {
    const index = TABLE.indexes.expiries;
    const pages: DueRef[][] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.table.query({
        IndexName: index.name,
        KeyConditionExpression: `${index.partitionKey} = :partition AND ${index.sortKey} <= :until`,
        ExpressionAttributeValues: { ':partition': partition, ':until': until },
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
