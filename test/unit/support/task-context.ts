// What a task's code sees in a test (a TaskContext with quiet defaults: attempt 1, no checkpoint,
// a signal that never fires, `runId:taskId` as its idempotency key, a silent logger), and the
// error a promise rejects with.
import type { TaskContext, TaskLogger } from '../../../shared/tasks/context.js';

export const silentLogger: TaskLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export function taskContext(overrides: Partial<TaskContext> = {}): TaskContext {
  const runId = overrides.runId ?? 'run-1';
  const taskId = overrides.taskId ?? 'charge';
  return {
    runId,
    taskId,
    input: {},
    upstream: {},
    attempt: 1,
    checkpoint: undefined,
    saveCheckpoint: () => Promise.resolve(),
    heartbeat: () => Promise.resolve(),
    signal: new AbortController().signal,
    idempotencyKey: `${runId}:${taskId}`,
    logger: silentLogger,
    ...overrides,
  };
}

/** What `promise` rejects with; fails the test if it fulfils. */
export async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}
