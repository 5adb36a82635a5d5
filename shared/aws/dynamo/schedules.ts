// Workflow schedules in the table: one item per schedule, all in one partition (a handful per
// workflow, read by the API per workflow and by the local timer all at once). The input is kept as
// JSON text, like a run's. Not in any stream-scheduled key space: the scheduler ignores them.
import * as z from 'zod';
import { OVERLAP_POLICIES, type LastFire, type ScheduleRecord, type ScheduleState, type ScheduleStore } from '../../engine/schedules.js';
import { parseItem, withoutUndefined } from './items.js';
import { SCHEDULE_PREFIX, keys } from './keys.js';
import type { Item, Table } from './table.js';

const ScheduleItemSchema = z.object({
  scheduleId: z.string(),
  workflowId: z.string(),
  expression: z.string(),
  inputJson: z.string(),
  overlap: z.enum(OVERLAP_POLICIES),
  version: z.string().optional(),
  state: z.enum(['ENABLED', 'PAUSED']),
  createdAt: z.string(),
  updatedAt: z.string(),
  lastFire: z.object({ fireTime: z.string(), outcome: z.enum(['started', 'skipped']), runId: z.string().optional(), at: z.string() }).optional(),
  lastRunId: z.string().optional(),
});

export class DynamoScheduleStore implements ScheduleStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => Date,
  ) {}

  async createSchedule(schedule: ScheduleRecord): Promise<boolean> {
    const { input, ...rest } = schedule;
    const written = await this.table.put({
      Item: { ...keys.schedule(schedule.workflowId, schedule.scheduleId), kind: 'schedule', ...withoutUndefined(rest), inputJson: JSON.stringify(input ?? null) },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    return written.applied;
  }

  async getSchedule(workflowId: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    const item = await this.table.get(keys.schedule(workflowId, scheduleId));
    return item === undefined ? undefined : toSchedule(item);
  }

  async listSchedules(workflowId?: string): Promise<ScheduleRecord[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.schedules().pk, ':prefix': workflowId === undefined ? SCHEDULE_PREFIX : `${SCHEDULE_PREFIX}${workflowId}#` },
      ConsistentRead: true,
    });
    return items.map(toSchedule).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async setState(workflowId: string, scheduleId: string, state: ScheduleState): Promise<ScheduleRecord | undefined> {
    const result = await this.table.update({
      Key: keys.schedule(workflowId, scheduleId),
      UpdateExpression: 'SET #state = :state, updatedAt = :now',
      // Never a stub item for a schedule deleted meanwhile.
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':state': state, ':now': this.now().toISOString() },
      ReturnValues: 'ALL_NEW',
    });
    return result.applied && result.item !== undefined ? toSchedule(result.item) : undefined;
  }

  async deleteSchedule(workflowId: string, scheduleId: string): Promise<void> {
    await this.table.delete(keys.schedule(workflowId, scheduleId));
  }

  async recordFire(params: { workflowId: string; scheduleId: string; fire: LastFire }): Promise<'ok' | 'stale'> {
    const started = params.fire.outcome === 'started' && params.fire.runId !== undefined;
    const result = await this.table.update({
      Key: keys.schedule(params.workflowId, params.scheduleId),
      UpdateExpression: started ? 'SET lastFire = :fire, lastRunId = :runId' : 'SET lastFire = :fire',
      // Fire times are ISO 8601 UTC to the second: they compare as strings. A fire older than the
      // last one recorded never takes its place.
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lastFire) OR lastFire.fireTime <= :fireTime)',
      ExpressionAttributeValues: {
        ':fire': withoutUndefined(params.fire),
        ':fireTime': params.fire.fireTime,
        ...(started ? { ':runId': params.fire.runId } : {}),
      },
    });
    return result.applied ? 'ok' : 'stale';
  }
}

function toSchedule(item: Item): ScheduleRecord {
  const { inputJson, lastFire, ...rest } = parseItem(ScheduleItemSchema, item, 'schedule');
  return withoutUndefined({
    ...rest,
    input: JSON.parse(inputJson) as unknown,
    ...(lastFire === undefined ? {} : { lastFire: withoutUndefined(lastFire) }),
  });
}
