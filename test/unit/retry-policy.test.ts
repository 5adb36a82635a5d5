import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../shared/model/definition.js';
import { LIMITS } from '../../shared/model/limits.js';
import {
  SQS_MAX_DELAY_SECONDS,
  backoffCeilingSeconds,
  retryDelaySeconds,
  retryPlacement,
  shouldRetry,
} from '../../shared/engine/retry-policy.js';

const policy: RetryPolicy = { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 };
const retryable = { name: 'Timeout', retryable: true };

const policyArbitrary: fc.Arbitrary<RetryPolicy> = fc
  .record({
    maxRetries: fc.integer({ min: 0, max: LIMITS.maxRetries }),
    initialDelaySeconds: fc.double({ min: 0, max: 3600, noNaN: true }),
    backoffRate: fc.double({ min: 1, max: LIMITS.maxBackoffRate, noNaN: true }),
    extra: fc.double({ min: 0, max: LIMITS.maxDelaySeconds, noNaN: true }),
  })
  .map(({ extra, ...p }) => ({ ...p, maxDelaySeconds: Math.min(LIMITS.maxDelaySeconds, p.initialDelaySeconds + extra) }));

describe('backoffCeilingSeconds', () => {
  it('starts at initialDelaySeconds after the first attempt and multiplies by backoffRate', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffCeilingSeconds(policy, attempt))).toEqual([1, 2, 4, 8, 16]);
  });

  it('is capped by maxDelaySeconds, even for attempts that would overflow', () => {
    expect(backoffCeilingSeconds(policy, 10)).toBe(300);
    expect(backoffCeilingSeconds({ ...policy, backoffRate: 10 }, 10_000)).toBe(300);
    expect(backoffCeilingSeconds({ ...policy, initialDelaySeconds: 0, backoffRate: 10 }, 10_000)).toBe(0);
  });

  it('refuses an attempt below 1', () => {
    expect(() => backoffCeilingSeconds(policy, 0)).toThrow(RangeError);
    expect(() => backoffCeilingSeconds(policy, 1.5)).toThrow(RangeError);
  });

  it('never decreases with the attempt and never exceeds maxDelaySeconds (property)', () => {
    fc.assert(
      fc.property(policyArbitrary, fc.integer({ min: 1, max: 2000 }), (p, attempt) => {
        const ceiling = backoffCeilingSeconds(p, attempt);
        expect(Number.isFinite(ceiling)).toBe(true);
        expect(ceiling).toBeGreaterThanOrEqual(0);
        expect(ceiling).toBeLessThanOrEqual(p.maxDelaySeconds);
        expect(backoffCeilingSeconds(p, attempt + 1)).toBeGreaterThanOrEqual(ceiling);
      }),
      { numRuns: 300 },
    );
  });
});

describe('retryDelaySeconds', () => {
  it('scales the ceiling by the random draw (full jitter)', () => {
    expect(retryDelaySeconds(policy, 3, () => 0)).toBe(0);
    expect(retryDelaySeconds(policy, 3, () => 0.5)).toBe(2);
  });

  it('refuses a random source outside [0, 1)', () => {
    expect(() => retryDelaySeconds(policy, 1, () => 1)).toThrow(RangeError);
    expect(() => retryDelaySeconds(policy, 1, () => Number.NaN)).toThrow(RangeError);
  });

  it('is always within [0, ceiling] (property)', () => {
    fc.assert(
      fc.property(
        policyArbitrary,
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (p, attempt, r) => {
          const delay = retryDelaySeconds(p, attempt, () => r);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(backoffCeilingSeconds(p, attempt));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('shouldRetry', () => {
  it('never retries without a policy', () => {
    expect(shouldRetry(undefined, 1, retryable)).toBe(false);
  });

  it('allows maxRetries retries, so maxRetries 3 means at most 4 attempts', () => {
    expect([1, 2, 3, 4].map((attempt) => shouldRetry(policy, attempt, retryable))).toEqual([true, true, true, false]);
    expect(shouldRetry({ ...policy, maxRetries: 0 }, 1, retryable)).toBe(false);
  });

  it("follows the error's own retryable flag by default", () => {
    expect(shouldRetry(policy, 1, { name: 'HttpError', retryable: false })).toBe(false);
  });

  it('never retries an error named in nonRetryableErrors', () => {
    const p = { ...policy, nonRetryableErrors: ['OutOfStock'], retryableErrors: ['OutOfStock'] };
    expect(shouldRetry(p, 1, { name: 'OutOfStock', retryable: true })).toBe(false);
  });

  it('retries only the names in retryableErrors, even those not marked retryable', () => {
    const p = { ...policy, retryableErrors: ['HttpClientError'] };
    expect(shouldRetry(p, 1, { name: 'HttpClientError', retryable: false })).toBe(true);
    expect(shouldRetry(p, 1, { name: 'Timeout', retryable: true })).toBe(false);
    expect(shouldRetry(p, 4, { name: 'HttpClientError', retryable: false })).toBe(false);
  });
});

describe('retryPlacement', () => {
  it('queues delays SQS can hold and parks longer ones', () => {
    expect(retryPlacement(0)).toBe('queue');
    expect(retryPlacement(SQS_MAX_DELAY_SECONDS)).toBe('queue');
    expect(retryPlacement(SQS_MAX_DELAY_SECONDS + 0.5)).toBe('park');
    expect(SQS_MAX_DELAY_SECONDS).toBe(900);
  });
});
