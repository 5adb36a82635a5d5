// What a task handler sees (docs/architecture.md) and how it reports a failure.
import { EngineError } from '../model/errors.js';

export interface TaskLogger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface TaskContext {
  runId: string;
  taskId: string;
  /** The run's input. */
  input: unknown;
  /** Outputs of the task's direct dependencies, by task id. */
  upstream: Readonly<Record<string, { output?: unknown }>>;
  /** 1 for the first attempt. */
  attempt: number;
  /** The last checkpoint saved by an earlier attempt, or undefined. */
  checkpoint: unknown;
  saveCheckpoint(data: unknown): Promise<void>;
  /** Extends the attempt's lease; call it more often than heartbeatSeconds. */
  heartbeat(): Promise<void>;
  /** Fires on cancellation, on timeout, and shortly before the Lambda's own deadline. */
  signal: AbortSignal;
  /** In a map's task: the item this attempt runs for, and its index in the list. */
  item?: { value: unknown; index: number };
  /** A handler task's static `params` from the definition (undefined when it has none). */
  params?: unknown;
  /** `runId:taskId`: stable across attempts, for the task's own calls to other systems. */
  idempotencyKey: string;
  logger: TaskLogger;
}

export type TaskHandler = (ctx: TaskContext) => Promise<unknown>;

/** The named handlers the worker bundle provides (workflows/). */
export type HandlerRegistry = ReadonlyMap<string, TaskHandler>;

/**
 * A task's own failure, thrown by a handler (or an executor) to fail the attempt. `name` is what
 * retry policies match on (`retryableErrors`, `nonRetryableErrors`); `retryable: false` stops
 * retries unless the policy lists the name. Any other error thrown by a handler is retryable,
 * with its `name` as the error name.
 */
export class TaskFailure extends EngineError {
  readonly errorName: string;

  constructor(errorName: string, message: string, options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('TASK_FAILED', message, { retryable: options.retryable ?? true, cause: options.cause, ...(options.details === undefined ? {} : { details: options.details }) });
    this.errorName = errorName;
  }
}
