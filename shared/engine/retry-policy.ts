// Whether a failed attempt is retried, and after how long: exponential backoff with full jitter
// (delay drawn uniformly from [0, ceiling)), the randomness passed in so the core stays pure.
import type { RetryPolicy } from '../model/definition.js';

/** SQS's largest DelaySeconds; a longer backoff parks the task as WAITING for the sweeper. */
export const SQS_MAX_DELAY_SECONDS = 900;

/**
 * The largest delay before the retry that follows failed attempt `attempt` (1-based):
 * min(maxDelaySeconds, initialDelaySeconds * backoffRate^(attempt - 1)).
 */
export function backoffCeilingSeconds(policy: RetryPolicy, attempt: number): number {
  assertAttempt(attempt);
  if (policy.initialDelaySeconds === 0) return 0;
  // backoffRate^(attempt-1) may overflow to Infinity for large attempts; min() then caps it.
  // (The 0 case is handled above because 0 * Infinity is NaN.)
  return Math.min(policy.maxDelaySeconds, policy.initialDelaySeconds * policy.backoffRate ** (attempt - 1));
}

/**
 * Full jitter: random() * ceiling, with random() in [0, 1). Fractional: round up before using it
 * as an SQS DelaySeconds.
 */
export function retryDelaySeconds(policy: RetryPolicy, attempt: number, random: () => number): number {
  const r = random();
  if (!(r >= 0 && r < 1)) throw new RangeError(`random() must return a number in [0, 1), got ${r}`);
  return r * backoffCeilingSeconds(policy, attempt);
}

/**
 * Whether attempt `attempt` (1-based, the one that just failed) gets another: at most
 * `maxRetries` retries, so `maxRetries: 3` means at most 4 attempts.
 *
 * `nonRetryableErrors` always wins. A name listed in `retryableErrors` is retried even when the
 * error says it is not retryable (so a user can opt in to retrying, say, an http 4xx); when
 * `retryableErrors` is given, no other name is retried. Otherwise the error's own `retryable`
 * decides.
 */
export function shouldRetry(
  policy: RetryPolicy | undefined,
  attempt: number,
  error: { name: string; retryable: boolean },
): boolean {
  assertAttempt(attempt);
  if (policy === undefined || attempt > policy.maxRetries) return false;
  if (policy.nonRetryableErrors?.includes(error.name) === true) return false;
  if (policy.retryableErrors !== undefined) return policy.retryableErrors.includes(error.name);
  return error.retryable;
}

/** Where a retry waits: on the queue with DelaySeconds, or parked as WAITING for the sweeper. */
export function retryPlacement(delaySeconds: number): 'queue' | 'park' {
  return delaySeconds <= SQS_MAX_DELAY_SECONDS ? 'queue' : 'park';
}

function assertAttempt(attempt: number): void {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be a whole number from 1, got ${attempt}`);
  }
}
