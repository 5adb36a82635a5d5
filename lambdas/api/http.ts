// HTTP plumbing for the api Lambda: JSON responses, the error shape of docs/architecture.md, and
// the one place where error classes map to status codes. A 5xx never shows internals.
import { ProvisionedThroughputExceededException, RequestLimitExceeded, ThrottlingException } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as z from 'zod';
import { LIMITS, jsonDepthExceeds } from '../../shared/model/limits.js';
import {
  ConflictError,
  EngineError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
  type Problem,
} from '../../shared/model/errors.js';

/**
 * Bodies above this are refused before parsing: a run's input may be up to 10 MB (with a payload
 * bucket), plus its envelope; definitions and the rest have smaller limits of their own.
 */
export const MAX_BODY_BYTES = 10 * 1024 * 1024 + 64 * 1024;

export class MethodNotAllowedError extends EngineError {
  constructor(method: string, path: string) {
    super('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`);
  }
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

export function errorResponse(error: unknown, log: (message: string, error: unknown) => void): APIGatewayProxyStructuredResultV2 {
  const [status, code, message] = classify(error);
  if (status >= 500) log('request failed', error);
  const details = error instanceof ValidationError ? { problems: error.problems } : {};
  return json(status, { error: { code, message, ...details } });
}

function classify(error: unknown): [number, string, string] {
  if (error instanceof ValidationError) return [400, error.code, error.message];
  if (error instanceof NotFoundError) return [404, error.code, error.message];
  if (error instanceof MethodNotAllowedError) return [405, error.code, error.message];
  if (error instanceof ConflictError) return [409, error.code, error.message];
  if (error instanceof PayloadTooLargeError) return [413, error.code, error.message];
  // Throttling the store's own retries did not outlast is still throttling.
  if (isThrottling(error) || (error instanceof EngineError && isThrottling(error.cause))) return [429, 'THROTTLED', 'too many requests; retry later'];
  // The table or the queue could not answer in time: the client may try again (with its Idempotency-Key).
  if (error instanceof EngineError && error.retryable) return [503, 'UNAVAILABLE', 'the engine cannot answer now; retry later'];
  return [500, 'INTERNAL', 'internal error'];
}

/** DynamoDB's own throttling, or the engine's when batches kept coming back unprocessed. */
function isThrottling(error: unknown): boolean {
  return (
    (error instanceof EngineError && error.code === 'THROTTLED') ||
    error instanceof ProvisionedThroughputExceededException ||
    error instanceof RequestLimitExceeded ||
    error instanceof ThrottlingException
  );
}

/** The request body as JSON: 413 when too large, 400 naming the problem when not JSON. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError('request body', bytes, MAX_BODY_BYTES);
  if (raw.trim() === '') throw new ValidationError([{ path: 'body', message: 'a JSON body is required' }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch (error) {
    throw new ValidationError([{ path: 'body', message: `body is not valid JSON: ${(error as Error).message}` }]);
  }
  // Validators recurse: a few KB of [[[[...]]]] would overflow the stack instead of being refused.
  if (jsonDepthExceeds(parsed, LIMITS.maxJsonDepth)) {
    throw new ValidationError([{ path: 'body', message: `body nests objects and arrays deeper than ${LIMITS.maxJsonDepth} levels` }]);
  }
  return parsed;
}

/** Parses with a zod schema; a failure is a 400 that names each field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems: Problem[] = parsed.error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].filter((part) => part !== '').join('.'),
    message: issue.message,
  }));
  throw new ValidationError(problems);
}
