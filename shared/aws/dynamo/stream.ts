// DynamoDB Streams records, as the scheduler sees them: the changes of run and task items, their
// images parsed into the engine's records, and what completion and join groups now hold (which
// tells the scheduler what a worker did already). Other items (inputs, archives) change nothing
// the scheduler reacts to.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { StoreChange } from '../../engine/scheduler.js';
import { runRecord } from './runs.js';
import { DoneItemSchema, OutcomeSetsSchema, parseItem } from './items.js';
import { ITEM_PREFIX, MAP_CHUNK_PREFIX, TASK_PREFIX, runIdOf } from './keys.js';
import { taskRecord } from './tasks.js';

/** The record as a change of a run or task item; undefined for other items. */
export function toChange(record: DynamoDBRecord): StoreChange | undefined {
  const sk = record.dynamodb?.Keys?.['sk']?.S ?? '';
  const key = record.dynamodb?.SequenceNumber ?? record.eventID ?? '';
  const image = (raw: unknown) => (raw === undefined ? undefined : unmarshall(raw as Record<string, AttributeValue>));
  const oldImage = image(record.dynamodb?.OldImage);
  const newImage = image(record.dynamodb?.NewImage);
  if (sk === 'RUN') {
    return { kind: 'run', key, old: oldImage === undefined ? undefined : runRecord(oldImage), new: newImage === undefined ? undefined : runRecord(newImage) };
  }
  if (sk.startsWith(TASK_PREFIX) || sk.startsWith(ITEM_PREFIX)) {
    return { kind: 'task', key, old: oldImage === undefined ? undefined : taskRecord(oldImage), new: newImage === undefined ? undefined : taskRecord(newImage) };
  }
  const pk = record.dynamodb?.Keys?.['pk']?.S ?? '';
  const [prefix, phase, ...rest] = sk.split('#');
  if (newImage === undefined || !pk.startsWith('RUN#') || phase === undefined) return undefined;
  if (prefix === 'DONE' && rest.length === 1) {
    const { finished, failed } = parseItem(DoneItemSchema, newImage, 'completion group');
    return { kind: 'done', key, runId: runIdOf(pk), phase: Number(phase), group: rest[0] ?? '', finished, failed };
  }
  if (sk.startsWith(MAP_CHUNK_PREFIX)) {
    // MAPDONE#<mapId>#<phase>#<attempt>#<chunk>: the item id prefix is all but the chunk.
    const [, mapId, mapPhase, attempt, chunk] = sk.split('#');
    const finished: unknown = newImage['finished'];
    const failed: unknown = newImage['failed'];
    const counted = finished instanceof Set ? [...(finished as Set<string>)].map(Number) : [];
    return {
      kind: 'mapChunk',
      key,
      runId: runIdOf(pk),
      itemIdPrefix: `${mapId ?? ''}#${mapPhase ?? ''}#${attempt ?? ''}#`,
      chunk: Number(chunk),
      // A chunk written before its size was recorded is never taken as complete.
      size: typeof newImage['size'] === 'number' ? newImage['size'] : Number.POSITIVE_INFINITY,
      counted,
      failed: failed instanceof Set ? failed.size : 0,
    };
  }
  if (prefix === 'JOIN' && rest.length === 2) {
    const sets = parseItem(OutcomeSetsSchema, newImage, 'join group');
    return { kind: 'join', key, runId: runIdOf(pk), phase: Number(phase), taskId: rest[0] ?? '', group: rest[1] ?? '', recorded: [...sets.SUCCEEDED, ...sets.FAILED, ...sets.SKIPPED, ...sets.CANCELLED] };
  }
  return undefined;
}
