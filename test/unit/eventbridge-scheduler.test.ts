// The EventBridge Scheduler adapter on a mocked SDK client: the schedule it writes for a workflow
// schedule, create-or-update, a delete of one already gone, and SDK errors as the engine's.
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ThrottlingException,
  UpdateScheduleCommand,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeScheduleTarget } from '../../shared/aws/eventbridge-scheduler.js';
import type { ScheduleRecord } from '../../shared/engine/schedules.js';
import { EngineError, ValidationError } from '../../shared/model/errors.js';

const scheduler = mockClient(SchedulerClient);
const config = {
  groupName: 'engine-group',
  roleArn: 'arn:aws:iam::123456789012:role/scheduler',
  targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:trigger',
};
const target = new EventBridgeScheduleTarget(new SchedulerClient({ region: 'eu-west-1' }), config);
const schedule: ScheduleRecord = {
  scheduleId: '4a0c1b9e-0000-4000-8000-000000000001',
  workflowId: 'nightly',
  expression: 'cron(0 2 * * ? *)',
  input: { n: 1 },
  overlap: 'skip',
  state: 'ENABLED',
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:00.000Z',
};

beforeEach(() => scheduler.reset());

describe('EventBridgeScheduleTarget', () => {
  it('creates one schedule in the group, invoking the trigger with the fire time EventBridge fills in', async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn' });
    await target.put(schedule);
    const input = scheduler.commandCalls(CreateScheduleCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      Name: schedule.scheduleId,
      GroupName: 'engine-group',
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: config.targetArn, RoleArn: config.roleArn },
    });
    expect(JSON.parse(input?.Target?.Input ?? '')).toEqual({ scheduleId: schedule.scheduleId, workflowId: 'nightly', fireTime: '<aws.scheduler.scheduled-time>' });
    expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it('updates the schedule that exists already (a pause is State DISABLED)', async () => {
    scheduler.on(CreateScheduleCommand).rejects(new ConflictException({ message: 'exists', Message: 'exists', $metadata: {} }));
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn' });
    await target.put({ ...schedule, state: 'PAUSED' });
    expect(scheduler.commandCalls(UpdateScheduleCommand)[0]?.args[0].input).toMatchObject({ Name: schedule.scheduleId, GroupName: 'engine-group', State: 'DISABLED' });
  });

  it('deletes the schedule, and a schedule already gone is deleted', async () => {
    scheduler.on(DeleteScheduleCommand).resolvesOnce({}).rejects(new ResourceNotFoundException({ message: 'gone', Message: 'gone', $metadata: {} }));
    await target.remove(schedule);
    await target.remove(schedule);
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((call) => call.args[0].input)).toEqual([
      { Name: schedule.scheduleId, GroupName: 'engine-group' },
      { Name: schedule.scheduleId, GroupName: 'engine-group' },
    ]);
  });

  it("turns a refused expression into a 400 naming it, and the service's other failures into retryable errors", async () => {
    scheduler.on(CreateScheduleCommand).rejectsOnce(new ValidationException({ message: 'Invalid Schedule Expression', Message: 'Invalid Schedule Expression', $metadata: {} }));
    const refused = await target.put(schedule).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).problems).toEqual([{ path: 'body.expression', message: expect.stringMatching(/Invalid Schedule Expression/) }]);

    scheduler.on(CreateScheduleCommand).rejects(new ThrottlingException({ message: 'slow down', Message: 'slow down', $metadata: {} }));
    const throttled = await target.put(schedule).catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(EngineError);
    expect(throttled).toMatchObject({ code: 'SCHEDULER_UNAVAILABLE', retryable: true });
  });
});
