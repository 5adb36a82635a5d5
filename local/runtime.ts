// The embedded local runtime (docs/architecture.md): DynamoDB Local and the SQS protocol server
// as the real parts, the table and queues made from the shared settings, and the unchanged
// handlers driven the way AWS's event sources drive them: a stream poller for the scheduler, an
// SQS poller for the worker, an HTTP server for the API, a timer for the trigger of workflow
// schedules (EventBridge Scheduler's part). `npm start` and the integration tests both use it.
import { join } from 'node:path';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  QueryCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
  UpdateTableCommand,
  waitUntilTableExists,
  type AttributeValue,
  type GlobalSecondaryIndexDescription,
  type QueryCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBRecord } from 'aws-lambda';
import type { SchedulerHandler } from '../lambdas/scheduler/handler.js';
import { wireEngine, type Engine } from '../lambdas/wiring.js';
import { createSqsClient } from '../shared/aws/sqs-queue.js';
import type { FaultInjector } from '../shared/aws/fault-injection.js';
import { RecordedMetrics } from '../shared/engine/metrics.js';
import type { SweepReport } from '../shared/engine/sweeper.js';
import type { EngineTimings } from '../shared/engine/timing.js';
import { createDocumentClient } from '../shared/aws/dynamo/client.js';
import { createTableInput, TABLE } from '../shared/config/table-schema.js';
import { keys } from '../shared/aws/dynamo/keys.js';
import { firstCursor } from '../shared/aws/dynamo/runs-by-time.js';
import type { HandlerRegistry } from '../shared/tasks/context.js';
import { EnvironmentSecretResolver, type SecretResolver } from '../shared/tasks/secrets.js';
import { LOCAL_AWS, freePort, startDynamoDbLocal } from './dynamodb-local.js';
import { startHttpGateway } from './http-gateway.js';
import { createQueues, startSqsServer } from './sqs-server.js';
import { startSqsPoller } from './sqs-poller.js';
import { LOCAL_S3_CREDENTIALS, startS3Server } from './s3-server.js';
import { S3PayloadStore, createS3Client } from '../shared/aws/s3-payloads.js';
import { startStreamPoller } from './stream-poller.js';
import { startScheduleTimer, type ScheduleTimer } from './schedule-timer.js';

export const LOCAL_TABLE_NAME = 'dagflow';

/** The scheduler's batching window locally (on AWS its stream mapping's, see infra/constructs/state.ts). */
const DEFAULT_SCHEDULER_WINDOW_MS = 1_000;
/** Records per scheduler batch: a wide fan-out's records fit in one, so the batch shows what its worker did. */
const SCHEDULER_BATCH_SIZE = 1_000;
/** Commands (of the document client) after which the stream has something new. */
const WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand', 'BatchWriteCommand', 'TransactWriteCommand']);

/**
 * How long an idle poller of the queues waits for a message, as Lambda's own pollers do: an idle
 * engine asks SQS for messages a few times a minute, not every second (stop() abandons the wait).
 */
const LAMBDA_LONG_POLL_SECONDS = 20;

/** Hosts `http` tasks may call locally unless told otherwise (minus the engine's own ports). */
export const LOCAL_HTTP_ALLOWED_HOSTS = ['localhost', '127.0.0.1'];

/**
 * The allow-list of local `http` tasks: `allowed`, with deny entries (see host-allow-list.ts) for
 * every loopback name of the engine's own ports (DynamoDB Local, the SQS server, the API) and for
 * 0.0.0.0 and [::] on any port, so that no task reads or writes the engine's data behind its back.
 */
export function localHttpAllowedHosts(allowed: readonly string[], enginePorts: readonly number[]): string[] {
  const loopback = ['localhost', '127.0.0.1', '[::1]', '[::ffff:127.0.0.1]'];
  return [...allowed, ...enginePorts.flatMap((port) => loopback.map((host) => `!${host}:${port}`)), '!0.0.0.0', '![::]'];
}

