// The engine's CloudWatch metrics (DESIGN.md section 7): the names the handlers emit with
// Powertools Metrics (EMF) and the dashboard and alarms read. One const, so the two sides agree.
// TODO(shared): move to shared/ (e.g. shared/metrics.ts) so the handlers import the same names.
import { SERVICE_NAME } from '../shared/observability.js';

export const ENGINE_METRICS = {
  /** POWERTOOLS_METRICS_NAMESPACE. */
  namespace: 'Dagflow',
  /** Powertools adds `service` (POWERTOOLS_SERVICE_NAME) as a default dimension to every metric. */
  dimensions: { service: SERVICE_NAME },
  names: {
    /** Milliseconds, one per finished attempt: p50/p95/p99 on the dashboard. */
    taskDuration: 'TaskDuration',
    taskSucceeded: 'TaskSucceeded',
    /** A task's final failure (no retry left). */
    taskFailed: 'TaskFailed',
    /** An attempt that failed and was scheduled again. */
    taskRetried: 'TaskRetried',
    runStarted: 'RunStarted',
    runCompleted: 'RunCompleted',
    runFailed: 'RunFailed',
    /** Milliseconds from run start to its final state. */
    runDuration: 'RunDuration',
    /** Milliseconds from a task becoming ready to its attempt starting. */
    schedulingLatency: 'SchedulingLatency',
    /** Count of runs past their deadline, emitted by the sweeper on every sweep (0 when none). */
    overdueRuns: 'OverdueRuns',
  },
} as const;

export type EngineMetricName = (typeof ENGINE_METRICS.names)[keyof typeof ENGINE_METRICS.names];

/** Powertools' own environment variables, set on every function. */
export const POWERTOOLS_ENV = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_METRICS_NAMESPACE: ENGINE_METRICS.namespace,
  POWERTOOLS_LOG_LEVEL: 'INFO',
} as const;
