// The engine's CloudWatch metrics: the names the handlers emit (Powertools Metrics, EMF) and the
// CDK dashboard and alarms read. One module, so what is written is what is read.

/** The service name in logs and the default dimension of every metric. */
export const SERVICE_NAME = 'dagflow';

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
    /** Milliseconds from a task being queued to its attempt starting. */
    schedulingLatency: 'SchedulingLatency',
    /** Count of runs past their deadline, emitted by the sweeper on every sweep (0 when none). */
    overdueRuns: 'OverdueRuns',
  },
} as const;

export type EngineMetricName = (typeof ENGINE_METRICS.names)[keyof typeof ENGINE_METRICS.names];