export interface LocalRuntimeOptions {
  /** HTTP port of the API; 0 picks a free one. */
  port?: number;
  /** Where DynamoDB Local keeps its data; in memory when undefined. */
  dataDir?: string;
  handlers: HandlerRegistry;
  /** What runs record as the handler build they started on (on AWS, the worker bundle's hash). Default `local`. */
  handlerBuild?: string;
  httpAllowedHosts?: string[];
  /** Secrets of http task headers; by default DAGFLOW_SECRET_<NAME> environment variables. */
  secrets?: SecretResolver;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Parallel SQS pollers feeding the worker (like Lambda's concurrency). */
  workerConcurrency?: number;
  /** Visibility timeout of the task queue (seconds); short in tests of redelivery. */
  visibilityTimeoutSeconds?: number;
  /** Deliveries before a task message goes to the DLQ (at least 5 in AWS). */
  maxReceiveCount?: number;
  /** How often the sweeper runs (AWS: every minute; locally every few seconds). */
  sweepIntervalMs?: number;
  /** How often a running attempt checks for cancellation. */
  cancelPollMs?: number;
  /** Lease beyond a task's timeout before the sweeper takes its worker for dead. */
  leaseGraceSeconds?: number;
  /** Random source for retry jitter. */
  random?: () => number;
  /** How often the sweeper checks an unfinished run against its tasks. */
  reconcileIntervalSeconds?: number;
  /** Other timings of the engine (delivery grace, resume lease...). */
  timings?: Partial<EngineTimings>;
  /** Whether a dependent that becomes ready runs in the worker's invocation (default: yes). */
  chain?: boolean;
  /** The scheduler's batching window (ms), as its stream mapping's on AWS. */
  schedulerBatchingWindowMs?: number;
  /**
   * Stream records the scheduler never sees, as if AWS had given up on them after the mapping's
   * retries (for tests of the sweeper's safety net).
   */
  dropStreamRecord?: (record: DynamoDBRecord) => boolean;
  /**
   * Wraps the scheduler's handler as the stream poller calls it (the chaos suite replays batches,
   * as AWS may after a failed or timed-out invocation).
   */
  wrapScheduler?: (handler: SchedulerHandler) => SchedulerHandler;
  /** Faults injected into the engine's own DynamoDB and SQS clients (the chaos suite). */
  faults?: FaultInjector;
  /** Called on errors of the pollers (a failing batch is retried as AWS would). */
  onError?: (source: string, error: unknown) => void;
  /** Called after every invocation of a function, with its duration (the benchmark's Lambda cost model). */
  observeInvocation?: (fn: 'api' | 'scheduler' | 'worker' | 'sweeper' | 'dlq', ms: number) => void;
}

export interface LocalRuntime {
  apiUrl: string;
  engine: Engine;
  clients: { dynamo: ReturnType<typeof createDocumentClient>; sqs: SQSClient };
  dynamoEndpoint: string;
  sqsEndpoint: string;
  /** The S3 protocol server that keeps large payloads (bucket `dagflow-payloads`). */
  s3Endpoint: string;
  tableName: string;
  taskQueueUrl: string;
  taskDlqUrl: string;
  /** On a restart on existing data: what was recovered from before (see Sweeper.recoverAfterRestart). */
  recovered?: SweepReport;
  /** Fires workflow schedules (EventBridge Scheduler's part); `fireDue(now)` moves its time on in tests. */
  scheduleTimer: ScheduleTimer;
  stop(): Promise<void>;
}

export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) {
      await step().catch(() => undefined);
    }
  };
  try {
    const dynamoLocal = await startDynamoDbLocal(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
    stops.push(() => dynamoLocal.stop());
    const sqsServer = await startSqsServer();
    stops.push(() => sqsServer.stop());
    const s3Server = await startS3Server(options.dataDir === undefined ? {} : { directory: join(options.dataDir, 's3') });
    stops.push(() => s3Server.stop());

    const rawDynamo = new DynamoDBClient({ ...LOCAL_AWS, endpoint: dynamoLocal.endpoint });
    const dynamo = createDocumentClient({ ...LOCAL_AWS, endpoint: dynamoLocal.endpoint });
    const sqs = createSqsClient({ ...LOCAL_AWS, endpoint: sqsServer.endpoint });
    options.faults?.attach(dynamo);
    options.faults?.attach(sqs);
    const streams = new DynamoDBStreamsClient({ ...LOCAL_AWS, endpoint: dynamoLocal.endpoint });
    const s3 = createS3Client({ region: LOCAL_AWS.region, credentials: LOCAL_S3_CREDENTIALS, endpoint: s3Server.endpoint });
    stops.push(() => {
      for (const client of [rawDynamo, dynamo, sqs, streams, s3]) client.destroy();
      return Promise.resolve();
    });

    const { streamArn, existed } = await ensureTable(rawDynamo, LOCAL_TABLE_NAME);
    const queues = await createQueues(sqs, {
      ...(options.visibilityTimeoutSeconds === undefined ? {} : { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds }),
      ...(options.maxReceiveCount === undefined ? {} : { maxReceiveCount: options.maxReceiveCount }),
    });

    // Schedules fire from the timer started below; the API tells it of every change through this.
    const started: { timer?: ScheduleTimer } = {};
    const scheduleTarget = {
      put: (schedule: Parameters<ScheduleTimer['put']>[0]) => started.timer?.put(schedule) ?? Promise.resolve(),
      remove: (schedule: Parameters<ScheduleTimer['remove']>[0]) => started.timer?.remove(schedule) ?? Promise.resolve(),
    };

    // The API's port is chosen now (it starts last) so that http tasks can be denied it too.
    const apiPort = options.port === undefined || options.port === 0 ? await freePort() : options.port;
    const engine = wireEngine({
      clients: { dynamo, sqs },
      tableName: LOCAL_TABLE_NAME,
      taskQueueUrl: queues.taskQueueUrl,
      payloads: new S3PayloadStore(s3, s3Server.bucket),
      httpAllowedHosts: localHttpAllowedHosts(options.httpAllowedHosts ?? LOCAL_HTTP_ALLOWED_HOSTS, [dynamoLocal.port, sqsServer.port, s3Server.port, apiPort]),
      handlers: options.handlers,
      handlerBuild: options.handlerBuild ?? 'local',
      scheduleTarget,
      secrets: options.secrets ?? new EnvironmentSecretResolver(),
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
      cancelPollMs: options.cancelPollMs ?? 500,
      // Locally there is no CloudWatch to read EMF lines: metrics are kept in memory.
      metrics: new RecordedMetrics(),
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.chain === undefined ? {} : { chain: options.chain }),
      timings: {
        // One machine, one clock, an index DynamoDB Local writes with its item: the mark needs little lag.
        sweepMarkLagSeconds: 2,
        ...options.timings,
        ...(options.leaseGraceSeconds === undefined ? {} : { leaseGraceSeconds: options.leaseGraceSeconds }),
        ...(options.reconcileIntervalSeconds === undefined ? {} : { reconcileIntervalSeconds: options.reconcileIntervalSeconds }),
      },
    });

    // A restart on existing data: the SQS server is new (it keeps messages in memory) and no worker
    // of before is alive, so queued tasks get their messages again and running attempts are taken
    // for crashed now, instead of after a delivery grace or a lease of minutes. Before any poller
    // starts, so that nothing claimed in this life is taken for something of the last.
    const recovered = existed ? await engine.sweeper.recoverAfterRestart() : undefined;

    const onError = (source: string) => (error: unknown) => options.onError?.(source, error);
    /** The handler, timed for observeInvocation when asked. */
    const observed = <A extends unknown[], R>(fn: 'api' | 'scheduler' | 'worker' | 'sweeper' | 'dlq', handler: (...args: A) => Promise<R>) => {
      const observe = options.observeInvocation;
      if (observe === undefined) return handler;
      return async (...args: A): Promise<R> => {
        const started = performance.now();
        try {
          return await handler(...args);
        } finally {
          observe(fn, performance.now() - started);
        }
      };
    };
    const streamPoller = startStreamPoller({
      streamsClient: streams,
      streamArn,
      // The scheduler is the safety net of the workers' own dispatch: like its mapping on AWS, it
      // gathers records for a while, so that a batch shows what the workers did already.
      batchingWindowMs: options.schedulerBatchingWindowMs ?? DEFAULT_SCHEDULER_WINDOW_MS,
      batchSize: SCHEDULER_BATCH_SIZE,
      // Woken by the engine's own writes (below); the pause only bounds how late writes of other
      // processes (workers of their own, in tests) are seen.
      idleDelayMs: 250,
      handler: (event) => {
        const drop = options.dropStreamRecord;
        const handler = observed('scheduler', options.wrapScheduler?.(engine.schedulerHandler) ?? engine.schedulerHandler);
        return handler(drop === undefined ? event : { Records: event.Records.filter((record) => !drop(record)) });
      },
      onError: onError('stream poller'),
    });
    stops.push(() => streamPoller.stop());
    dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (WRITES.has((context as { commandName?: string }).commandName ?? '')) streamPoller.wake();
        return result;
      },
      { step: 'initialize', name: 'wakeStreamPoller' },
    );
    // workerConcurrency 0 runs no worker here: tests then run workers in processes of their own.
    if (options.workerConcurrency !== 0) {
      const sqsPoller = startSqsPoller({
        sqs,
        queueUrl: queues.taskQueueUrl,
        queueArn: queues.taskQueueArn,
        handler: observed('worker', engine.workerHandler),
        concurrency: options.workerConcurrency ?? 4,
        waitTimeSeconds: LAMBDA_LONG_POLL_SECONDS,
        onError: onError('sqs poller'),
      });
      stops.push(() => sqsPoller.stop());
    }
    const dlqPoller = startSqsPoller({
      sqs,
      queueUrl: queues.taskDlqUrl,
      queueArn: queues.taskDlqArn,
      handler: observed('dlq', engine.dlqHandler),
      concurrency: 1,
      waitTimeSeconds: LAMBDA_LONG_POLL_SECONDS,
      onError: onError('dlq poller'),
    });
    stops.push(() => dlqPoller.stop());
    const sweeps = startTimer(options.sweepIntervalMs ?? 5_000, async () => {
      await observed('sweeper', engine.sweeperHandler)();
    }, onError('sweeper'));
    stops.push(() => sweeps.stop());
    // EventBridge Scheduler's part: the trigger function called at each schedule's fire time.
    const timer = await startScheduleTimer({ schedules: engine.schedules, fire: (fire) => engine.triggerHandler(fire), onError: onError('schedule timer') });
    started.timer = timer;
    stops.push(() => timer.stop());

    const gateway = await startHttpGateway({ port: apiPort, handler: observed('api', engine.api) });
    stops.push(() => gateway.stop());

    return {
      apiUrl: gateway.url,
      engine,
      clients: { dynamo, sqs },
      dynamoEndpoint: dynamoLocal.endpoint,
      sqsEndpoint: sqsServer.endpoint,
      s3Endpoint: s3Server.endpoint,
      tableName: LOCAL_TABLE_NAME,
      taskQueueUrl: queues.taskQueueUrl,
      taskDlqUrl: queues.taskDlqUrl,
      ...(recovered === undefined ? {} : { recovered }),
      scheduleTimer: timer,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Runs `tick` every `intervalMs`, one at a time, like a scheduled rule invoking a function. */
function startTimer(intervalMs: number, tick: () => Promise<void>, onError: (error: unknown) => void): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick()
        .catch(onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, intervalMs);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/**
 * Creates the table unless a persisted one exists; returns its stream ARN and whether it existed.
 * A table made before a GSI of the schema existed gets it added, so `npm start` on old data
 * works on; see addMissingIndexes.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string, now: () => Date = () => new Date()): Promise<{ streamArn: string; existed: boolean }> {
  try {
    const existing = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (existing.Table?.LatestStreamArn !== undefined) {
      const added = await addMissingIndexes(client, tableName, existing.Table.GlobalSecondaryIndexes ?? []);
      if (added.includes(TABLE.indexes.runsByTime.name)) await backfillRunsByTime(client, tableName, now());
      return { streamArn: existing.Table.LatestStreamArn, existed: true };
    }
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  const created = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = created.Table?.LatestStreamArn;
  if (streamArn === undefined) throw new Error(`table ${tableName} has no stream`);
  return { streamArn, existed: false };
}

/** How long DynamoDB Local may take to build an added index (it backfills it from the table). */
const INDEX_ACTIVE_TIMEOUT_MS = 60_000;

/**
 * Adds each GSI of the schema the table lacks, one at a time (DynamoDB takes one index per
 * UpdateTable), and waits until it is ACTIVE: a query of an index still being built fails.
 * Returns the names of the indexes added.
 */
async function addMissingIndexes(client: DynamoDBClient, tableName: string, present: readonly GlobalSecondaryIndexDescription[]): Promise<string[]> {
  const schema = createTableInput(tableName);
  const names = new Set(present.map((index) => index.IndexName));
  const added: string[] = [];
  for (const index of schema.GlobalSecondaryIndexes ?? []) {
    if (index.IndexName === undefined || names.has(index.IndexName)) continue;
    const keyAttributes = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: schema.AttributeDefinitions?.filter((definition) => keyAttributes.has(definition.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: { IndexName: index.IndexName, KeySchema: index.KeySchema, Projection: index.Projection } }],
      }),
    );
    await waitForActiveIndex(client, tableName, index.IndexName);
    added.push(index.IndexName);
  }
  return added;
}

