// What every Lambda is built from: the store on its table, the queue it sends to, the definitions
// cache, Powertools' logger and metrics, and the engine's timing. Each function's entry builds
// these once per container (its own config, its own clients) and then only its own service; the
// local runtime builds them once for all five.
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoStore } from '../shared/aws/dynamo/store.js';
import { createLogger, createMetrics } from '../shared/aws/powertools.js';
import { SqsTaskQueue } from '../shared/aws/sqs-queue.js';
import { DynamoScheduleStore } from '../shared/aws/dynamo/schedules.js';
import { Table } from '../shared/aws/dynamo/table.js';
import { DefinitionCache } from '../shared/engine/definition-cache.js';
import type { TaskQueue } from '../shared/engine/messages.js';
import type { EngineMetrics } from '../shared/engine/metrics.js';
import type { EngineStore } from '../shared/engine/ports.js';
import type { PayloadStore } from '../shared/engine/payloads.js';
import { S3PayloadStore, createS3Client } from '../shared/aws/s3-payloads.js';
import { loadPayloadBucket } from '../shared/config/env.js';
import type { ScheduleStore } from '../shared/engine/schedules.js';
import { DEFAULT_TIMINGS, type EngineTimings } from '../shared/engine/timing.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

export interface PartsOptions {
  clients: { dynamo: DynamoDBDocumentClient; sqs: SQSClient };
  tableName: string;
  /** Where inputs and outputs over the inline limit go (the payload bucket); without it they must fit in items. */
  payloads?: PayloadStore;
  taskQueueUrl: string;
  logLevel?: LogLevel;
  now?: () => Date;
  random?: () => number;
  /** Where metrics go: EMF on stdout by default. */
  metrics?: EngineMetrics;
  timings?: Partial<EngineTimings>;
}

export interface EngineParts {
  store: EngineStore;
  payloads?: PayloadStore;
  /** Workflow schedules' items (on the same table). */
  schedules: ScheduleStore;
  queue: TaskQueue;
  definitions: DefinitionCache;
  logger: ReturnType<typeof createLogger>;
  metrics: EngineMetrics;
  timings: EngineTimings;
  now: () => Date;
  random: () => number;
  logError: (message: string, extra: Record<string, unknown>) => void;
}

export function engineParts(options: PartsOptions): EngineParts {
  const logger = createLogger(options.logLevel === undefined ? {} : { logLevel: options.logLevel });
  const now = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  // Deployed, the payload bucket is named by PAYLOAD_BUCKET; the local runtime passes its own.
  options = { ...options, ...(options.payloads === undefined ? payloadsFromEnvironment() : {}) };
  const store = createDynamoStore({
    client: options.clients.dynamo,
    tableName: options.tableName,
    now,
    random,
    ...(options.payloads === undefined ? {} : { payloads: options.payloads }),
  });
  return {
    store,
    ...(options.payloads === undefined ? {} : { payloads: options.payloads }),
    schedules: new DynamoScheduleStore(new Table(options.clients.dynamo, options.tableName, random), now),
    queue: new SqsTaskQueue({ sqs: options.clients.sqs, queueUrl: options.taskQueueUrl }),
    definitions: new DefinitionCache(store.definitions),
    logger,
    metrics: options.metrics ?? createMetrics(),
    timings: { ...DEFAULT_TIMINGS, ...options.timings },
    now,
    random,
    logError: (message, extra) => logger.error(message, extra),
  };
}

/** The payload bucket PAYLOAD_BUCKET names (set by the CDK construct), if any. */
function payloadsFromEnvironment(): { payloads?: PayloadStore } {
  const bucket = loadPayloadBucket();
  return bucket === undefined ? {} : { payloads: new S3PayloadStore(createS3Client(), bucket) };
}

/** Publishes the metrics an invocation recorded when it ends, however it ends. */
export function flushing<A extends unknown[], R>(metrics: EngineMetrics, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } finally {
      metrics.flush();
    }
  };
}
