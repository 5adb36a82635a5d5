// Dead letters: a task message SQS gave up on (maxReceiveCount deliveries) names an attempt that
// could not be processed. The attempt ends by the one failed-attempt path (attempts.ts), with a
// DeadLettered error carrying the message, so that its run goes on instead of hanging. Only an
// attempt nobody holds is ended: never claimed, a lease that ran out, or a wait's wake-up; a live
// attempt that another worker runs (the dead letter was a duplicate) is left alone.
import { endFailedAttempt, type AttemptDeps, type EndOutcome } from './attempts.js';
import type { DefinitionSource } from './definition-cache.js';
import { executionPlan } from './execution-plan.js';
import type { TaskMessage } from './messages.js';
import type { TaskStore } from './ports.js';
import type { EngineTimings } from './timing.js';

/** The part of the message body kept in the task's error. */
const MAX_BODY_CHARS = 2_048;

export interface DeadLetterDeps extends AttemptDeps {
  tasks: AttemptDeps['tasks'] & Pick<TaskStore, 'getTask'>;
  definitions: DefinitionSource;
  timings: EngineTimings;
}

export async function handleDeadLetter(
  deps: DeadLetterDeps,
  message: TaskMessage,
  delivery: { messageId: string; receiveCount: string; body: string },
): Promise<EndOutcome | 'not-found'> {
  const task = await deps.tasks.getTask(message.runId, message.taskId);
  if (task === undefined || task.attempt !== message.attempt) return 'not-found';
  // The task's own workflow and version: a poison message may name others that do not exist.
  const definition = await deps.definitions.get(task.workflowId, task.version);
  const plan = executionPlan(definition, task.taskId, deps.timings);
  const error = {
    name: 'DeadLettered',
    message: `the task's message could not be processed and was dead-lettered after ${delivery.receiveCount} deliveries`,
    retryable: false,
    details: { messageId: delivery.messageId, body: delivery.body.slice(0, MAX_BODY_CHARS) },
  };
  // A wait task's wake-up that could not be processed ends the wait FAILED: its retry policy is
  // for failures of work, and a wait retried could only wait for a wake-up that never comes.
  const policy = plan.action.type === 'wait' ? { ...plan, retry: undefined } : plan;
  return endFailedAttempt(deps, { task, plan: policy, fence: { kind: 'dead-letter', now: deps.now().getTime() } }, error);
}
