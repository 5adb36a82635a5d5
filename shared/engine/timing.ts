// The engine's timing policy in one place: leases, delivery deadlines, run checks and retention.
// Deployed, the defaults of config/settings.ts apply; the local runtime and the tests shorten them.
import { TIMINGS } from '../config/settings.js';

export interface EngineTimings {
  /** Lease of an attempt without its own timeoutSeconds. */
  defaultTaskTimeoutSeconds: number;
  /** Lease beyond a task's timeout (or heartbeat), so a slow commit is not taken for a crash. */
  leaseGraceSeconds: number;
  /** A QUEUED task not claimed this long after it was due is taken for a lost message. */
  deliveryGraceSeconds: number;
  /** How often the sweeper checks an unfinished run against its tasks (lost stream records). */
  reconcileIntervalSeconds: number;
  /** How long a resume's owner may go without saving progress before another takes over. */
  resumeLeaseSeconds: number;
  /** How far behind its clock the sweeper keeps its mark (clock drift, the index's lag). */
  sweepMarkLagSeconds: number;
}

export const DEFAULT_TIMINGS: EngineTimings = {
  defaultTaskTimeoutSeconds: TIMINGS.defaultTaskTimeoutSeconds,
  leaseGraceSeconds: TIMINGS.leaseGraceSeconds,
  deliveryGraceSeconds: TIMINGS.deliveryGraceSeconds,
  reconcileIntervalSeconds: TIMINGS.reconcileIntervalSeconds,
  resumeLeaseSeconds: TIMINGS.resumeLeaseSeconds,
  sweepMarkLagSeconds: TIMINGS.sweepMarkLagSeconds,
};

/** How long one attempt may go without a word before it is taken for dead. */
export function leaseMs(task: { heartbeatSeconds?: number | undefined; timeoutSeconds?: number | undefined }, timings: EngineTimings): number {
  return ((task.heartbeatSeconds ?? task.timeoutSeconds ?? timings.defaultTaskTimeoutSeconds) + timings.leaseGraceSeconds) * 1000;
}

/**
 * When the sweeper looks at a task queued now, whose message is delayed by `delayMs`: after the
 * delivery grace, or sooner, after one lease, so that a crash of the worker that claims it is
 * found within its lease. (A message still in a long backlog by then is sent again: a duplicate,
 * which the claim makes harmless.)
 */
export function deliveryDueAt(now: number, delayMs: number, leaseMillis: number, timings: EngineTimings): number {
  return now + delayMs + Math.min(timings.deliveryGraceSeconds * 1000, leaseMillis);
}

/** When an unfinished run is looked at next: its periodic check, or its deadline if sooner. */
export function runDueAt(now: number, deadlineAt: number | undefined, timings: EngineTimings): number {
  const check = now + timings.reconcileIntervalSeconds * 1000;
  return deadlineAt !== undefined && deadlineAt > now ? Math.min(deadlineAt, check) : check;
}
