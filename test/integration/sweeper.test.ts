// The sweeper on its own, with a clock moved forward, on DynamoDB Local and the SQS server: it
// releases retries parked as WAITING, re-sends the message of a QUEUED task that was never claimed
// (once, however many sweepers overlap), leaves what is not due alone, and is never starved: items
// whose handling fails are put off and the rest are still handled.
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startSqsServer, type SqsServer } from '../../local/sqs-server.js';
import { keys } from '../../shared/aws/dynamo/keys.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import { SqsTaskQueue } from '../../shared/aws/sqs-queue.js';
import { DefinitionCache } from '../../shared/engine/definition-cache.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import type { StoredDefinition } from '../../shared/engine/records.js';
import { Sweeper } from '../../shared/engine/sweeper.js';
import { assertDefinition } from '../../shared/model/definition.js';
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
    tasks: [
      { id: 'slow', handler: 'h', retry: { maxRetries: 5, initialDelaySeconds: 3_600, maxDelaySeconds: 3_600 } },
      ...Array.from({ length: 300 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const })),
    ],
  });
  const { version } = await table.store.definitions.saveDefinition(parsed);
  definition = (await table.store.definitions.getDefinition('swept', version)) as StoredDefinition;
});

// Each test moves the clock as it needs: the sweeper's mark of the one before is forgotten.
beforeEach(async () => {
  await table.client.send(new DeleteCommand({ TableName: table.tableName, Key: keys.sweepMark() }));
});

afterAll(async () => {
  sqs.destroy();
  await sqsServer.stop();
  await table.drop();
});

function storeAt(at: Date): EngineStore {
  return createDynamoStore({ client: table.client, tableName: table.tableName, now: () => at });
}

/** A sweeper, and the store it writes through, both with the clock at `at`. */
function sweeperAt(at: Date, store: EngineStore = storeAt(at)): Sweeper {
  return new Sweeper({ ...store, queue: new SqsTaskQueue({ sqs, queueUrl }), definitions: new DefinitionCache(store.definitions), now: () => at });
}

async function receiveAll(): Promise<Array<{ runId: string; taskId: string; attempt: number }>> {
  const received: Array<{ runId: string; taskId: string; attempt: number }> = [];
  for (;;) {
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    if ((Messages ?? []).length === 0) return received;
    received.push(...(Messages ?? []).map((message) => JSON.parse(message.Body ?? 'null') as { runId: string; taskId: string; attempt: number }));
  }
}

async function newRun(): Promise<string> {
  const { runId } = await table.store.runs.createRun({ runId: randomUUID(), definition, input: {}, dueAt: Date.now() + 3_600_000, groupCount: 5 });
  return runId;
}

async function queued(runId: string, taskId: string, dueAt: number): Promise<void> {
  await table.store.tasks.advance({ runId, taskId, workflowId: definition.workflowId, version: definition.version, phase: 0, next: { kind: 'queue', dueAt }, opToken: randomUUID() });
}

describe('Sweeper', () => {
  it('releases a retry parked as WAITING once it is due, and not before', async () => {
    const runId = await newRun();
    await queued(runId, 'slow', Date.now() + 3_600_000);
    const leaseToken = randomUUID();
    await table.store.tasks.claim({ runId, taskId: 'slow', attempt: 1, leaseToken, leaseExpiresAt: Date.now() + 60_000, opToken: randomUUID() });
    const dueAt = Date.now() + 3_600_000;
    const now = new Date().toISOString();
    await table.store.tasks.retry({
      runId,
      taskId: 'slow',
      attempt: 1,
      fence: { kind: 'lease', leaseToken },
      record: { attempt: 1, phase: 0, startedAt: now, completedAt: now, durationMs: 0, outcome: 'RETRIED' },
      keptAttempts: [],
      opToken: randomUUID(),
      error: { name: 'E', message: 'm', retryable: true },
      next: { status: 'WAITING', dueAt },
    });
    expect((await sweeperAt(new Date(dueAt - 60_000)).sweep(5_000)).released).toBe(0);
    expect((await sweeperAt(new Date(dueAt + 1_000)).sweep(5_000)).released).toBe(1);
    expect(await table.store.tasks.getTask(runId, 'slow')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect((await receiveAll()).filter((message) => message.runId === runId)).toEqual([expect.objectContaining({ taskId: 'slow', attempt: 2 })]);
  });

  it('re-sends the message of a QUEUED task that was never claimed, once, however many sweepers overlap', async () => {
    const runId = await newRun();
    await queued(runId, 't0', Date.now() + 1_000);
    const later = new Date(Date.now() + 5_000);
    const [first, second] = await Promise.all([sweeperAt(later).sweep(5_000), sweeperAt(later).sweep(5_000)]);
    expect((first?.resent ?? 0) + (second?.resent ?? 0)).toBe(1);
    expect((await receiveAll()).filter((message) => message.runId === runId)).toHaveLength(1);
  });

  it('is not starved: 300 items whose handling fails are put off, and the one that can be handled is', async () => {
    const runId = await newRun();
    const dueAt = Date.now() + 1_000;
    for (let i = 0; i < 300; i++) await queued(runId, `t${i}`, dueAt);
    const later = new Date(Date.now() + 10_000);
    const store = storeAt(later);
    // Every re-send of t0..t299 fails, as a broken item would, except t7's.
    const failing: EngineStore = {
      ...store,
      tasks: Object.assign(Object.create(store.tasks) as EngineStore['tasks'], {
        // The re-send moves the due time on by the delivery grace (5 minutes); the put-off after a
        // failure by a minute, which is let through.
        deferDue: (params: Parameters<EngineStore['tasks']['deferDue']>[0]) =>
          params.taskId !== 't7' && params.next - later.getTime() > 120_000
            ? Promise.reject(new Error(`item ${params.taskId} is broken`))
            : store.tasks.deferDue(params),
      }),
    };
    const report = await sweeperAt(later, failing).sweep(30_000);
    expect(report).toMatchObject({ resent: 1, failed: 299 });
    expect((await receiveAll()).filter((message) => message.runId === runId).map((message) => message.taskId)).toEqual(['t7']);
    // The failing ones were put off (with a backoff): the next sweep a moment later does not see them.
    expect((await sweeperAt(new Date(later.getTime() + 1_000)).sweep(30_000)).failed).toBe(0);
  }, 120_000);
});
