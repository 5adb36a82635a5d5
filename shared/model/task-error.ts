// What a failed attempt leaves behind: the error stored on its task and shown in its history.
import * as z from 'zod';

export const TaskErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  details: z.json().optional(),
});
/** What a failed attempt left behind; `name` is what retry policies match on. */
export type TaskError = z.infer<typeof TaskErrorSchema>;
