// The fault-injection middleware against the real DynamoDB Local of the global setup and a local
// SQS server: each fault reaches the caller as AWS's would, through the SDK's own retry strategy
// (the middleware sits below it), and the fault's effect on the stored state is the real one.
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  RequestLimitExceeded,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { createQueues, startSqsServer, type SqsServer } from '../../local/sqs-server.js';
import { FAULT_MIDDLEWARE_NAME, createFaultInjector, mulberry32, type FaultInjector, type FaultProfile } from '../../shared/aws/fault-injection.js';

const tableName = `faults-${randomUUID()}`;
const clients: { destroy(): void }[] = [];
let plain: DynamoDBClient;

/** A DynamoDB client with its own injector attached, destroyed after the file. */
function faultyDynamo(maxAttempts: number, profile?: FaultProfile): { client: DynamoDBClient; injector: FaultInjector } {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: inject('dynamoEndpoint'), maxAttempts });
  clients.push(client);
  const injector = createFaultInjector(profile);
  injector.attach(client);
  return { client, injector };
}

/** The rejection of `promise`; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<any> {
  return promise.then(
    () => expect.fail('expected the request to fail'),
    (error: unknown) => error,
  );
}

async function stored(pk: string): Promise<Record<string, any> | undefined> {
  const { Item } = await plain.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } }, ConsistentRead: true }));
  return Item;
}

beforeAll(async () => {
  plain = new DynamoDBClient({ ...LOCAL_AWS, endpoint: inject('dynamoEndpoint') });
  await plain.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client: plain, maxWaitTime: 30 }, { TableName: tableName });
  await plain.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'existing' }, value: { N: '1' } } }));
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await plain.send(new DeleteTableCommand({ TableName: tableName }));
  plain.destroy();
});

const getExisting = () => new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'existing' } } });

describe('placement and switching', () => {
  it('sits in finalizeRequest directly after the SDK retry middleware', () => {
    const { client } = faultyDynamo(3);
    const stack = client.middlewareStack.identify();
    const retry = stack.findIndex((entry) => entry.startsWith('retryMiddleware '));
    expect(retry).toBeGreaterThanOrEqual(0);
    expect(stack[retry + 1]).toBe(`${FAULT_MIDDLEWARE_NAME} - after retryMiddleware`);
  });

  it('is off without a profile: requests pass and nothing is counted', async () => {
    const { client, injector } = faultyDynamo(3);
    const { Item } = await client.send(getExisting());
    expect(Item?.value).toEqual({ N: '1' });
    expect(injector.enabled).toBe(false);
    expect(injector.stats()).toEqual({});
  });

  it('can be switched on and off at runtime', async () => {
    const { client, injector } = faultyDynamo(1);
    injector.configure({ rules: { internalError: { GetItem: 1 } } });
    await expect(client.send(getExisting())).rejects.toBeInstanceOf(InternalServerError);
    injector.disable();
    await expect(client.send(getExisting())).resolves.toMatchObject({ Item: { value: { N: '1' } } });
    expect(injector.stats()).toEqual({ GetItem: { attempts: 1, internalError: 1 } });
  });
});

describe('throttle', () => {
  it('at rate 1 fails a GetItem with a throttling error after exactly maxAttempts attempts', async () => {
    const { client, injector } = faultyDynamo(3, { seed: 1, rules: { throttle: { GetItem: 1 } } });
    const error = await rejection(client.send(getExisting()));
    expect(
      error instanceof ProvisionedThroughputExceededException || error instanceof ThrottlingException || error instanceof RequestLimitExceeded,
    ).toBe(true);
    expect(error.$retryable).toEqual({ throttling: true });
    expect(error.$metadata.httpStatusCode).toBe(400);
    // Three attempts went through the middleware: it sits below the retry loop.
    expect(injector.stats()).toEqual({ GetItem: { attempts: 3, throttle: 3 } });
    expect(error.$metadata.attempts).toBe(3);
  });

  it('at rate 0 (or for another operation) lets the request through', async () => {
    const { client, injector } = faultyDynamo(3, { rules: { throttle: { GetItem: 0, PutItem: 1 } } });
    const { Item } = await client.send(getExisting());
    expect(Item?.value).toEqual({ N: '1' });
    expect(injector.stats()).toEqual({ GetItem: { attempts: 1 } });
  });

  it('at rate 0.5 is mostly absorbed by the SDK retry (seeded, so the same every run)', async () => {
    const profile: FaultProfile = { seed: 42, rules: { throttle: { '*': 0.5 } } };
    const tenGets = async (client: DynamoDBClient): Promise<number> => {
      let succeeded = 0;
      for (let i = 0; i < 10; i += 1) {
        try {
          await client.send(getExisting());
          succeeded += 1;
        } catch (error) {
          expect(error).toHaveProperty('$retryable', { throttling: true });
        }
      }
      return succeeded;
    };

    const withRetries = faultyDynamo(3, profile);
    const succeeded = await tenGets(withRetries.client);
    const { attempts = 0, throttle = 0 } = withRetries.injector.stats().GetItem ?? {};
    // Every attempt was either throttled or answered; a request fails only after 3 throttles.
    expect(attempts).toBe(throttle + succeeded);
    expect(throttle).toBeGreaterThanOrEqual(3);
    expect(succeeded).toBeGreaterThanOrEqual(8);

    // The same faults without the SDK's retries: about half the requests fail.
    const withoutRetries = faultyDynamo(1, profile);
    expect(await tenGets(withoutRetries.client)).toBeLessThan(succeeded - 2);
  });
});

describe('transactionConflict', () => {
  it('cancels a TransactWriteItems with a TransactionConflict reason, writing nothing, and is not retried', async () => {
    const { client, injector } = faultyDynamo(3, { seed: 3, rules: { transactionConflict: { TransactWriteItems: 1 } } });
    const keys = ['tx-a', 'tx-b', 'tx-c'].map((name) => `${name}-${randomUUID()}`);
    const error = await rejection(
      client.send(
        new TransactWriteItemsCommand({
          TransactItems: keys.map((pk) => ({ Put: { TableName: tableName, Item: { pk: { S: pk } } } })),
        }),
      ),
    );
    expect(error).toBeInstanceOf(TransactionCanceledException);
    const codes = (error as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code);
    expect(codes).toHaveLength(3);
    expect(codes?.filter((code) => code === 'TransactionConflict')).toHaveLength(1);
    expect(codes?.filter((code) => code === 'None')).toHaveLength(2);
    expect(error.$metadata.attempts).toBe(1);
    expect(injector.stats()).toEqual({ TransactWriteItems: { attempts: 1, transactionConflict: 1 } });
    for (const pk of keys) expect(await stored(pk)).toBeUndefined();
  });

  it('fails an UpdateItem (through the document client) with TransactionConflictException, item unchanged', async () => {
    const pk = `conflict-${randomUUID()}`;
    await plain.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: pk }, value: { N: '1' } } }));
    const { client, injector } = faultyDynamo(3, { rules: { transactionConflict: { UpdateItem: 1 } } });
    const documents = DynamoDBDocumentClient.from(client);
    const update = new UpdateCommand({
      TableName: tableName,
      Key: { pk },
      UpdateExpression: 'SET #v = :v',
      ExpressionAttributeNames: { '#v': 'value' },
      ExpressionAttributeValues: { ':v': 2 },
    });
    const error = await rejection(documents.send(update));
    expect(error).toBeInstanceOf(TransactionConflictException);
    // The document client's UpdateCommand is counted under DynamoDB's operation name.
    expect(injector.stats()).toEqual({ UpdateItem: { attempts: 1, transactionConflict: 1 } });
    expect((await stored(pk))?.value).toEqual({ N: '1' });
  });
});

describe('internalError', () => {
  it('is a 500 InternalServerError, which the SDK retries', async () => {
    const { client, injector } = faultyDynamo(2, { rules: { internalError: { GetItem: 1 } } });
    const error = await rejection(client.send(getExisting()));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.$metadata).toMatchObject({ httpStatusCode: 500, attempts: 2 });
    expect(injector.stats()).toEqual({ GetItem: { attempts: 2, internalError: 2 } });
  });
});

describe('ambiguous', () => {
  const conditionalPut = (pk: string) =>
    new PutItemCommand({
      TableName: tableName,
      Item: { pk: { S: pk }, value: { N: '7' } },
      ConditionExpression: 'attribute_not_exists(pk)',
    });

  it('applies the write, then the caller (without retries) sees a timeout', async () => {
    const pk = `ambiguous-${randomUUID()}`;
    const { client, injector } = faultyDynamo(1, { rules: { ambiguous: { PutItem: 1 } } });
    const error = await rejection(client.send(conditionalPut(pk)));
    expect(error.name).toBe('TimeoutError');
    expect((await stored(pk))?.value).toEqual({ N: '7' });
    expect(injector.stats()).toEqual({ PutItem: { attempts: 1, ambiguous: 1 } });
  });

  it('applies the write, and the SDK retry then fails its condition: ConditionalCheckFailed for an applied write', async () => {
    const pk = `ambiguous-${randomUUID()}`;
    const { client, injector } = faultyDynamo(3, { rules: { ambiguous: { PutItem: 1 } } });
    const error = await rejection(client.send(conditionalPut(pk)));
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect(error.$metadata.attempts).toBe(2);
    expect((await stored(pk))?.value).toEqual({ N: '7' });
    // The retry's rejection is the service's answer, not a lost one: counted once.
    expect(injector.stats()).toEqual({ PutItem: { attempts: 2, ambiguous: 1 } });
  });
});

describe('latency', () => {
  it('delays each attempt by the configured milliseconds, fixed or drawn from a range', async () => {
    const { client, injector } = faultyDynamo(1, { latencyMs: { GetItem: 250, '*': [100, 150] } });
    let started = performance.now();
    await client.send(getExisting());
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);

    started = performance.now();
    await client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: `latency-${randomUUID()}` } } }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(injector.stats()).toEqual({ GetItem: { attempts: 1, latency: 1 }, PutItem: { attempts: 1, latency: 1 } });
  });
});

describe('SQS', () => {
  let server: SqsServer;
  let observer: SQSClient;

  beforeAll(async () => {
    server = await startSqsServer();
    observer = new SQSClient({ ...LOCAL_AWS, endpoint: server.endpoint });
  });

  afterAll(async () => {
    observer.destroy();
    await server.stop();
  });

  function faultySqs(maxAttempts: number, profile: FaultProfile): { sqs: SQSClient; injector: FaultInjector } {
    const sqs = new SQSClient({ ...LOCAL_AWS, endpoint: server.endpoint, maxAttempts });
    clients.push(sqs);
    const injector = createFaultInjector(profile);
    injector.attach(sqs);
    return { sqs, injector };
  }

  async function freshQueue(): Promise<string> {
    const name = `faults-${randomUUID()}`;
    const { taskQueueUrl } = await createQueues(observer, { taskQueueName: name, dlqName: `${name}-dlq`, visibilityTimeoutSeconds: 60 });
    return taskQueueUrl;
  }

  /** Every body in the queue (each received once: the visibility timeout outlasts the test). */
  async function drain(queueUrl: string): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const { Messages = [] } = await observer.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (Messages.length === 0) return bodies.sort();
      bodies.push(...Messages.map((message) => message.Body ?? ''));
    }
  }

  const batch = (queueUrl: string) =>
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: [
        { Id: 'a', MessageBody: 'a' },
        { Id: 'b', MessageBody: 'b' },
      ],
    });

  it('a throttled SendMessageBatch fails after the SDK attempts, and nothing is enqueued', async () => {
    const queueUrl = await freshQueue();
    const { sqs, injector } = faultySqs(3, { seed: 5, rules: { throttle: { SendMessageBatch: 1 } } });
    const error = await rejection(sqs.send(batch(queueUrl)));
    expect(['RequestThrottled', 'ThrottlingException']).toContain(error.name);
    expect(error.$metadata.attempts).toBe(3);
    expect(injector.stats()).toEqual({ SendMessageBatch: { attempts: 3, throttle: 3 } });
    expect(await drain(queueUrl)).toEqual([]);
  });

  it('an ambiguous SendMessageBatch enqueues the messages although the caller sees a timeout', async () => {
    const queueUrl = await freshQueue();
    const { sqs } = faultySqs(1, { rules: { ambiguous: { SendMessageBatch: 1 } } });
    const error = await rejection(sqs.send(batch(queueUrl)));
    expect(error.name).toBe('TimeoutError');
    expect(await drain(queueUrl)).toEqual(['a', 'b']);
  });

  it('each SDK retry of an ambiguous SendMessageBatch enqueues the messages again', async () => {
    const queueUrl = await freshQueue();
    const { sqs, injector } = faultySqs(3, { rules: { ambiguous: { SendMessageBatch: 1 } } });
    const error = await rejection(sqs.send(batch(queueUrl)));
    expect(error.name).toBe('TimeoutError');
    expect(error.$metadata.attempts).toBe(3);
    expect(injector.stats()).toEqual({ SendMessageBatch: { attempts: 3, ambiguous: 3 } });
    expect(await drain(queueUrl)).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
  });

  it('a send that succeeds on the retry after an ambiguous attempt has enqueued duplicates', async () => {
    // One draw per attempt: find a seed whose first draw strikes (< 0.5) and second does not.
    let seed = 0;
    for (;;) {
      const random = mulberry32(seed);
      if (random() < 0.5 && random() >= 0.5) break;
      seed += 1;
    }
    const queueUrl = await freshQueue();
    const { sqs, injector } = faultySqs(3, { seed, rules: { ambiguous: { SendMessageBatch: 0.5 } } });
    const { Successful = [] } = await sqs.send(batch(queueUrl));
    expect(Successful).toHaveLength(2);
    expect(injector.stats()).toEqual({ SendMessageBatch: { attempts: 2, ambiguous: 1 } });
    expect(await drain(queueUrl)).toEqual(['a', 'a', 'b', 'b']);
  });
});
