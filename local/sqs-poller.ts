// The local SQS event source: polls a queue and calls an unchanged Lambda handler the way Lambda's
// SQS event source mapping does. Records in Lambda's shape; after the handler returns, every
// message not named in batchItemFailures is deleted; the named ones, and a whole batch whose
// handler threw or timed out, are left alone to reappear after the visibility timeout, so SQS's
// own redrive moves them to the DLQ after maxReceiveCount receives.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttribute, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import * as z from 'zod';

/**
 * The context each handler call gets: a complete Lambda Context (so handlers typed for Lambda and
 * middy accept it), whose getRemainingTimeInMillis counts down from functionTimeoutMs.
 */
export type LocalLambdaContext = Context;

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handler: (event: SQSEvent, context: LocalLambdaContext) => Promise<SQSBatchResponse | void>;
  /** Most messages per handler call, 1-10 (one ReceiveMessage). Default 10. */
  batchSize?: number;
  /** Parallel pollers, each with at most one batch in flight (Lambda's concurrency). Default 4. */
  concurrency?: number;
  /** Long-poll wait of an idle poller, 0-20 s (Lambda's pollers wait 20). Default 1. */
  waitTimeSeconds?: number;
  /** A handler call still running after this long counts as failed, as a Lambda timeout does. Default 900 000. */
  functionTimeoutMs?: number;
  /** eventSourceARN of the records; looked up with GetQueueAttributes when not given. */
  queueArn?: string;
  /** Default: `<queue name>-consumer`. */
  functionName?: string;
  /** Handler failures and SQS errors; the poller carries on. Default: console.error. */
  onError?: (error: unknown) => void;
}

export interface SqsPoller {
  /**
   * Ends the loops: an idle long poll under way is abandoned (a message it would have returned
   * stays invisible for its visibility timeout, as when a poller goes on AWS), and batches already
   * received are handled first.
   */
  stop(): Promise<void>;
  /**
   * Resolves once no batch is in flight, every receive that began before this call has finished,
   * and a receive that began after it found the queue empty. Messages waiting out a visibility
   * timeout or a delay are not visible, so they do not count. Rejects if the poller stops first.
   */
  idle(): Promise<void>;
}

interface EventSource {
  arn: string;
  region: string;
  account: string;
}

const RETRY_BASE_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 5_000;
/** Between empty short polls (waitTimeSeconds 0), so an idle poller does not spin. */
const SHORT_POLL_PAUSE_MS = 50;
const IDLE_CHECK_MS = 10;

