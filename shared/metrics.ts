// The engine's CloudWatch metrics (DESIGN.md section 7): the names the handlers emit with
// Powertools Metrics (EMF) and the CDK dashboard and alarms read. One module, so both agree.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SERVICE_NAME } from './observability.js';

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

/** What the engine's parts record; flushed once per Lambda invocation. */
export interface EngineMetrics {
  count(name: EngineMetricName, value?: number): void;
  milliseconds(name: EngineMetricName, value: number): void;
  flush(): void;
}

/** Metrics as EMF lines on stdout (CloudWatch turns them into metrics); POWERTOOLS_METRICS_DISABLED silences them. */
export function createMetrics(): EngineMetrics {
  const metrics = new Metrics({ namespace: ENGINE_METRICS.namespace, serviceName: SERVICE_NAME });
  return {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    milliseconds: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, Math.max(0, value)),
    flush: () => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

/** Metrics kept in memory (tests, the local stats); nothing is written anywhere. */
export class RecordedMetrics implements EngineMetrics {
  readonly values: Array<{ name: EngineMetricName; value: number }> = [];
  count(name: EngineMetricName, value = 1): void {
    this.values.push({ name, value });
  }
  milliseconds(name: EngineMetricName, value: number): void {
    this.values.push({ name, value });
  }
  flush(): void {}
}
