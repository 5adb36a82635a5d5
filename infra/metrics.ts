// Powertools settings of every function; the metric names live in shared/config/metrics.ts, which
// the handlers emit with, so the dashboard and alarms read exactly what is written.
import { ENGINE_METRICS, SERVICE_NAME } from '../shared/config/metrics.js';

export { ENGINE_METRICS, type EngineMetricName } from '../shared/config/metrics.js';

/** Powertools' own environment variables, set on every function. */
export const POWERTOOLS_ENV = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_METRICS_NAMESPACE: ENGINE_METRICS.namespace,
  POWERTOOLS_LOG_LEVEL: 'INFO',
} as const;
