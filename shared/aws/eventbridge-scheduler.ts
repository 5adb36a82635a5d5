// The workflow schedules' target on AWS: one EventBridge Scheduler schedule per workflow schedule,
// named by its id, in the engine's own schedule group, invoking the trigger function with
// { scheduleId, workflowId, fireTime: <aws.scheduler.scheduled-time> }. The table's item stays the
// truth (the trigger checks it on every fire); this keeps EventBridge in step with it. SDK errors
// become the engine's: a refused expression is a 400 naming it, the rest retryable (503).
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ServiceQuotaExceededException,
  UpdateScheduleCommand,
  ValidationException,
  type CreateScheduleCommandInput,
  type SchedulerClientConfig,
} from '@aws-sdk/client-scheduler';
import { ConflictError, EngineError, ValidationError } from '../model/errors.js';
import type { ScheduleRecord, ScheduleTarget } from '../engine/schedules.js';

export interface EventBridgeScheduleConfig {
  groupName: string;
  /** The role EventBridge Scheduler assumes to invoke the trigger. */
  roleArn: string;
  /** The trigger function's ARN. */
  targetArn: string;
}

/**
 * Retries of a fire the trigger could not take (throttled, failing): within this window only.
 * Catch-up is off: a fire that did not start its run by then is dropped, never replayed later.
 */
const MAX_EVENT_AGE_SECONDS = 900;
const MAX_RETRIES = 10;

export function createSchedulerClient(config: SchedulerClientConfig = {}): SchedulerClient {
  return new SchedulerClient({ maxAttempts: 6, ...config });
}

export class EventBridgeScheduleTarget implements ScheduleTarget {
  constructor(
    private readonly client: SchedulerClient,
    private readonly config: EventBridgeScheduleConfig,
  ) {}

  /** Creates the schedule, or (it exists) replaces it with the item's expression and state. */
  async put(schedule: ScheduleRecord): Promise<void> {
    const input = this.scheduleInput(schedule);
    try {
      await this.client.send(new CreateScheduleCommand(input));
    } catch (error) {
      if (!(error instanceof ConflictException)) throw engineError(error);
      await this.client.send(new UpdateScheduleCommand(input)).catch((updateError: unknown) => {
        throw engineError(updateError);
      });
    }
  }

  async remove(schedule: ScheduleRecord): Promise<void> {
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: schedule.scheduleId, GroupName: this.config.groupName }));
    } catch (error) {
      // Gone already: deleting twice is deleting once.
      if (!(error instanceof ResourceNotFoundException)) throw engineError(error);
    }
  }

  private scheduleInput(schedule: ScheduleRecord): CreateScheduleCommandInput {
    return {
      Name: schedule.scheduleId,
      GroupName: this.config.groupName,
      Description: `dagflow: workflow ${schedule.workflowId}`.slice(0, 512),
      ScheduleExpression: schedule.expression,
      // The local engine evaluates expressions in UTC too.
      ScheduleExpressionTimezone: 'UTC',
      State: schedule.state === 'ENABLED' ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'NONE',
      Target: {
        Arn: this.config.targetArn,
        RoleArn: this.config.roleArn,
        Input: JSON.stringify({ scheduleId: schedule.scheduleId, workflowId: schedule.workflowId, fireTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumEventAgeInSeconds: MAX_EVENT_AGE_SECONDS, MaximumRetryAttempts: MAX_RETRIES },
      },
    };
  }
}

function engineError(error: unknown): Error {
  if (error instanceof ValidationException) return new ValidationError([{ path: 'body.expression', message: `EventBridge Scheduler refused the schedule: ${error.message}` }], { cause: error });
  if (error instanceof ServiceQuotaExceededException) return new ConflictError(`EventBridge Scheduler's quota of schedules is reached: ${error.message}`);
  return new EngineError('SCHEDULER_UNAVAILABLE', `EventBridge Scheduler did not answer: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, {
    retryable: true,
    cause: error,
  });
}
