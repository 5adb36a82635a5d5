// The task message: what a queue carries to a worker. It names one attempt of one task; the
// worker's claim makes a duplicate harmless. The engine sends through the TaskQueue port.
import { z } from 'zod';

export const TaskMessageSchema = z.strictObject({
  runId: z.string().min(1),
  taskId: z.string().min(1),
  attempt: z.int().min(1),
  workflowId: z.string().min(1),
  version: z.string().min(1),
  /** Epoch ms before which the task must not start (a `wait` task's end). */
  notBefore: z.number().optional(),
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
