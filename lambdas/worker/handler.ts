// The worker Lambda: SQS batches in. Each message is one task attempt, run concurrently with the
// others of its batch. Only infrastructure errors (and unreadable messages) are reported in
// batchItemFailures; SQS redelivers them and, after maxReceiveCount, moves them to the DLQ.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { TaskMessageSchema } from '../../shared/engine/messages.js';
import type { Worker } from '../../shared/engine/worker.js';
import { localContext } from '../lambda-context.js';

export type WorkerHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

export function makeWorkerHandler(deps: {
  worker: Worker;
  logError: (message: string, extra: Record<string, unknown>) => void;
}): WorkerHandler {
  return async (event, context) => {
    const invocation = context ?? localContext('worker');
    const results = await Promise.allSettled(
      event.Records.map(async (record) => {
        const message = TaskMessageSchema.parse(JSON.parse(record.body));
        await deps.worker.process(message, invocation);
      }),
    );
    const batchItemFailures = results.flatMap((result, i) => {
      if (result.status === 'fulfilled') return [];
      const record = event.Records[i];
      deps.logError('task message failed', { error: result.reason, messageId: record?.messageId });
      return record === undefined ? [] : [{ itemIdentifier: record.messageId }];
    });
    return { batchItemFailures };
  };
}
