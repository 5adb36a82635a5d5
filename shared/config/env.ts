// The Lambdas' configuration, parsed once at load from the environment. A missing or malformed
// setting throws with the variable's name; resource names have no defaults.
import { z } from 'zod';
import { ENV } from './settings.js';

const list = z
  .string()
  .optional()
  .transform((value) => (value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''));

const ConfigSchema = z.object({
  [ENV.tableName]: z.string({ error: `${ENV.tableName} must be set` }).min(1, `${ENV.tableName} must not be empty`),
  [ENV.taskQueueUrl]: z.url({ error: `${ENV.taskQueueUrl} must be a queue URL` }),
  [ENV.httpAllowedHosts]: list,
  [ENV.lambdaAllowedFunctions]: list,
});

export interface EngineConfig {
  tableName: string;
  taskQueueUrl: string;
  httpAllowedHosts: string[];
  /** Functions `lambda` tasks may invoke (none unless listed). */
  lambdaAllowedFunctions?: string[];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  }
  return {
    tableName: parsed.data[ENV.tableName],
    taskQueueUrl: parsed.data[ENV.taskQueueUrl],
    httpAllowedHosts: parsed.data[ENV.httpAllowedHosts],
    lambdaAllowedFunctions: parsed.data[ENV.lambdaAllowedFunctions],
  };
}
