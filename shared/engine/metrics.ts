// What the engine's services record about their work (counts and durations by metric name). The
// services depend on this port; the Lambdas pass Powertools Metrics (aws/powertools.ts), tests and
// the local runtime an in-memory recorder.
import type { EngineMetricName } from '../config/metrics.js';

/** What the engine's parts record; flushed once per Lambda invocation. */
export interface EngineMetrics {
  count(name: EngineMetricName, value?: number): void;
  milliseconds(name: EngineMetricName, value: number): void;
  flush(): void;
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
