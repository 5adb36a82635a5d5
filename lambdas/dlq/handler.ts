// The dlq Lambda: messages SQS gave up on (maxReceiveCount deliveries) arrive here. Each names a
// task attempt, which ends FAILED with a "dead-lettered" error carrying the message body, so its
// run finishes instead of hanging. A body that names no task stays in the DLQ (reported as a
// failure) for an operator, with the DLQ alarm on.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { DefinitionCache } from '../../shared/engine/definition-cache.js';
import { executionPlan } from '../../shared/engine/execution-plan.js';
import { TaskMessageSchema } from '../../shared/engine/messages.js';
import type { DynamoStore } from '../../shared/aws/dynamo/store.js';

export type DlqHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** The part of the message body kept in the task's error. */
const MAX_BODY_CHARS = 2_048;

export function makeDlqHandler(deps: {
  store: DynamoStore;
  definitions: DefinitionCache;
  logError: (message: string, extra: Record<string, unknown>) => void;
}): DlqHandler {
  return async (event) => {
    const failures: string[] = [];
    for (const record of event.Records) {
      try {
        const message = TaskMessageSchema.parse(JSON.parse(record.body));
        const critical = await deps.definitions
          .get(message.workflowId, message.version)
          .then((definition) => executionPlan(definition, message.taskId).critical)
          .catch(() => true);
        const receives = record.attributes.ApproximateReceiveCount;
        await deps.store.deadLetterTask({
          runId: message.runId,
          taskId: message.taskId,
          attempt: message.attempt,
          critical,
          error: {
            name: 'DeadLettered',
            message: `the task's message could not be processed and was dead-lettered after ${receives} deliveries`,
            retryable: false,
            details: { messageId: record.messageId, body: record.body.slice(0, MAX_BODY_CHARS) },
          },
        });
      } catch (error) {
        deps.logError('dead-lettered message names no task; kept in the DLQ', { error, messageId: record.messageId, body: record.body.slice(0, MAX_BODY_CHARS) });
        failures.push(record.messageId);
      }
    }
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
