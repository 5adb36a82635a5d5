// The worker Lambda: SQS batches in. Each message is one task attempt, run concurrently with the
// others of its batch. Only infrastructure errors (and unreadable messages) are reported in
// batchItemFailures; SQS redelivers them and, after maxReceiveCount, moves them to the DLQ.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { TaskMessageSchema } from '../../shared/engine/messages.js';
import { Worker } from '../../shared/engine/worker.js';
import { attemptLogger } from '../../shared/aws/powertools.js';
import type { HandlerRegistry } from '../../shared/tasks/context.js';
import type { LambdaInvoker } from '../../shared/tasks/executors.js';
import type { SecretResolver } from '../../shared/tasks/secrets.js';
import { localContext } from '../lambda-context.js';
import { flushing, type EngineParts } from '../parts.js';

export type WorkerHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

export function makeWorkerHandler(deps: {
  worker: Pick<Worker, 'process'>;
  logError: (message: string, extra: Record<string, unknown>) => void;
}): WorkerHandler {
  return async (event, context) => {
    const invocation = context ?? localContext('worker');
    const results = await Promise.allSettled(
      event.Records.map(async (record) => {
        const message = TaskMessageSchema.parse(JSON.parse(record.body));
        await deps.worker.process(message, invocation);
      }),
    );
    const batchItemFailures = results.flatMap((result, i) => {
      if (result.status === 'fulfilled') return [];
      const record = event.Records[i];
      deps.logError('task message failed', { error: result.reason, messageId: record?.messageId });
      return record === undefined ? [] : [{ itemIdentifier: record.messageId }];
    });
    return { batchItemFailures };
  };
}

export interface WorkerOptions {
  handlers: HandlerRegistry;
  httpAllowedHosts: readonly string[];
  lambdaInvoker?: LambdaInvoker;
  /** Resolves `{{secret:NAME}}` in http headers (environment variables when not given). */
  secrets?: SecretResolver;
  /** How often a running attempt checks for cancellation (ms). */
  cancelPollMs?: number;
  /** Whether a dependent that becomes ready runs in the same invocation (default: yes). */
  chain?: boolean;
}

export function buildWorker(parts: EngineParts, options: WorkerOptions): { worker: Worker; handler: WorkerHandler } {
  const { store, queue, definitions, now, random, metrics, timings } = parts;
  const worker = new Worker({
    tasks: store.tasks,
    joins: store.joins,
    runs: store.runs,
    completion: store.completion,
    maps: store.maps,
    queue,
    definitions,
    workflows: store.definitions,
    executorEnv: {
      handlers: options.handlers,
      httpAllowedHosts: options.httpAllowedHosts,
      ...(options.lambdaInvoker === undefined ? {} : { lambdaInvoker: options.lambdaInvoker }),
      ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    },
    loggerFor: (keys) => attemptLogger(parts.logger, keys),
    now,
    random,
    metrics,
    timings,
    ...(options.cancelPollMs === undefined ? {} : { cancelPollMs: options.cancelPollMs }),
    ...(options.chain === undefined ? {} : { chain: options.chain }),
  });
  return { worker, handler: flushing(metrics, makeWorkerHandler({ worker, logError: parts.logError })) };
}
