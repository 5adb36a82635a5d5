// The task message: what a queue carries to a worker. It names one attempt of one task; the
// worker's claim makes a duplicate harmless. The engine sends through the TaskQueue port.
import * as z from 'zod';

/** A scope carried in a message at most this long (ten in a batch stay under one 64 KB billing unit). */
export const MAX_SCOPE_JSON = 4_096;

/** The scope a message carries: the run's input and the outputs of the task's dependencies. */
export interface CarriedScope {
  input: unknown;
  upstream: Record<string, { output?: unknown }>;
}

/** The scope as message text, or undefined when it is too large to carry. */
export function carryScope(scope: CarriedScope): string | undefined {
  const text = JSON.stringify(scope);
  return text.length <= MAX_SCOPE_JSON ? text : undefined;
}

export const TaskMessageSchema = z.strictObject({
  runId: z.string().min(1),
  taskId: z.string().min(1),
  attempt: z.int().min(1),
  workflowId: z.string().min(1),
  version: z.string().min(1),
  /** Epoch ms before which the task must not start (a `wait` task's end). */
  notBefore: z.number().optional(),
  /**
   * The run's input and the outputs of the task's dependencies, as JSON text, when the sender knew
   * them and they are small: the worker then needs no read before the attempt. JSON text, not a
   * JSON value, so that it comes back exactly as it was (a "__proto__" key included).
   */
  scopeJson: z.string().max(MAX_SCOPE_JSON).optional(),
});
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

export interface OutgoingMessage {
  message: TaskMessage;
  /** 0..900 seconds. */
  delaySeconds?: number;
}

/** Where task messages go (SQS on AWS and locally). */
export interface TaskQueue {
  send(messages: readonly OutgoingMessage[]): Promise<void>;
}
