// Workflow schedules: a workflow started on a cron or rate expression with a fixed input. The
// schedule item in the table is the source of truth; what fires it (EventBridge Scheduler on AWS,
// the local runtime's timer locally) is a ScheduleTarget the manager keeps in step with it.
//
// A fire is handled by ScheduleFirer, whatever fired it: the run is created under the idempotency
// key `schedule:<scheduleId>:<fireTime>`, so the same fire delivered twice starts one run, and the
// schedule's overlap policy decides what happens while its previous run is still going:
//   skip             no run for this fire
//   allow            a run anyway
//   cancel_previous  the previous run is cancelled (as POST /runs/{id}/cancel does), then a run starts
// A paused or deleted schedule's fires, and fires older than the last one handled, change nothing.
import { ConflictError, NotFoundError } from '../model/errors.js';
import { formatFireTime, nextFireTime, parseScheduleExpression, type ScheduleExpression } from '../model/schedule-expression.js';
import { isFinalRunStatus } from '../model/states.js';
import type { DefinitionSource } from './definition-cache.js';
import type { DefinitionStore, RunStore } from './ports.js';
import type { RunTrigger, StoredDefinition } from './records.js';
import type { RunControl } from './run-control.js';

export const OVERLAP_POLICIES = ['skip', 'allow', 'cancel_previous'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];
export type ScheduleState = 'ENABLED' | 'PAUSED';

/** Schedules one workflow may have: each is an EventBridge schedule on AWS. */
export const MAX_SCHEDULES_PER_WORKFLOW = 100;

/** The last fire a schedule handled. */
export interface LastFire {
  fireTime: string;
  outcome: 'started' | 'skipped';
  /** The run it started, or (skipped) the run still going that it skipped for. */
  runId?: string;
  /** When it was handled. */
  at: string;
}

export interface ScheduleRecord {
  scheduleId: string;
  workflowId: string;
  expression: string;
  input: unknown;
  overlap: OverlapPolicy;
  /** A pinned version; without it, each fire starts the latest. */
  version?: string;
  state: ScheduleState;
  createdAt: string;
  updatedAt: string;
  lastFire?: LastFire;
  /** The run the schedule last started: the one its overlap policy looks at. */
  lastRunId?: string;
}

/** The schedule items (shared/aws/dynamo/schedules.ts; in memory in the unit tests). */
export interface ScheduleStore {
  /** Writes a new schedule; refused (false) when its id exists. */
  createSchedule(schedule: ScheduleRecord): Promise<boolean>;
  getSchedule(workflowId: string, scheduleId: string): Promise<ScheduleRecord | undefined>;
  /** One workflow's schedules, or every workflow's (the local timer's load). */
  listSchedules(workflowId?: string): Promise<ScheduleRecord[]>;
  /** Sets ENABLED or PAUSED; the schedule as it now is, or undefined when there is none. */
  setState(workflowId: string, scheduleId: string, state: ScheduleState): Promise<ScheduleRecord | undefined>;
  deleteSchedule(workflowId: string, scheduleId: string): Promise<void>;
  /**
   * Records a fire handled (and the run it started), unless a later fire was recorded already
   * (`stale`) or the schedule is gone.
   */
  recordFire(params: { workflowId: string; scheduleId: string; fire: LastFire }): Promise<'ok' | 'stale'>;
}

/** What fires schedules: told of every schedule created, paused, resumed (`put`) or deleted. */
export interface ScheduleTarget {
  put(schedule: ScheduleRecord): Promise<void>;
  remove(schedule: ScheduleRecord): Promise<void>;
}

/** Nothing fires: schedules are kept, never fired (a deployment without a target, or a test). */
export const NO_SCHEDULE_TARGET: ScheduleTarget = { put: () => Promise.resolve(), remove: () => Promise.resolve() };

export interface NewSchedule {
  expression: string;
  input?: unknown;
  overlap?: OverlapPolicy;
  version?: string;
}

/** The expression of a stored schedule (it was checked when the schedule was created). */
export function expressionOf(schedule: Pick<ScheduleRecord, 'expression'>): ScheduleExpression {
  const parsed = parseScheduleExpression(schedule.expression);
  if (!parsed.ok) throw new Error(`stored schedule expression is invalid: ${parsed.message}`);
  return parsed.expression;
}

/**
 * The schedule's next fire after `now` and after the last fire it handled (epoch ms), when it is
 * enabled and has one. Rates count from its creation, to the second (fire times are whole seconds).
 */
export function nextFireOf(schedule: ScheduleRecord, now: number): number | undefined {
  if (schedule.state !== 'ENABLED') return undefined;
  const lastFire = schedule.lastFire === undefined ? Number.NEGATIVE_INFINITY : Date.parse(schedule.lastFire.fireTime);
  return nextFireTime(expressionOf(schedule), Math.max(now, lastFire), Math.floor(Date.parse(schedule.createdAt) / 1000) * 1000);
}

