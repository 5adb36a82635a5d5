// The local runtime's EventBridge Scheduler: it fires workflow schedules from their items in the
// table, calling the trigger function as EventBridge would ({ scheduleId, workflowId, fireTime }).
// One timer, armed for the next due fire (never a poll: an idle engine with schedules sleeps until
// then). It is the API's ScheduleTarget here, so a schedule created, paused, resumed or deleted
// through the API re-arms it at once.
//
// Catch-up is off, as on AWS: a fire time missed while the engine was down is not replayed; at
// start-up each schedule's next fire is the first one after now. `fireDue(now)` fires what is due
// by `now`, so a test can move time on instead of waiting for it.
import { formatFireTime } from '../shared/model/schedule-expression.js';
import { nextFireOf, type Fire, type FireOutcome, type ScheduleRecord, type ScheduleStore, type ScheduleTarget } from '../shared/engine/schedules.js';

/** setTimeout's longest delay; a later fire is re-armed for when this one ends. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** A fire that failed (the table did not answer, say) is tried again this much later. */
const RETRY_MS = 5_000;

export interface ScheduleTimer extends ScheduleTarget {
  /** Fires every schedule due by `now` (each once, at its scheduled time); then re-arms. */
  fireDue(now?: Date): Promise<FireOutcome[]>;
  /** Reads every schedule item again (start-up). */
  reload(): Promise<void>;
  /** The next fire the timer is armed for (epoch ms), if any. */
  nextDueAt(): number | undefined;
  stop(): Promise<void>;
}

interface Entry {
  schedule: ScheduleRecord;
  /** The next fire time (epoch ms); undefined when paused or when it never fires again. */
  nextAt: number | undefined;
  /** After a failed fire: not before this. */
  retryAt?: number;
}

export interface ScheduleTimerOptions {
  schedules: Pick<ScheduleStore, 'listSchedules'>;
  /** The trigger function. */
  fire: (fire: Fire) => Promise<FireOutcome>;
  now?: () => Date;
  onError?: (error: unknown) => void;
}

export async function startScheduleTimer(options: ScheduleTimerOptions): Promise<ScheduleTimer> {
  const clock = options.now ?? (() => new Date());
  const entries = new Map<string, Entry>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** Fires run one batch at a time. */
  let running: Promise<unknown> = Promise.resolve();

  const keyOf = (schedule: ScheduleRecord) => `${schedule.workflowId}#${schedule.scheduleId}`;
  const dueOf = (entry: Entry) => (entry.nextAt === undefined ? undefined : Math.max(entry.nextAt, entry.retryAt ?? 0));

  /** Keeps the next fire of a schedule whose timing did not change (a reload must not skip one that is due). */
  const upsert = (schedule: ScheduleRecord, at: number) => {
    const known = entries.get(keyOf(schedule));
    const same = known !== undefined && known.schedule.expression === schedule.expression && known.schedule.state === schedule.state;
    entries.set(keyOf(schedule), same ? { ...known, schedule } : { schedule, nextAt: nextFireOf(schedule, at) });
  };

  const nextDueAt = () => {
    let next: number | undefined;
    for (const entry of entries.values()) {
      const due = dueOf(entry);
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  };

  const arm = () => {
    clearTimeout(timer);
    timer = undefined;
    const next = nextDueAt();
    if (stopped || next === undefined) return;
    timer = setTimeout(() => {
      fireDue().catch((error: unknown) => options.onError?.(error));
    }, Math.min(MAX_DELAY_MS, Math.max(0, next - Date.now())));
  };

  const fireDue = (now: Date = clock()): Promise<FireOutcome[]> => {
    const batch = running.then(async () => {
      const at = now.getTime();
      const outcomes: FireOutcome[] = [];
      for (const entry of [...entries.values()]) {
        const due = dueOf(entry);
        if (entry.nextAt === undefined || due === undefined || due > at) continue;
        const { schedule } = entry;
        try {
          outcomes.push(await options.fire({ scheduleId: schedule.scheduleId, workflowId: schedule.workflowId, fireTime: formatFireTime(entry.nextAt) }));
          // Catch-up is off: fire times missed meanwhile are passed over.
          entry.nextAt = nextFireOf(schedule, at);
          delete entry.retryAt;
        } catch (error) {
          entry.retryAt = at + RETRY_MS;
          options.onError?.(error);
        }
      }
      return outcomes;
    });
    running = batch.catch(() => undefined).finally(arm);
    return batch;
  };

  const reload = async () => {
    const at = clock().getTime();
    const schedules = await options.schedules.listSchedules();
    const present = new Set(schedules.map(keyOf));
    for (const key of entries.keys()) if (!present.has(key)) entries.delete(key);
    for (const schedule of schedules) upsert(schedule, at);
    arm();
  };

  await reload();
  return {
    put: (schedule) => {
      upsert(schedule, clock().getTime());
      arm();
      return Promise.resolve();
    },
    remove: (schedule) => {
      entries.delete(keyOf(schedule));
      arm();
      return Promise.resolve();
    },
    fireDue,
    reload,
    nextDueAt,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
