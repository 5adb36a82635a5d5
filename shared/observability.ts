// Logging for the handlers: Powertools Logger (JSON lines), with runId/taskId/attempt added as
// persistent keys for everything logged about one attempt (DESIGN.md section 7).
import { Logger } from '@aws-lambda-powertools/logger';
import type { TaskLogger } from './tasks/context.js';

export const SERVICE_NAME = 'dagflow';

export function createLogger(options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {}): Logger {
  return new Logger({ serviceName: SERVICE_NAME, ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }) });
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
