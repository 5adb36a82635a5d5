// The scheduler Lambda: DynamoDB Streams batches in. Records become the changes of run and task
// items (others are skipped); the scheduler handles them, each run's in order, runs side by side.
// A run whose handling fails is reported (every record of it in the batch) in batchItemFailures,
// so one bad record does not replay the whole batch, and replaying a record is harmless.
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { toChange } from '../../shared/aws/dynamo/stream.js';
import { Scheduler, type StoreChange } from '../../shared/engine/scheduler.js';
import { flushing, type EngineParts } from '../parts.js';

export type SchedulerHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

export function makeSchedulerHandler(deps: {
  scheduler: Pick<Scheduler, 'handleBatch'>;
  logError: (message: string, extra: Record<string, unknown>) => void;
}): SchedulerHandler {
  return async (event) => {
    const changes: StoreChange[] = [];
    const unreadable: string[] = [];
    for (const record of event.Records) {
      try {
        const change = toChange(record);
        if (change !== undefined) changes.push(change);
      } catch (error) {
        deps.logError('stream record is not an item the engine wrote', { error, sequenceNumber: record.dynamodb?.SequenceNumber });
        unreadable.push(record.dynamodb?.SequenceNumber ?? '');
      }
    }
    const { failed, errors } = await deps.scheduler.handleBatch(changes);
    for (const error of errors) deps.logError('stream records failed', { error });
    return { batchItemFailures: [...unreadable, ...failed].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export function buildScheduler(parts: EngineParts): { scheduler: Scheduler; handler: SchedulerHandler } {
  const { store, queue, definitions, now, metrics, timings } = parts;
  const scheduler = new Scheduler({ ...store, queue, definitions, now, metrics, timings });
  return { scheduler, handler: flushing(metrics, makeSchedulerHandler({ scheduler, logError: parts.logError })) };
}
