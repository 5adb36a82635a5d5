// Powertools for AWS Lambda: the Logger (JSON lines, with runId/taskId/attempt added as persistent
// keys for everything logged about one attempt) and Metrics (EMF lines that CloudWatch turns into
// the metrics the dashboard and alarms read).
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ENGINE_METRICS, SERVICE_NAME } from '../config/metrics.js';
import type { EngineMetrics } from '../engine/metrics.js';
import type { TaskLogger } from '../tasks/context.js';

/**
 * The service in every log line and the `service` dimension of every metric: POWERTOOLS_SERVICE_NAME,
 * which the CDK construct sets per engine so that two engines (dev and prod) in one account and
 * region keep their metrics and alarms apart; `dagflow` locally.
 */
function serviceName(): string {
  const fromEnv = process.env['POWERTOOLS_SERVICE_NAME'];
  return fromEnv === undefined || fromEnv === '' ? SERVICE_NAME : fromEnv;
}

export function createLogger(options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {}): Logger {
  return new Logger({ serviceName: serviceName(), ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }) });
}

export function attemptLogger(logger: Logger, keys: { runId: string; taskId: string; attempt: number }): TaskLogger {
  const child = logger.createChild({ persistentKeys: keys });
  return {
    debug: (message, extra) => child.debug(message, extra ?? {}),
    info: (message, extra) => child.info(message, extra ?? {}),
    warn: (message, extra) => child.warn(message, extra ?? {}),
    error: (message, extra) => child.error(message, extra ?? {}),
  };
}

/** Metrics as EMF lines on stdout (CloudWatch turns them into metrics); POWERTOOLS_METRICS_DISABLED silences them. */
export function createMetrics(): EngineMetrics {
  const metrics = new Metrics({ namespace: ENGINE_METRICS.namespace, serviceName: serviceName() });
  return {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    milliseconds: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, Math.max(0, value)),
    flush: () => {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}
