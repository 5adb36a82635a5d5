// An in-memory double of the schedule items (shared/aws/dynamo/schedules.ts): the same conditions
// (a new id only, a state change only of a schedule that is there, no fire older than the last).
import type { LastFire, ScheduleRecord, ScheduleState, ScheduleStore, ScheduleTarget } from '../../../shared/engine/schedules.js';

export class MemoryScheduleStore implements ScheduleStore {
  readonly items = new Map<string, ScheduleRecord>();

  constructor(private readonly now: () => Date) {}

  async createSchedule(schedule: ScheduleRecord): Promise<boolean> {
    const key = `${schedule.workflowId}#${schedule.scheduleId}`;
    if (this.items.has(key)) return false;
    this.items.set(key, structuredClone(schedule));
    return true;
  }

  async getSchedule(workflowId: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    const item = this.items.get(`${workflowId}#${scheduleId}`);
    return item === undefined ? undefined : structuredClone(item);
  }

  async listSchedules(workflowId?: string): Promise<ScheduleRecord[]> {
    return [...this.items.values()].filter((item) => workflowId === undefined || item.workflowId === workflowId).map((item) => structuredClone(item));
  }

  async setState(workflowId: string, scheduleId: string, state: ScheduleState): Promise<ScheduleRecord | undefined> {
    const item = this.items.get(`${workflowId}#${scheduleId}`);
    if (item === undefined) return undefined;
    item.state = state;
    item.updatedAt = this.now().toISOString();
    return structuredClone(item);
  }

  async deleteSchedule(workflowId: string, scheduleId: string): Promise<void> {
    this.items.delete(`${workflowId}#${scheduleId}`);
  }

  async recordFire(params: { workflowId: string; scheduleId: string; fire: LastFire }): Promise<'ok' | 'stale'> {
    const item = this.items.get(`${params.workflowId}#${params.scheduleId}`);
    if (item === undefined || (item.lastFire !== undefined && item.lastFire.fireTime > params.fire.fireTime)) return 'stale';
    item.lastFire = { ...params.fire };
    if (params.fire.outcome === 'started' && params.fire.runId !== undefined) item.lastRunId = params.fire.runId;
    return 'ok';
  }
}

/** A target that keeps what it was told, and can be made to fail. */
export class RecordingTarget implements ScheduleTarget {
  readonly schedules = new Map<string, ScheduleRecord>();
  failing = false;

  async put(schedule: ScheduleRecord): Promise<void> {
    if (this.failing) throw new Error('the target is unavailable');
    this.schedules.set(schedule.scheduleId, structuredClone(schedule));
  }

  async remove(schedule: ScheduleRecord): Promise<void> {
    if (this.failing) throw new Error('the target is unavailable');
    this.schedules.delete(schedule.scheduleId);
  }
}
