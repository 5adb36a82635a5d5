// Each Lambda's configuration, parsed once at load from the environment: one loader per function,
// asking for exactly what that function uses. A missing or malformed setting throws with the
// variable's name; resource names have no defaults.
import * as z from 'zod';
import { ENV } from './settings.js';

const list = z
  .string()
  .optional()
  .transform((value) => (value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''));

const tableName = z.string({ error: `${ENV.tableName} must be set` }).min(1, `${ENV.tableName} must not be empty`);
const taskQueueUrl = z.url({ error: `${ENV.taskQueueUrl} must be a queue URL` });

function load<T extends z.ZodRawShape>(shape: T, env: NodeJS.ProcessEnv): z.output<z.ZodObject<T>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) throw new Error(`invalid configuration: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  return parsed.data;
}

export interface ApiConfig {
  tableName: string;
  /** A new run's roots are queued at once. */
  taskQueueUrl: string;
  /** The handlers the worker registers: definitions naming others are refused. */
  handlerNames: string[];
}

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const data = load({ [ENV.tableName]: tableName, [ENV.taskQueueUrl]: taskQueueUrl, [ENV.handlerNames]: list }, env);
  return { tableName: data[ENV.tableName], taskQueueUrl: data[ENV.taskQueueUrl], handlerNames: data[ENV.handlerNames] };
}

/** The scheduler, the sweeper and the dead-letter handler: the table, and the queue they send to. */
export interface QueueingConfig {
  tableName: string;
  taskQueueUrl: string;
}

export function loadQueueingConfig(env: NodeJS.ProcessEnv = process.env): QueueingConfig {
  const data = load({ [ENV.tableName]: tableName, [ENV.taskQueueUrl]: taskQueueUrl }, env);
  return { tableName: data[ENV.tableName], taskQueueUrl: data[ENV.taskQueueUrl] };
}

export interface WorkerConfig extends QueueingConfig {
  /** Hosts `http` tasks may call (none unless listed). */
  httpAllowedHosts: string[];
  /** Functions `lambda` tasks may invoke (none unless listed). */
  lambdaAllowedFunctions: string[];
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const data = load(
    { [ENV.tableName]: tableName, [ENV.taskQueueUrl]: taskQueueUrl, [ENV.httpAllowedHosts]: list, [ENV.lambdaAllowedFunctions]: list },
    env,
  );
  return {
    tableName: data[ENV.tableName],
    taskQueueUrl: data[ENV.taskQueueUrl],
    httpAllowedHosts: data[ENV.httpAllowedHosts],
    lambdaAllowedFunctions: data[ENV.lambdaAllowedFunctions],
  };
}
