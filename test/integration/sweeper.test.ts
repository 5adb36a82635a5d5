// The sweeper on its own, with a clock moved forward: it releases retries parked as WAITING
// (backoffs longer than SQS can delay), re-sends the message of a QUEUED task that was never
// claimed, and leaves everything that is not yet due alone. It reads the expiry index only.
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startSqsServer, type SqsServer } from '../../local/sqs-server.js';
import { DefinitionCache } from '../../shared/engine/definition-cache.js';
import { assertDefinition } from '../../shared/model/definition.js';
import { SqsTaskQueue } from '../../shared/aws/sqs-queue.js';
import { DynamoStore, type StoredDefinition } from '../../shared/aws/dynamo/store.js';
import { Sweeper } from '../../shared/engine/sweeper.js';
import { createTestTable, type TestTable } from './support.js';

let table: TestTable;
let sqsServer: SqsServer;
let sqs: SQSClient;
let queueUrl: string;
let definition: StoredDefinition;

beforeAll(async () => {
  table = await createTestTable();
  sqsServer = await startSqsServer();
  sqs = new SQSClient({ ...LOCAL_AWS, endpoint: sqsServer.endpoint });
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `sweeper-${randomUUID()}` }))).QueueUrl ?? '';
  const parsed = assertDefinition({
    id: 'swept',
    tasks: [{ id: 'slow', handler: 'h', retry: { maxRetries: 5, initialDelaySeconds: 3_600, maxDelaySeconds: 3_600 } }],
  });
  const { version } = await table.store.saveDefinition(parsed);
  definition = (await table.store.getDefinition('swept', version)) as StoredDefinition;
});

afterAll(async () => {
  sqs.destroy();
  await sqsServer.stop();
  await table.drop();
});

/** A sweeper, and the store it writes through, both with the clock at `at`. */
function sweeperAt(at: Date): Sweeper {
  const store = new DynamoStore({ client: table.client, tableName: table.tableName, now: () => at });
  return new Sweeper({ store, queue: new SqsTaskQueue({ sqs, queueUrl }), definitions: new DefinitionCache(store), now: () => at });
}

async function receiveAll(): Promise<unknown[]> {
  const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  return (Messages ?? []).map((message) => JSON.parse(message.Body ?? 'null') as unknown);
}

describe('Sweeper', () => {
  it('releases a retry parked as WAITING once it is due, and not before', async () => {
    const { runId } = await table.store.createRun({ runId: randomUUID(), definition, input: {} });
    await table.store.queueTask({ runId, taskId: 'slow', expected: { status: 'PENDING', attempt: 0 }, attempt: 1, deliveryTimeoutSeconds: 300 });
    const claim = await table.store.claimTask({ runId, taskId: 'slow', attempt: 1, leaseSeconds: 60 });
    if (claim.outcome !== 'claimed') throw new Error('claim failed');
    const dueAt = new Date(Date.now() + 3_600_000);
    const parked = await table.store.retryTask({
      runId,
      taskId: 'slow',
      attempt: 1,
      leaseToken: claim.task.leaseToken ?? '',
      startedAt: claim.task.startedAt ?? '',
      error: { name: 'Error', message: 'try again in an hour', retryable: true },
      status: 'WAITING',
      dueAt,
    });
    expect(parked.outcome).toBe('ok');

    const early = await sweeperAt(new Date(dueAt.getTime() - 60_000)).sweep(5_000);
    expect(early.released).toBe(0);
    expect((await table.store.getTask(runId, 'slow'))?.status).toBe('WAITING');

    const due = await sweeperAt(new Date(dueAt.getTime() + 1_000)).sweep(5_000);
    expect(due.released).toBe(1);
    expect(await table.store.getTask(runId, 'slow')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect(await receiveAll()).toEqual([expect.objectContaining({ runId, taskId: 'slow', attempt: 2 })]);
  });

  it('re-sends the message of a QUEUED task that was never claimed, once', async () => {
    const { runId } = await table.store.createRun({ runId: randomUUID(), definition, input: {} });
    await table.store.queueTask({ runId, taskId: 'slow', expected: { status: 'PENDING', attempt: 0 }, attempt: 1, deliveryTimeoutSeconds: 60 });
    const later = new Date(Date.now() + 120_000);
    const [first, second] = await Promise.all([sweeperAt(later).sweep(5_000), sweeperAt(later).sweep(5_000)]);
    expect((first?.resent ?? 0) + (second?.resent ?? 0)).toBe(1);
    const messages = (await receiveAll()).filter((message) => (message as { runId: string }).runId === runId);
    expect(messages).toEqual([expect.objectContaining({ runId, taskId: 'slow', attempt: 1 })]);
  });
});
