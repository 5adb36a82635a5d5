// What the example handlers share: reading their input and upstream outputs through a zod schema
// (a bad value fails the task, not retried, with the field named), and a simulated piece of work
// that stops as soon as the attempt's signal fires.
import * as z from 'zod';
import { TaskFailure, type TaskContext } from 'dagflow';

/** `value` parsed by `schema`, or a non-retryable `InvalidInput` naming `what` and the field. */
export function parseOrFail<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`))
    .join('; ');
  throw new TaskFailure('InvalidInput', `${what}: ${problems}`, { retryable: false });
}

/**
 * The output of the direct dependency `taskId`, parsed. Handlers of the examples name the tasks
 * they read from, so they belong to their workflow; a missing upstream is a wiring mistake.
 */
export function upstreamOutput<S extends z.ZodType>(ctx: TaskContext, taskId: string, schema: S): z.output<S> {
  const upstream = Object.hasOwn(ctx.upstream, taskId) ? ctx.upstream[taskId] : undefined;
  if (upstream === undefined || upstream.output === undefined) {
    throw new TaskFailure('MissingUpstream', `task ${ctx.taskId} needs the output of task ${taskId}`, { retryable: false });
  }
  return parseOrFail(schema, upstream.output, `output of ${taskId}`);
}

/**
 * Waits `ms` milliseconds, as a stand-in for real work; rejects with `signal.reason` as soon as
 * the signal fires (cancellation, timeout), which is what every handler should do.
 */
export function simulateWork(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

const DelaySchema = z.object({ simulate: z.object({ delayMs: z.int().min(0).max(60_000) }) });

/**
 * How long a simulated step takes: `input.simulate.delayMs` when the run gives one (tests and demos
 * use it to make tasks slow or instant), else the handler's own `defaultMs`.
 */
export function workDuration(ctx: TaskContext, defaultMs: number): number {
  const parsed = DelaySchema.safeParse(ctx.input);
  return parsed.success ? parsed.data.simulate.delayMs : defaultMs;
}
