// Powertools settings of every function; the metric names live in shared/config/metrics.ts, which
// the handlers emit with, so the dashboard and alarms read exactly what is written.
import { ENGINE_METRICS, SERVICE_NAME } from '../shared/config/metrics.js';

export { ENGINE_METRICS, type EngineMetricName } from '../shared/config/metrics.js';

/** Powertools' own environment variables, set on every function of the engine named `serviceName`. */
export function powertoolsEnv(serviceName: string = SERVICE_NAME): Record<string, string> {
  return {
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: ENGINE_METRICS.namespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}
