// The dlq Lambda: task messages SQS gave up on (maxReceiveCount deliveries) arrive here. Each ends
// its attempt by the engine's one failed-attempt path (a DeadLettered error with the message), so
// its run goes on instead of hanging; a live attempt another worker holds is left alone. A body
// that names no task stays in the DLQ (reported as a failure) for an operator, with the DLQ alarm on.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { handleDeadLetter, type DeadLetterDeps } from '../../shared/engine/dead-letters.js';
import { TaskMessageSchema } from '../../shared/engine/messages.js';
import { flushing, type EngineParts } from '../parts.js';

export type DlqHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** The part of the message body kept in the log. */
const MAX_BODY_CHARS = 2_048;

export function makeDlqHandler(deps: DeadLetterDeps & { logError: (message: string, extra: Record<string, unknown>) => void }): DlqHandler {
  return async (event) => {
    const failures: string[] = [];
    for (const record of event.Records) {
      try {
        const message = TaskMessageSchema.parse(JSON.parse(record.body));
        const delivery = { messageId: record.messageId, receiveCount: record.attributes.ApproximateReceiveCount, body: record.body };
        if ((await handleDeadLetter(deps, message, delivery)) === 'not-found') throw new Error('no such task attempt');
      } catch (error) {
        deps.logError('dead-lettered message names no task; kept in the DLQ', { error, messageId: record.messageId, body: record.body.slice(0, MAX_BODY_CHARS) });
        failures.push(record.messageId);
      }
    }
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export function buildDlq(parts: EngineParts): DlqHandler {
  const { store, queue, definitions, now, random, metrics, timings } = parts;
  return flushing(
    metrics,
    makeDlqHandler({ tasks: store.tasks, queue, definitions, now, random, metrics, timings, newToken: () => crypto.randomUUID(), logError: parts.logError }),
  );
}
