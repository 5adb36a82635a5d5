// The one module that talks to SQS: sending task messages in batches of ten, retrying the entries
// SQS refuses. A message names one attempt of one task; the worker's claim makes duplicates harmless.
import { SendMessageBatchCommand, SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import type { OutgoingMessage, TaskQueue } from '../engine/messages.js';
import { EngineError } from '../model/errors.js';
import { QUEUES } from '../config/settings.js';

/** Attempts of one request, the first included, for what the SDK retries (throttling, 5xx, timeouts). */
export const SQS_MAX_ATTEMPTS = 6;

/** The engine's SQS client: more patient than the SDK's default of 3 attempts, as a lost send delays a task. */
export function createSqsClient(config: SQSClientConfig = {}): SQSClient {
  return new SQSClient({ maxAttempts: SQS_MAX_ATTEMPTS, ...config });
}

/** SQS's limit on entries in one SendMessageBatch call. */
const SEND_BATCH_SIZE = 10;
const SEND_ATTEMPTS = 5;

export class SqsTaskQueue implements TaskQueue {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;

  constructor(deps: { sqs: SQSClient; queueUrl: string }) {
    this.sqs = deps.sqs;
    this.queueUrl = deps.queueUrl;
  }

  /** Sends every message, retrying the entries SQS refuses; throws if some never go through. */
  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    const batches: OutgoingMessage[][] = [];
    for (let i = 0; i < messages.length; i += SEND_BATCH_SIZE) batches.push(messages.slice(i, i + SEND_BATCH_SIZE));
    await Promise.all(batches.map((batch) => this.sendBatch(batch)));
  }

  private async sendBatch(batch: readonly OutgoingMessage[]): Promise<void> {
    let pending = batch.map((outgoing, i) => ({ id: String(i), outgoing }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const entries = pending.map(({ id, outgoing }) => ({ Id: id, MessageBody: JSON.stringify(outgoing.message), DelaySeconds: clampDelay(outgoing.delaySeconds ?? 0) }));
      const result = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries })).catch((error: unknown) => {
        // Still failing after the SDK's retries (throttled, unavailable, timed out): retryable by
        // the caller, who would otherwise leave its tasks queued without a message.
        throw new EngineError('QUEUE_UNAVAILABLE', `SQS did not take the messages: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, {
          retryable: true,
          cause: error,
        });
      });
      const failed = new Set((result.Failed ?? []).map((entry) => entry.Id));
      pending = pending.filter(({ id }) => failed.has(id));
      if (pending.length > 0) {
        if (attempt >= SEND_ATTEMPTS) {
          const reasons = (result.Failed ?? []).map((entry) => entry.Message ?? entry.Code).join('; ');
          throw new EngineError('QUEUE_SEND_FAILED', `SQS refused ${pending.length} message(s): ${reasons}`, { retryable: true });
        }
        await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      }
    }
  }
}

function clampDelay(seconds: number): number {
  return Math.min(QUEUES.maxDelaySeconds, Math.max(0, Math.ceil(seconds)));
}
