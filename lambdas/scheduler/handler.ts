// The scheduler Lambda: DynamoDB Streams batches in. Records are grouped by run; a run's records
// are handled in order, runs in parallel. A failing record is reported (with every later record
// of its run) in batchItemFailures, so one bad record does not replay the whole batch.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { Scheduler, StoreChange } from '../../shared/engine/scheduler.js';
import { RunItemSchema, TaskItemSchema, parseItem } from '../../shared/aws/dynamo/items.js';

export type SchedulerHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

export function makeSchedulerHandler(deps: {
  scheduler: Scheduler;
  logError: (message: string, extra: Record<string, unknown>) => void;
}): SchedulerHandler {
  return async (event) => {
    const byRun = new Map<string, DynamoDBRecord[]>();
    for (const record of event.Records) {
      const pk = record.dynamodb?.Keys?.['pk']?.S ?? '';
      byRun.set(pk, [...(byRun.get(pk) ?? []), record]);
    }
    const failures: string[] = [];
    await Promise.all(
      [...byRun.values()].map(async (records) => {
        for (const [i, record] of records.entries()) {
          try {
            const change = toChange(record);
            if (change !== undefined) await deps.scheduler.handleChange(change);
          } catch (error) {
            deps.logError('stream record failed', { error, sequenceNumber: record.dynamodb?.SequenceNumber });
            for (const failed of records.slice(i)) failures.push(failed.dynamodb?.SequenceNumber ?? '');
            return;
          }
        }
      }),
    );
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/** The record as a change of a run or task item; undefined for other items. */
export function toChange(record: DynamoDBRecord): StoreChange | undefined {
  const sk = record.dynamodb?.Keys?.['sk']?.S ?? '';
  const image = (raw: unknown) => (raw === undefined ? undefined : unmarshall(raw as Record<string, AttributeValue>));
  const oldImage = image(record.dynamodb?.OldImage);
  const newImage = image(record.dynamodb?.NewImage);
  if (sk === 'RUN') {
    return {
      kind: 'run',
      old: oldImage === undefined ? undefined : parseItem(RunItemSchema, oldImage, 'run'),
      new: newImage === undefined ? undefined : parseItem(RunItemSchema, newImage, 'run'),
    };
  }
  if (sk.startsWith('TASK#')) {
    return {
      kind: 'task',
      old: oldImage === undefined ? undefined : parseItem(TaskItemSchema, oldImage, 'task'),
      new: newImage === undefined ? undefined : parseItem(TaskItemSchema, newImage, 'task'),
    };
  }
  return undefined;
}
