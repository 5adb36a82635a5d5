// Builds the engine's parts and the Lambda handlers from clients and configuration. The Lambda
// entry points call it once per container; the local runtime and the tests call it with local
// clients. Nothing here decides anything: it only connects.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { EngineConfig } from '../shared/config/env.js';
import { DefinitionCache } from '../shared/engine/definition-cache.js';
import type { EngineMetrics } from '../shared/engine/metrics.js';
import { attemptLogger, createLogger, createMetrics } from '../shared/aws/powertools.js';
import { SqsTaskQueue } from '../shared/aws/sqs-queue.js';
import { Scheduler } from '../shared/engine/scheduler.js';
import { DynamoStore } from '../shared/aws/dynamo/store.js';
import type { HandlerRegistry } from '../shared/tasks/context.js';
import type { LambdaInvoker } from '../shared/tasks/executors.js';
import { Worker } from '../shared/engine/worker.js';
import { makeApiHandler } from './api/handler.js';
import { makeSchedulerHandler } from './scheduler/handler.js';
import { makeWorkerHandler } from './worker/handler.js';
import { makeSweeperHandler } from './sweeper/handler.js';
import { makeDlqHandler } from './dlq/handler.js';
import { Sweeper } from '../shared/engine/sweeper.js';

export interface EngineWiring {
  clients: { dynamo: DynamoDBDocumentClient; sqs: SQSClient };
  config: EngineConfig;
  handlers: HandlerRegistry;
  lambdaInvoker?: LambdaInvoker;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  now?: () => Date;
  /** How often a running attempt checks for cancellation (ms). */
  cancelPollMs?: number;
  /** Lease beyond a task's timeout before the sweeper takes the worker for dead. */
  leaseGraceSeconds?: number;
  /** Random source for retry jitter (tests pass a fixed one). */
  random?: () => number;
  /** Where metrics go: EMF on stdout by default. */
  metrics?: EngineMetrics;
  /** How often the sweeper checks an unfinished run against its tasks. */
  reconcileIntervalSeconds?: number;
}

export function wireEngine(wiring: EngineWiring) {
  const logger = createLogger(wiring.logLevel === undefined ? {} : { logLevel: wiring.logLevel });
  const metrics = wiring.metrics ?? createMetrics();
  const logError = (message: string, extra: unknown) => logger.error(message, { detail: extra as Record<string, unknown> });
  const now = wiring.now;
  const store = new DynamoStore({
    client: wiring.clients.dynamo,
    tableName: wiring.config.tableName,
    ...(now ? { now } : {}),
    ...(wiring.reconcileIntervalSeconds === undefined ? {} : { reconcileIntervalSeconds: wiring.reconcileIntervalSeconds }),
  });
  const queue = new SqsTaskQueue({ sqs: wiring.clients.sqs, queueUrl: wiring.config.taskQueueUrl });
  const definitions = new DefinitionCache(store);
  const scheduler = new Scheduler({ store, queue, definitions, metrics, ...(now ? { now } : {}) });
  const worker = new Worker({
    store,
    queue,
    definitions,
    executorEnv: {
      handlers: wiring.handlers,
      httpAllowedHosts: wiring.config.httpAllowedHosts,
      ...(wiring.lambdaInvoker === undefined ? {} : { lambdaInvoker: wiring.lambdaInvoker }),
    },
    loggerFor: (keys) => attemptLogger(logger, keys),
    metrics,
    ...(now ? { now } : {}),
    ...(wiring.cancelPollMs === undefined ? {} : { cancelPollMs: wiring.cancelPollMs }),
    ...(wiring.leaseGraceSeconds === undefined ? {} : { leaseGraceSeconds: wiring.leaseGraceSeconds }),
    ...(wiring.random === undefined ? {} : { random: wiring.random }),
  });
  const sweeper = new Sweeper({
    store,
    queue,
    definitions,
    metrics,
    reconcile: (runId) => scheduler.reconcile(runId),
    ...(now ? { now } : {}),
    ...(wiring.random ? { random: wiring.random } : {}),
  });
  return {
    logger,
    store,
    queue,
    definitions,
    scheduler,
    worker,
    api: makeApiHandler({ store, definitions, knownHandlers: new Set(wiring.handlers.keys()), logError }),
    metrics,
    schedulerHandler: flushing(metrics, makeSchedulerHandler({ scheduler, logError })),
    workerHandler: flushing(metrics, makeWorkerHandler({ worker, logError })),
    sweeper,
    sweeperHandler: flushing(metrics, makeSweeperHandler({ sweeper })),
    dlqHandler: makeDlqHandler({ store, definitions, logError }),
  };
}

export type Engine = ReturnType<typeof wireEngine>;

/** Publishes the metrics an invocation recorded when it ends, however it ends. */
function flushing<A extends unknown[], R>(metrics: EngineMetrics, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } finally {
      metrics.flush();
    }
  };
}