/** A schedule as the API shows it. */
export function scheduleView(schedule: ScheduleRecord, now: number) {
  const next = nextFireOf(schedule, now);
  return {
    scheduleId: schedule.scheduleId,
    workflowId: schedule.workflowId,
    expression: schedule.expression,
    input: schedule.input,
    overlap: schedule.overlap,
    ...(schedule.version === undefined ? {} : { version: schedule.version }),
    state: schedule.state,
    createdAt: schedule.createdAt,
    updatedAt: schedule.updatedAt,
    ...(next === undefined ? {} : { nextFireTime: formatFireTime(next) }),
    ...(schedule.lastFire === undefined
      ? {}
      : {
          lastFireTime: schedule.lastFire.fireTime,
          lastOutcome: schedule.lastFire.outcome,
        }),
    ...(schedule.lastRunId === undefined ? {} : { lastRunId: schedule.lastRunId }),
  };
}

export interface ScheduleManagerDeps {
  schedules: ScheduleStore;
  definitions: Pick<DefinitionStore, 'getWorkflow' | 'getDefinition'>;
  target: ScheduleTarget;
  now?: () => Date;
  newScheduleId?: () => string;
}

/** What the API does to schedules: the item first (the truth), then the target in step with it. */
export class ScheduleManager {
  private readonly now: () => Date;
  private readonly newScheduleId: () => string;

  constructor(private readonly deps: ScheduleManagerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newScheduleId = deps.newScheduleId ?? (() => crypto.randomUUID());
  }

  async create(workflowId: string, request: NewSchedule): Promise<ScheduleRecord> {
    await this.workflow(workflowId);
    if (request.version !== undefined && (await this.deps.definitions.getDefinition(workflowId, request.version)) === undefined) {
      throw new NotFoundError(`workflow "${workflowId}" version "${request.version}"`);
    }
    const existing = await this.deps.schedules.listSchedules(workflowId);
    if (existing.length >= MAX_SCHEDULES_PER_WORKFLOW) {
      throw new ConflictError(`workflow "${workflowId}" has ${existing.length} schedules, the most it may have; delete one first`);
    }
    const now = this.now().toISOString();
    const schedule: ScheduleRecord = {
      scheduleId: this.newScheduleId(),
      workflowId,
      expression: request.expression.trim(),
      input: request.input ?? null,
      overlap: request.overlap ?? 'skip',
      ...(request.version === undefined ? {} : { version: request.version }),
      state: 'ENABLED',
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.deps.schedules.createSchedule(schedule))) throw new ConflictError(`schedule "${schedule.scheduleId}" exists already`);
    try {
      await this.deps.target.put(schedule);
    } catch (error) {
      // Without its target the schedule would never fire: it is not kept.
      await this.deps.schedules.deleteSchedule(workflowId, schedule.scheduleId);
      throw error;
    }
    return schedule;
  }

  async list(workflowId: string): Promise<ScheduleRecord[]> {
    await this.workflow(workflowId);
    return this.deps.schedules.listSchedules(workflowId);
  }

  /**
   * ENABLED or PAUSED; doing it twice is the same as once. After telling the target, the item is
   * read again: a pause and a resume at once could otherwise leave the target with the state the
   * item no longer has (each call's put may land in either order), and the schedule never firing.
   */
  async setState(workflowId: string, scheduleId: string, state: ScheduleState): Promise<ScheduleRecord> {
    const schedule = await this.deps.schedules.setState(workflowId, scheduleId, state);
    if (schedule === undefined) throw new NotFoundError(`schedule "${scheduleId}" of workflow "${workflowId}"`);
    let pushed = schedule;
    for (let i = 0; i < MAX_STATE_PUSHES; i++) {
      await this.deps.target.put(pushed);
      const current = await this.deps.schedules.getSchedule(workflowId, scheduleId);
      if (current === undefined || current.state === pushed.state) break;
      pushed = current;
    }
    return schedule;
  }

  /** The target's schedule first: a schedule item whose target is gone fires nothing, the reverse would. */
  async remove(workflowId: string, scheduleId: string): Promise<void> {
    const schedule = await this.deps.schedules.getSchedule(workflowId, scheduleId);
    if (schedule === undefined) throw new NotFoundError(`schedule "${scheduleId}" of workflow "${workflowId}"`);
    await this.deps.target.remove(schedule);
    await this.deps.schedules.deleteSchedule(workflowId, scheduleId);
  }

  private async workflow(workflowId: string) {
    const entry = await this.deps.definitions.getWorkflow(workflowId);
    if (entry === undefined) throw new NotFoundError(`workflow "${workflowId}"`);
    return entry;
  }
}

export interface Fire {
  scheduleId: string;
  workflowId: string;
  /** The fire's scheduled time (EventBridge's <aws.scheduler.scheduled-time>), any ISO 8601 form. */
  fireTime: string;
}

