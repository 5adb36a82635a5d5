// The engine's size and range limits, in one place. Item sizes must stay under DynamoDB's
// 400 KB per item (docs/architecture.md, invariants): a task item carries its output, its checkpoint and its
// error, and a run item carries its input, so each is bounded well below that.

export const LIMITS = {
  /** Tasks in one workflow definition. */
  maxTasks: 10_000,
  /**
   * Serialized definition. It is stored compressed in one DynamoDB item (400 KB): a definition of
   * 10,000 tasks is about 600 KB of JSON and some 30 KB compressed.
   */
  maxDefinitionBytes: 1024 * 1024,
  /** Run input (stored on the run item). */
  maxInputBytes: 256 * 1024,
  /** Task output (stored on the task item). */
  maxOutputBytes: 256 * 1024,
  /**
   * With a payload store (S3): inputs and outputs up to this size; those over `inlinePayloadBytes`
   * are kept as objects of their own and referenced from their items.
   */
  maxPayloadBytes: 10 * 1024 * 1024,
  inlinePayloadBytes: 32 * 1024,
  /** Child runs nested in each other (a workflow task that starts its own workflow ends here). */
  maxChildDepth: 8,
  /** Saved checkpoint (stored on the task item beside the output). */
  maxCheckpointBytes: 64 * 1024,
  /** Ids of workflows and tasks. */
  maxIdLength: 80,
  maxRetries: 100,
  /** Tasks with `compensate` (their compensations start in one transaction of at most 100 items). */
  maxCompensations: 98,
  /** A retry delay or a backoff cap (one day: longer waits are parked as WAITING). */
  maxDelaySeconds: 86_400,
  maxBackoffRate: 10,
  /**
   * Start-to-close timeout (and heartbeat interval) of one attempt. An attempt runs inside one
   * worker invocation, which Lambda stops at 900 s; the worker fires the attempt's signal 3 s
   * before that and needs a moment to record the result, so a longer timeout could never be met.
   */
  maxTimeoutSeconds: 880,
  /** A `wait` task's delay (one year). */
  maxWaitSeconds: 365 * 86_400,
  /** A callback's wait: at most the 30 days a run's deadline may be (task items outlive that, then expire). */
  maxCallbackSeconds: 30 * 86_400,
  /** A callback's wait when its task says nothing: a day. */
  defaultCallbackSeconds: 86_400,
  /** Items in one map task's list. */
  maxMapItems: 100_000,
  /** A map's items running at once. */
  maxMapConcurrency: 1_000,
  /** One item of a map's list (each is kept on its own item task). */
  maxMapItemBytes: 32 * 1024,
  /** Depth of nested `when` conditions. */
  maxConditionDepth: 8,
  /**
   * Nesting of arrays and objects in any JSON we parse. Validators and JSON.stringify recurse,
   * and a few KB of `[[[[...]]]]` would otherwise overflow the stack instead of being refused.
   */
  maxJsonDepth: 64,
} as const;

export function jsonByteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
}

/** Whether arrays/objects nest deeper than `max` levels; iterative, so any depth is safe to ask. */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const { value: current, depth } = pending.pop() as { value: unknown; depth: number };
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > max) return true;
    for (const item of Array.isArray(current) ? current : Object.values(current)) {
      pending.push({ value: item as unknown, depth: depth + 1 });
    }
  }
  return false;
}
