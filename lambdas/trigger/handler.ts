// The trigger Lambda: the target of every workflow schedule's EventBridge Scheduler schedule (the
// local runtime's timer calls it the same way). Its event is the schedule's fixed input, with the
// fire's scheduled time filled in by EventBridge: { scheduleId, workflowId, fireTime }. The fire
// itself (overlap policy, idempotent start) is ScheduleFirer's.
import * as z from 'zod';
import { ValidationError } from '../../shared/model/errors.js';
import { RunControl } from '../../shared/engine/run-control.js';
import { ScheduleFirer, type FireOutcome } from '../../shared/engine/schedules.js';
import { flushing, type EngineParts } from '../parts.js';

export type TriggerHandler = (event: unknown) => Promise<FireOutcome>;

const FireEventSchema = z.strictObject({
  scheduleId: z.string().min(1).max(64),
  workflowId: z.string().min(1).max(128),
  /** <aws.scheduler.scheduled-time>: ISO 8601, e.g. 2026-12-01T20:45:00Z. */
  fireTime: z.iso.datetime({ offset: true, error: 'fireTime must be an ISO 8601 time' }),
});

export function makeTriggerHandler(deps: { firer: Pick<ScheduleFirer, 'fire'>; log: (message: string, extra: Record<string, unknown>) => void }): TriggerHandler {
  return async (event) => {
    const parsed = FireEventSchema.safeParse(event);
    // A malformed event is the schedule's definition at fault, not something a retry mends: said, not thrown.
    if (!parsed.success) {
      const error = new ValidationError(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
      deps.log('schedule fire refused', { error: error.message, event });
      return { outcome: 'ignored', reason: error.message, fireTime: '' };
    }
    const outcome = await deps.firer.fire(parsed.data);
    deps.log('schedule fired', { ...parsed.data, ...outcome });
    return outcome;
  };
}

/** The trigger function from the engine's parts; runs record `handlerBuild` as the API's do. */
export function buildTrigger(parts: EngineParts, handlerBuild?: string): { firer: ScheduleFirer; handler: TriggerHandler } {
  const { store, queue, definitions, now, timings, metrics } = parts;
  const runControl = new RunControl({ ...store, queue, definitions, now, timings, metrics });
  const firer = new ScheduleFirer({
    schedules: parts.schedules,
    runs: store.runs,
    definitions,
    catalog: store.definitions,
    runControl,
    now,
    ...(handlerBuild === undefined ? {} : { handlerBuild }),
  });
  return { firer, handler: flushing(metrics, makeTriggerHandler({ firer, log: (message, extra) => parts.logger.info(message, extra) })) };
}
