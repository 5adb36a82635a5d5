// The local SQS event source against the local-aws-sqs server: the records the handler receives,
// what is deleted, what comes back after the visibility timeout, and redrive to the DLQ.
import { createHash, randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startSqsPoller, type LocalLambdaContext, type SqsPoller, type SqsPollerOptions } from '../../local/sqs-poller.js';
import { createQueues, startSqsServer, type SqsServer, type TaskQueues } from '../../local/sqs-server.js';
import { deferred, waitFor } from './local-support.js';

let server: SqsServer;
let sqs: SQSClient;
let poller: SqsPoller | undefined;

beforeAll(async () => {
  server = await startSqsServer();
  sqs = new SQSClient({ ...LOCAL_AWS, endpoint: server.endpoint });
});

afterAll(async () => {
  sqs.destroy();
  await server.stop();
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

/** Fresh queues per test; a 1 s visibility timeout and maxReceiveCount 2 keep redelivery tests short. */
function queues(): Promise<TaskQueues> {
  const name = `t-${randomUUID()}`;
  return createQueues(sqs, { taskQueueName: name, dlqName: `${name}-dlq`, visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
}

/** The handler may be synchronous here; the poller gets it as the async function Lambda would run. */
function start(
  queue: TaskQueues,
  handler: (event: SQSEvent, context: LocalLambdaContext) => SQSBatchResponse | void | Promise<SQSBatchResponse | void>,
  options: Partial<SqsPollerOptions> = {},
): SqsPoller {
  poller = startSqsPoller({
    sqs,
    queueUrl: queue.taskQueueUrl,
    handler: (event, context) => Promise.resolve().then(() => handler(event, context)),
    waitTimeSeconds: 0,
    ...options,
  });
  return poller;
}

async function send(queueUrl: string, body: string, attributes?: Record<string, MessageAttributeValue>): Promise<string> {
  const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: attributes }));
  return MessageId ?? '';
}

/** Messages in the queue, visible or in flight (one number locally: local-aws-sqs counts both). */
async function messagesIn(queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible);
}

describe('createQueues', () => {
  it('creates the task queue with its visibility timeout, redriving to the DLQ after maxReceiveCount', async () => {
    const queue = await queues();
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.taskQueueUrl, AttributeNames: ['All'] }));
    expect(Attributes?.VisibilityTimeout).toBe('1');
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: queue.taskDlqArn, maxReceiveCount: 2 });
    expect(queue.taskQueueArn).toMatch(/^arn:aws:sqs:[a-z0-9-]+:\d{12}:t-/);
  });
});

