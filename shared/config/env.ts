// Each Lambda's configuration, parsed once at load from the environment: one loader per function,
// asking for exactly what that function uses. A missing or malformed setting throws with the
// variable's name; resource names have no defaults.
import * as z from 'zod';
import { ENV, SECRETS_SOURCES, type SecretsSource } from './settings.js';

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
  /** The worker's build, recorded on each new run (absent when the deployer sets none). */
  handlerBuild: string | undefined;
}

const handlerBuild = z.string().max(64, `${ENV.handlerBuild} must be at most 64 characters`).optional();

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const data = load({ [ENV.tableName]: tableName, [ENV.taskQueueUrl]: taskQueueUrl, [ENV.handlerNames]: list, [ENV.handlerBuild]: handlerBuild }, env);
  return {
    tableName: data[ENV.tableName],
    taskQueueUrl: data[ENV.taskQueueUrl],
    handlerNames: data[ENV.handlerNames],
    handlerBuild: data[ENV.handlerBuild] === '' ? undefined : data[ENV.handlerBuild],
  };
}

/** Where the API puts workflow schedules on AWS: the group, the role EventBridge Scheduler assumes, the target. */
/**
 * The payload bucket (PAYLOAD_BUCKET, set by the CDK construct on every function that reads or
 * writes inputs and outputs); undefined where there is none, and inputs and outputs must fit in items.
 */
export function loadPayloadBucket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[ENV.payloadBucket] === undefined) return undefined;
  const bucket = z
    .string()
    .min(3, `${ENV.payloadBucket} must be a bucket name`)
    .max(63, `${ENV.payloadBucket} must be a bucket name`)
    .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, `${ENV.payloadBucket} must be a bucket name`);
  return load({ [ENV.payloadBucket]: bucket }, env)[ENV.payloadBucket];
}

export interface ScheduleTargetConfig {
  groupName: string;
  roleArn: string;
  targetArn: string;
}

/** Undefined when the deployment has no schedule group (a stack built without the trigger function). */
export function loadScheduleTargetConfig(env: NodeJS.ProcessEnv = process.env): ScheduleTargetConfig | undefined {
  if (env[ENV.scheduleGroup] === undefined) return undefined;
  const required = (name: string) => z.string({ error: `${name} must be set` }).min(1, `${name} must not be empty`);
  const data = load(
    { [ENV.scheduleGroup]: required(ENV.scheduleGroup), [ENV.schedulerRoleArn]: required(ENV.schedulerRoleArn), [ENV.triggerFunctionArn]: required(ENV.triggerFunctionArn) },
    env,
  );
  return { groupName: data[ENV.scheduleGroup], roleArn: data[ENV.schedulerRoleArn], targetArn: data[ENV.triggerFunctionArn] };
}

/** The trigger function (a schedule's fire starts a run): the table, the queue, and the worker's build. */
export interface TriggerConfig extends QueueingConfig {
  handlerBuild: string | undefined;
}

export function loadTriggerConfig(env: NodeJS.ProcessEnv = process.env): TriggerConfig {
  const data = load({ [ENV.tableName]: tableName, [ENV.taskQueueUrl]: taskQueueUrl, [ENV.handlerBuild]: handlerBuild }, env);
  return {
    tableName: data[ENV.tableName],
    taskQueueUrl: data[ENV.taskQueueUrl],
    handlerBuild: data[ENV.handlerBuild] === '' ? undefined : data[ENV.handlerBuild],
  };
}

/** The register function (the deploy-time custom resource): the table, and the worker's handler names. */
export interface RegisterConfig {
  tableName: string;
  handlerNames: string[];
}

export function loadRegisterConfig(env: NodeJS.ProcessEnv = process.env): RegisterConfig {
  const data = load({ [ENV.tableName]: tableName, [ENV.handlerNames]: list }, env);
  return { tableName: data[ENV.tableName], handlerNames: data[ENV.handlerNames] };
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
  /** Where the secrets of http task headers are read (Secrets Manager unless set). */
  secretsSource: SecretsSource;
  /** Put before every secret name (empty unless set). */
  secretsPrefix: string;
}

// An unset or empty variable is the default, as the stack may set it to '' for "not configured".
const secretsSource = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? 'secretsmanager' : value.trim().toLowerCase()))
  .pipe(z.enum(SECRETS_SOURCES, { error: `${ENV.secretsSource} must be one of ${SECRETS_SOURCES.join(', ')}` }));

// The characters secret names may use (SECRET_NAME_PATTERN), so that prefix + name is still one.
const secretsPrefix = z
  .string()
  .optional()
  .transform((value) => value ?? '')
  .pipe(
    z
      .string()
      .max(256, `${ENV.secretsPrefix} must be at most 256 characters`)
      .regex(/^[A-Za-z0-9/_+=.@-]*$/, `${ENV.secretsPrefix} may use only letters, digits and / _ + = . @ -`),
  );

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const data = load(
    {
      [ENV.tableName]: tableName,
      [ENV.taskQueueUrl]: taskQueueUrl,
      [ENV.httpAllowedHosts]: list,
      [ENV.lambdaAllowedFunctions]: list,
      [ENV.secretsSource]: secretsSource,
      [ENV.secretsPrefix]: secretsPrefix,
    },
    env,
  );
  return {
    tableName: data[ENV.tableName],
    taskQueueUrl: data[ENV.taskQueueUrl],
    httpAllowedHosts: data[ENV.httpAllowedHosts],
    lambdaAllowedFunctions: data[ENV.lambdaAllowedFunctions],
    secretsSource: data[ENV.secretsSource],
    secretsPrefix: data[ENV.secretsPrefix],
  };
}
