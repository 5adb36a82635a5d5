// Error classification for task attempts: whatever a handler or an executor throws becomes the
// `TaskError` stored on the task (its `name` is what retry policies match on), and the reasons the
// worker passes to `AbortController.abort(reason)` so that an abort is told apart from a failure.
import type * as z from 'zod';
import { EngineError } from '../model/errors.js';
import type { TaskError } from '../model/task-error.js';
import { TaskFailure } from './context.js';

type JsonValue = z.core.util.JSONType;

/** Longest stored error message, in UTF-8 bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 4096;
/** Largest stored `details`, serialized; larger details are replaced by a note saying so. */
export const MAX_ERROR_DETAILS_BYTES = 8192;

/**
 * Why the worker aborted an attempt's signal. Pass an instance to `controller.abort(reason)`:
 * fetch and well-behaved handlers reject with `signal.reason`, so the reason itself comes back to
 * `toTaskError`, which turns it into the stored error named by `errorName`.
 */
export abstract class TaskAbortReason extends Error {
  /** The stored error's name (what retry policies match on). */
  abstract readonly errorName: string;
  abstract readonly retryable: boolean;
}

/** The attempt ran past its `timeoutSeconds` (start-to-close). Retryable, like Step Functions' States.Timeout. */
export class TaskTimedOut extends TaskAbortReason {
  readonly errorName = 'TimedOut';
  readonly retryable = true;

  constructor(readonly timeoutSeconds: number) {
    super(`task timed out after ${timeoutSeconds} s`);
    this.name = 'TaskTimedOut';
  }
}

/** The run was cancelled while the attempt ran. Not retryable: nobody wants the work any more. */
export class TaskCancelled extends TaskAbortReason {
  readonly errorName = 'Cancelled';
  readonly retryable = false;

  constructor(message = 'run cancelled') {
    super(message);
    this.name = 'TaskCancelled';
  }
}

/**
 * The worker Lambda is about to reach its own deadline. Stored as a retryable `TimedOut` (the
 * attempt did not finish in the time it had) with `details.reason = 'LambdaDeadline'`, so that it
 * is retried by the same policy as a task timeout yet still told apart in the history.
 */
export class LambdaDeadline extends TaskAbortReason {
  readonly errorName = 'TimedOut';
  readonly retryable = true;

  constructor(message = 'the worker Lambda reached its deadline before the task finished') {
    super(message);
    this.name = 'LambdaDeadline';
  }
}

/**
 * Classifies anything thrown by an attempt:
 * - a `TaskFailure`: its errorName, message, retryable and details;
 * - a `TaskAbortReason` (the signal's reason, rethrown): `TimedOut` or `Cancelled`;
 * - an `AbortError`/`TimeoutError` while `signal` (the attempt's signal, when given) is aborted
 *   with a `TaskAbortReason`: as that reason, for code that rejects with a generic AbortError;
 * - another engine error (`EngineError`): its name, and its own `retryable`;
 * - any other Error: its name, retryable (as the handler contract says);
 * - anything else thrown: name `Error`, message `String(value)`, retryable.
 * Messages are cut to MAX_ERROR_MESSAGE_BYTES and details kept only as JSON under
 * MAX_ERROR_DETAILS_BYTES, so an error can always be stored on the task item.
 */
export function toTaskError(error: unknown, signal?: AbortSignal): TaskError {
  if (error instanceof TaskFailure) {
    return taskError(error.errorName, error.message, error.retryable, error.details);
  }
  const reason = abortReason(error, signal);
  if (reason !== undefined) {
    const details = reason instanceof LambdaDeadline ? { reason: 'LambdaDeadline' } : undefined;
    return taskError(reason.errorName, reason.message, reason.retryable, details);
  }
  if (error instanceof EngineError) {
    return taskError(error.name || 'Error', error.message, error.retryable, error.details);
  }
  if (error instanceof Error) {
    return taskError(error.name || 'Error', error.message, true, undefined);
  }
  return taskError('Error', describeThrown(error), true, undefined);
}

/** The TaskAbortReason behind an error, if the error is one or is an abort caused by one. */
function abortReason(error: unknown, signal: AbortSignal | undefined): TaskAbortReason | undefined {
  if (error instanceof TaskAbortReason) return error;
  if (signal?.aborted !== true || !(signal.reason instanceof TaskAbortReason)) return undefined;
  const isAbort = error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
  return isAbort || error === signal.reason ? signal.reason : undefined;
}

function taskError(name: string, message: string, retryable: boolean, details: unknown): TaskError {
  const error: TaskError = { name: truncateUtf8(name, 256), message: truncateUtf8(message, MAX_ERROR_MESSAGE_BYTES), retryable };
  const json = details === undefined ? undefined : toStorableJson(details);
  if (json !== undefined) error.details = json;
  return error;
}

/** Details as plain JSON (dropping what JSON cannot hold), or a note when they are too large. */
function toStorableJson(details: unknown): JsonValue | undefined {
  let text: string | undefined;
  try {
    text = JSON.stringify(details);
  } catch {
    return { omitted: 'details could not be serialized as JSON' };
  }
  if (text === undefined) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_ERROR_DETAILS_BYTES) {
    return { omitted: `details were ${bytes} bytes, over the limit of ${MAX_ERROR_DETAILS_BYTES}` };
  }
  return JSON.parse(text) as JsonValue;
}

function describeThrown(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      const text = JSON.stringify(value);
      if (text !== undefined) return text;
    } catch {
      // fall through to String(): a cyclic object or one with a BigInt
    }
  }
  return String(value);
}

const TRUNCATION_MARK = '… (truncated)';

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character, marked when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes - Buffer.byteLength(TRUNCATION_MARK, 'utf8'));
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + TRUNCATION_MARK;
}
