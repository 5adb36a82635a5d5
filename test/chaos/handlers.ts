// The handlers of the chaos workloads, run by every worker process. Each execution appends its
// effect to the effect log (one JSON line: idempotency key, attempt, process), as a side effect on
// another system would be made; the verifier then checks that the engine committed each task once.
import { appendFileSync } from 'node:fs';
import { TaskFailure, type TaskContext, type TaskHandler } from '../../shared/index.js';

export interface Effect {
  key: string;
  runId: string;
  taskId: string;
  attempt: number;
  pid: number;
  kind: 'work' | 'undo';
}

interface ChaosInput {
  /** Attempts of `flaky` tasks that fail before one succeeds. */
  flakyAttempts?: number;
  /** Until when (epoch ms) `broken` tasks fail for good. */
  brokenUntil?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    });
  });
}

export function chaosHandlers(effectLog: string): Map<string, TaskHandler> {
  const record = (ctx: TaskContext, kind: Effect['kind']) => {
    const effect: Effect = { key: ctx.idempotencyKey, runId: ctx.runId, taskId: ctx.taskId, attempt: ctx.attempt, pid: process.pid, kind };
    appendFileSync(effectLog, `${JSON.stringify(effect)}\n`);
  };
  const input = (ctx: TaskContext) => (ctx.input ?? {}) as ChaosInput;
  const work = async (ctx: TaskContext, ms: number) => {
    await sleep(ms, ctx.signal);
    record(ctx, 'work');
    return { task: ctx.taskId, attempt: ctx.attempt, pid: process.pid };
  };
  return new Map<string, TaskHandler>([
    ['work', (ctx) => work(ctx, 10 + Math.floor(Math.random() * 40))],
    ['slow', (ctx) => work(ctx, 1_500)],
    [
      'flaky',
      async (ctx) => {
        if (ctx.attempt <= (input(ctx).flakyAttempts ?? 2)) throw new Error(`transient failure of attempt ${ctx.attempt}`);
        return work(ctx, 10);
      },
    ],
    [
      'broken',
      async (ctx) => {
        if (Date.now() < (input(ctx).brokenUntil ?? Number.POSITIVE_INFINITY)) throw new TaskFailure('Broken', 'broken until fixed', { retryable: false });
        return work(ctx, 10);
      },
    ],
    [
      'undo',
      async (ctx) => {
        await sleep(10, ctx.signal);
        record(ctx, 'undo');
        return { undone: ctx.taskId };
      },
    ],
  ]);
}