async function waitForActiveIndex(client: DynamoDBClient, tableName: string, indexName: string): Promise<void> {
  const deadline = Date.now() + INDEX_ACTIVE_TIMEOUT_MS;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === indexName)?.IndexStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`index ${indexName} of table ${tableName} is not ACTIVE after ${INDEX_ACTIVE_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Gives the runs a cross-workflow listing can still reach (those created in its lookback) the
 * runsByTime key they were created without, so they are listed after the upgrade as before it:
 * one UpdateItem per run, found through runsByWorkflow, once, when the index is added. Older runs
 * are beyond any listing's reach and are left as they are. On AWS no such step runs (docs/
 * architecture.md, section 5).
 */
async function backfillRunsByTime(client: DynamoDBClient, tableName: string, now: Date): Promise<void> {
  const { runsByWorkflow } = TABLE.indexes;
  const since = `${firstCursor(now).lastDay}T`;
  const workflows = await queryAll(client, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': { S: keys.workflowCatalog().pk } },
  });
  for (const workflow of workflows) {
    const runs = await queryAll(client, {
      TableName: tableName,
      IndexName: runsByWorkflow.name,
      KeyConditionExpression: `${runsByWorkflow.partitionKey} = :wf AND ${runsByWorkflow.sortKey} >= :since`,
      ExpressionAttributeValues: { ':wf': { S: keys.runsByWorkflow(workflow['workflowId']?.S ?? '') }, ':since': { S: since } },
    });
    for (const run of runs) {
      const runId = run['runId']?.S;
      const createdAt = run['createdAt']?.S;
      if (runId === undefined || createdAt === undefined) continue;
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { pk: { S: keys.run(runId).pk }, sk: { S: keys.run(runId).sk } },
            UpdateExpression: `SET ${TABLE.indexes.runsByTime.partitionKey} = :key`,
            // Never a stub item for a run deleted since the index was read.
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':key': { S: keys.runsByTime(createdAt, runId) } },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
  }
}

async function queryAll(client: DynamoDBClient, input: QueryCommandInput): Promise<Array<Record<string, AttributeValue>>> {
  const items: Array<Record<string, AttributeValue>> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new QueryCommand({ ...input, ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }) }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}