describe('startSqsPoller', () => {
  it("delivers messages as Lambda's records and deletes the ones that succeeded", async () => {
    const queue = await queues();
    const sent = await send(queue.taskQueueUrl, '{"taskId":"a"}', {
      kind: { DataType: 'String', StringValue: 'task' },
      attempt: { DataType: 'Number', StringValue: '1' },
      raw: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 255]) },
    });
    await send(queue.taskQueueUrl, 'second');
    const records: SQSRecord[] = [];
    const contexts: LocalLambdaContext[] = [];
    const remaining: number[] = [];
    const poller = start(
      queue,
      (event, context) => {
        records.push(...event.Records);
        contexts.push(context);
        remaining.push(context.getRemainingTimeInMillis());
      },
      { functionTimeoutMs: 60_000, queueArn: queue.taskQueueArn },
    );
    await poller.idle();

    expect(records.map((record) => record.body).sort()).toEqual(['second', '{"taskId":"a"}']);
    const record = records.find((candidate) => candidate.messageId === sent);
    expect(record).toEqual({
      messageId: sent,
      receiptHandle: expect.any(String),
      body: '{"taskId":"a"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        kind: { stringValue: 'task', stringListValues: [], binaryListValues: [], dataType: 'String' },
        attempt: { stringValue: '1', stringListValues: [], binaryListValues: [], dataType: 'Number' },
        raw: { binaryValue: 'AQL/', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      },
      md5OfBody: createHash('md5').update('{"taskId":"a"}').digest('hex'),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: queue.taskQueueArn,
      awsRegion: queue.taskQueueArn.split(':')[3],
    });
    expect(records.find((candidate) => candidate.body === 'second')).not.toHaveProperty('md5OfMessageAttributes');
    for (const event of records) expect(JSON.parse(JSON.stringify(event))).toEqual(event);
    expect(contexts[0]).toMatchObject({ functionName: expect.any(String), awsRequestId: expect.any(String) });
    expect(Math.min(...remaining)).toBeGreaterThan(50_000);
    expect(Math.max(...remaining)).toBeLessThanOrEqual(60_000);
    expect(await messagesIn(queue.taskQueueUrl)).toBe(0);
  });

  it('redelivers a message named in batchItemFailures with ApproximateReceiveCount 2, then SQS moves it to the DLQ', async () => {
    const queue = await queues();
    const bad = await send(queue.taskQueueUrl, 'bad');
    await send(queue.taskQueueUrl, 'good');
    const deliveries: Array<{ body: string; count: string }> = [];
    // The default long polling, which is how `npm start` runs.
    start(
      queue,
      (event: SQSEvent): SQSBatchResponse => {
        for (const record of event.Records) deliveries.push({ body: record.body, count: record.attributes.ApproximateReceiveCount });
        return { batchItemFailures: event.Records.filter((record) => record.body === 'bad').map((record) => ({ itemIdentifier: record.messageId })) };
      },
      { waitTimeSeconds: 1, batchSize: 10 },
    );

    const dead = await waitFor('the failed message in the DLQ', async () => {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.taskDlqUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 0, AttributeNames: ['All'] }),
      );
      return Messages?.[0];
    });
    expect(dead.MessageId).toBe(bad);
    expect(dead.Body).toBe('bad');
    expect(deliveries.filter((delivery) => delivery.body === 'bad').map((delivery) => delivery.count)).toEqual(['1', '2']);
    expect(deliveries.filter((delivery) => delivery.body === 'good')).toEqual([{ body: 'good', count: '1' }]);
    expect(await messagesIn(queue.taskQueueUrl)).toBe(0);
  });

  it('deletes nothing of a batch whose handler threw: it comes back after the visibility timeout', async () => {
    const queue = await queues();
    await send(queue.taskQueueUrl, 'only');
    const counts: string[] = [];
    const errors: unknown[] = [];
    start(
      queue,
      (event) => {
        counts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
        if (counts.length === 1) throw new Error('worker crashed');
      },
      { onError: (error) => errors.push(error) },
    );

    await waitFor('the second delivery', () => counts.length >= 2);
    await waitFor('the message to be deleted', async () => (await messagesIn(queue.taskQueueUrl)) === 0);
    expect(counts).toEqual(['1', '2']);
    expect(errors).toEqual([expect.objectContaining({ message: 'worker crashed' })]);
  });

  it('counts a handler call that outlives functionTimeoutMs as failed', async () => {
    const queue = await queues();
    await send(queue.taskQueueUrl, 'slow');
    const counts: string[] = [];
    const errors: unknown[] = [];
    start(
      queue,
      async (event) => {
        counts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
        if (counts.length === 1) await new Promise((resolve) => setTimeout(resolve, 300));
      },
      { functionTimeoutMs: 100, onError: (error) => errors.push(error) },
    );

    await waitFor('the redelivery after the timeout', () => counts.length >= 2);
    await waitFor('the message to be deleted', async () => (await messagesIn(queue.taskQueueUrl)) === 0);
    expect(counts).toEqual(['1', '2']);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/timed out/) })]);
  });

  it('runs batches on parallel pollers, each batch at most batchSize', async () => {
    const queue = await queues();
    for (let i = 0; i < 12; i++) await send(queue.taskQueueUrl, `m${i}`);
    const sizes: number[] = [];
    let running = 0;
    let mostRunning = 0;
    const poller = start(
      queue,
      async (event) => {
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        sizes.push(event.Records.length);
        await new Promise((resolve) => setTimeout(resolve, 100));
        running -= 1;
      },
      { batchSize: 3, concurrency: 3 },
    );
    await poller.idle();

    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(12);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(mostRunning).toBeGreaterThan(1);
    expect(mostRunning).toBeLessThanOrEqual(3);
  });

  it('stop() waits for the batch in flight, including its deletion', async () => {
    const queue = await queues();
    await send(queue.taskQueueUrl, 'held');
    const release = deferred();
    let entered = false;
    const poller = start(queue, async () => {
      entered = true;
      await release.promise;
    });
    await waitFor('the handler to be called', () => entered);

    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(await messagesIn(queue.taskQueueUrl)).toBe(0);
  });

  it("stop() abandons an idle long poll instead of waiting out Lambda's 20 s, and a message sent meanwhile is delivered", async () => {
    const queue = await queues();
    const bodies: string[] = [];
    start(queue, (event) => void bodies.push(...event.Records.map((record) => record.body)), { waitTimeSeconds: 20, concurrency: 2 });
    // The long polls return at the first message, not after their wait.
    await send(queue.taskQueueUrl, 'first');
    await waitFor('the message sent during the long poll', () => bodies.includes('first'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = await Promise.race([
      poller?.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000)),
    ]);
    expect(stopped).toBe('stopped');
  });
});