/** Lambda's answer, when the handler gives one: failed items are named by their messageId. */
const BatchResponseSchema = z
  .object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })).nullish() })
  .nullish();

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const { sqs, queueUrl, handler } = options;
  const batchSize = options.batchSize ?? 10;
  const concurrency = options.concurrency ?? 4;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  const functionTimeoutMs = options.functionTimeoutMs ?? 900_000;
  const functionName = options.functionName ?? `${queueUrl.split('/').pop() ?? 'queue'}-consumer`;
  const report = options.onError ?? ((error: unknown) => console.error('[sqs-poller]', error));
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new RangeError(`batchSize must be an integer from 1 to 10, got ${batchSize}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20) {
    throw new RangeError(`waitTimeSeconds must be an integer from 0 to 20, got ${waitTimeSeconds}`);
  }
  if (!(functionTimeoutMs > 0)) throw new RangeError(`functionTimeoutMs must be > 0, got ${functionTimeoutMs}`);

  let stopped = false;
  /** Cuts idle long polls short on stop(), so that stopping does not wait out their wait. */
  const abandon = new AbortController();
  const wakers = new Set<() => void>();
  // A logical clock: idle() compares the start of receives with the moment it was called.
  let tick = 0;
  const receivesUnderWay = new Set<number>();
  let lastEmptyReceiveStartedAt = 0;
  let batchesInFlight = 0;
  let source: Promise<EventSource> | undefined;

  /** The queue's ARN (and the region and account in it), looked up once unless given. */
  function eventSource(): Promise<EventSource> {
    if (source === undefined) {
      const lookUp = (async () => {
        const arn = options.queueArn ?? (await lookUpQueueArn());
        const [, , , region = '', account = ''] = arn.split(':');
        return { arn, region, account };
      })();
      // A failed look-up is tried again by the next poll, not remembered.
      lookUp.catch(() => {
        if (source === lookUp) source = undefined;
      });
      source = lookUp;
    }
    return source;
  }

  async function lookUpQueueArn(): Promise<string> {
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    if (Attributes?.QueueArn === undefined) throw new Error(`GetQueueAttributes returned no QueueArn for ${queueUrl}`);
    return Attributes.QueueArn;
  }

  async function receive(busy: boolean): Promise<Message[]> {
    const startedAt = ++tick;
    receivesUnderWay.add(startedAt);
    try {
      // local-aws-sqs holds a long poll until MaxNumberOfMessages have arrived or the wait is over
      // (AWS answers as soon as there is one), so an idle poller asks for a single message, which
      // it gets at once, and a busy one short-polls for a full batch of what is already there.
      // That also keeps a long poll from outliving a short visibility timeout, when local-aws-sqs
      // would return the same message twice in one response.
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: busy ? batchSize : 1,
          WaitTimeSeconds: busy ? 0 : waitTimeSeconds,
          // local-aws-sqs reads only the older parameter name; AWS accepts both.
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        busy ? {} : { abortSignal: abandon.signal },
      );
      if (Messages.length === 0) lastEmptyReceiveStartedAt = Math.max(lastEmptyReceiveStartedAt, startedAt);
      return Messages;
    } finally {
      receivesUnderWay.delete(startedAt);
    }
  }

  async function handleBatch(messages: Message[], { arn, region, account }: EventSource): Promise<void> {
    const records = uniqueById(messages).map((message) => toLambdaSqsRecord(message, arn, region));
    const context = lambdaContext(functionName, functionTimeoutMs, region, account);
    let response: unknown;
    try {
      response = await withTimeout(handler({ Records: records }, context), functionTimeoutMs);
    } catch (error) {
      report(error);
      return;
    }
    const parsed = BatchResponseSchema.safeParse(response);
    if (!parsed.success) {
      report(new Error(`SQS handler returned an invalid batch response: ${parsed.error.message}`));
      return;
    }
    const failed = new Set((parsed.data?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    const unknown = [...failed].filter((id) => !records.some((record) => record.messageId === id));
    if (unknown.length > 0) {
      // As Lambda does: an identifier that is empty or not in the batch fails the whole batch.
      report(new Error(`SQS handler reported batchItemFailures not in the batch: ${unknown.join(', ')}`));
      return;
    }
    const succeeded = records.filter((record) => !failed.has(record.messageId));
    if (succeeded.length === 0) return;
    const result = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: succeeded.map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle })),
      }),
    );
    for (const failure of result.Failed ?? []) {
      const record = succeeded[Number(failure.Id)];
      report(new Error(`could not delete message ${record?.messageId}: ${failure.Code} ${failure.Message}`));
    }
  }

  async function pollLoop(): Promise<void> {
    let busy = false;
    let failures = 0;
    while (!stopped) {
      try {
        // Known before receiving: a received batch that cannot be delivered would sit out its visibility timeout.
        const source = await eventSource();
        const messages = await receive(busy);
        busy = messages.length > 0;
        if (busy) {
          batchesInFlight += 1;
          try {
            await handleBatch(messages, source);
          } finally {
            batchesInFlight -= 1;
          }
        } else if (waitTimeSeconds === 0) {
          await pause(SHORT_POLL_PAUSE_MS);
        }
        failures = 0;
      } catch (error) {
        if (stopped) return;
        report(error);
        failures += 1;
        busy = false;
        await pause(Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** (failures - 1)));
      }
    }
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      wakers.add(wake);
      timer = setTimeout(wake, ms);
    });
  }

  const loops = Array.from({ length: concurrency }, () => pollLoop().catch(report));

  return {
    async stop() {
      stopped = true;
      abandon.abort();
      for (const wake of [...wakers]) wake();
      await Promise.all(loops);
    },
    async idle() {
      const mark = ++tick;
      const isIdle = () =>
        batchesInFlight === 0 && lastEmptyReceiveStartedAt > mark && [...receivesUnderWay].every((startedAt) => startedAt > mark);
      while (!isIdle()) {
        if (stopped) throw new Error('SQS poller stopped before it was idle');
        await new Promise((resolve) => setTimeout(resolve, IDLE_CHECK_MS));
      }
    },
  };
}

/** Keeps the last copy of a message received twice in one response (its receipt handle is the live one). */
function uniqueById(messages: Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const message of messages) byId.set(message.MessageId ?? '', message);
  return [...byId.values()];
}

/** An SQS message as Lambda puts it in the event (JSON, so binary values are base64). */
export function toLambdaSqsRecord(message: Message, eventSourceArn: string, awsRegion: string): SQSRecord {
  const { ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, ...otherAttributes } =
    message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: ApproximateReceiveCount ?? '',
    SentTimestamp: SentTimestamp ?? '',
    SenderId: SenderId ?? '',
    ApproximateFirstReceiveTimestamp: ApproximateFirstReceiveTimestamp ?? '',
    ...otherAttributes,
  };
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, messageAttributeToJson(value)]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes === undefined ? {} : { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN: eventSourceArn,
    awsRegion,
  };
}

function messageAttributeToJson(value: MessageAttributeValue): SQSMessageAttribute {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
    ...(value.BinaryValue === undefined ? {} : { binaryValue: base64(value.BinaryValue) }),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  };
}

function lambdaContext(functionName: string, timeoutMs: number, region: string, account: string): LocalLambdaContext {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error('callback-style completion (done/fail/succeed) is not supported: return a promise');
  };
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Lambda ends a call at its timeout and counts it as failed. We cannot end a promise, so its late
 * result is ignored instead (the batch is not deleted) and stop() does not wait for it.
 */
async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    // A handler that fails after its timeout must not become an unhandled rejection.
    work.catch(() => undefined);
  }
}