export type FireOutcome =
  | { outcome: 'started'; runId: string; fireTime: string; created: boolean }
  | { outcome: 'skipped'; runId: string; fireTime: string }
  | { outcome: 'ignored'; reason: string; fireTime: string };

export interface ScheduleFirerDeps {
  schedules: ScheduleStore;
  runs: Pick<RunStore, 'getRun'>;
  definitions: DefinitionSource;
  catalog: Pick<DefinitionStore, 'getWorkflow'>;
  runControl: Pick<RunControl, 'start' | 'cancel'>;
  handlerBuild?: string;
  now?: () => Date;
  newRunId?: () => string;
}

/** How often setState tells the target again when the item changed under it (a concurrent pause or resume). */
const MAX_STATE_PUSHES = 3;

/** A fire taken later than this after its time is dropped (EventBridge Scheduler's retry window). */
const LATE_FIRE_MS = 15 * 60_000;

/** Handles one fire of a schedule: the overlap policy, then an idempotent start. */
export class ScheduleFirer {
  private readonly now: () => Date;
  private readonly newRunId: () => string;

  constructor(private readonly deps: ScheduleFirerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newRunId = deps.newRunId ?? (() => crypto.randomUUID());
  }

  async fire(fire: Fire): Promise<FireOutcome> {
    const fireTime = formatFireTime(Date.parse(fire.fireTime));
    const schedule = await this.deps.schedules.getSchedule(fire.workflowId, fire.scheduleId);
    if (schedule === undefined) return { outcome: 'ignored', reason: 'no such schedule (deleted?)', fireTime };
    if (schedule.state !== 'ENABLED') return { outcome: 'ignored', reason: 'the schedule is paused', fireTime };
    // Catch-up is off: a fire delivered long after its time (retried, or held by a backlog) starts nothing.
    if (this.now().getTime() - Date.parse(fireTime) > LATE_FIRE_MS) return { outcome: 'ignored', reason: `the fire is more than ${LATE_FIRE_MS / 60_000} minutes late`, fireTime };
    const last = schedule.lastFire;
    if (last !== undefined && last.fireTime > fireTime) return { outcome: 'ignored', reason: `a later fire (${last.fireTime}) was handled already`, fireTime };
    // The same fire again (a retried delivery): what the first one did stands.
    if (last !== undefined && last.fireTime === fireTime && last.runId !== undefined) {
      return last.outcome === 'started' ? { outcome: 'started', runId: last.runId, fireTime, created: false } : { outcome: 'skipped', runId: last.runId, fireTime };
    }

    const previous = schedule.lastRunId === undefined ? undefined : await this.deps.runs.getRun(schedule.lastRunId);
    const previousGoingOn = previous !== undefined && !isFinalRunStatus(previous.status);
    if (previousGoingOn && schedule.overlap === 'skip') {
      await this.record(schedule, { fireTime, outcome: 'skipped', runId: previous.runId });
      return { outcome: 'skipped', runId: previous.runId, fireTime };
    }
    if (previousGoingOn && schedule.overlap === 'cancel_previous') {
      await this.deps.runControl.cancel(previous.runId, `cancelled by schedule ${schedule.scheduleId}: its fire of ${fireTime} starts another run`).catch((error: unknown) => {
        // It ended (or is being cancelled) meanwhile: nothing left to cancel.
        if (!(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
      });
    }

    const definition = await this.definition(schedule);
    if (definition === undefined) return { outcome: 'ignored', reason: `workflow "${schedule.workflowId}"${schedule.version === undefined ? '' : ` version "${schedule.version}"`} not found`, fireTime };
    const trigger: RunTrigger = { scheduleId: schedule.scheduleId, fireTime };
    const key = `schedule:${schedule.scheduleId}:${fireTime}`;
    const { runId, created } = await this.deps.runControl.start({
      runId: this.newRunId(),
      definition,
      input: schedule.input,
      // The key is the request: one fire, one run, whatever else the schedule says by then.
      idempotency: { key, requestFingerprint: key },
      trigger,
      ...(this.deps.handlerBuild === undefined ? {} : { handlerBuild: this.deps.handlerBuild }),
    });
    await this.record(schedule, { fireTime, outcome: 'started', runId });
    return { outcome: 'started', runId, fireTime, created };
  }

  private async record(schedule: ScheduleRecord, fire: Omit<LastFire, 'at'>): Promise<void> {
    await this.deps.schedules.recordFire({ workflowId: schedule.workflowId, scheduleId: schedule.scheduleId, fire: { ...fire, at: this.now().toISOString() } });
  }

  /** The pinned version, or the workflow's latest at fire time. */
  private async definition(schedule: ScheduleRecord): Promise<StoredDefinition | undefined> {
    const version = schedule.version ?? (await this.deps.catalog.getWorkflow(schedule.workflowId))?.latestVersion;
    if (version === undefined) return undefined;
    return this.deps.definitions.get(schedule.workflowId, version).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
  }
}
