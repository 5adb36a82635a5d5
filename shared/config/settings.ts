// Names and settings shared by the CDK stack, the local runtime and the handlers: environment
// variable names, queue settings and engine timings. One module, so they cannot drift apart.

/** Environment variables the Lambdas read (parsed once, at load, by env.ts). */
export const ENV = {
  tableName: 'TABLE_NAME',
  taskQueueUrl: 'TASK_QUEUE_URL',
  taskDlqUrl: 'TASK_DLQ_URL',
  /** Comma-separated hosts that `http` tasks may call (SSRF guard); `*.example.com` matches subdomains. */
  httpAllowedHosts: 'HTTP_ALLOWED_HOSTS',
  /** Comma-separated Lambda function names or ARNs that `lambda` tasks may invoke. */
  lambdaAllowedFunctions: 'LAMBDA_ALLOWED_FUNCTIONS',
  /**
   * Comma-separated names of the handlers the worker bundle registers: the API checks definitions
   * against them without carrying the handlers' code.
   */
  handlerNames: 'HANDLER_NAMES',
  /**
   * The build of the worker's code (its bundle's hash, set by the CDK construct): the API records
   * it on each run it starts, so a run says which handler code it began on.
   */
  handlerBuild: 'HANDLER_BUILD',
  /**
   * Where the worker looks up the secrets of http task headers: `secretsmanager` (the default),
   * `ssm` (Parameter Store) or `env` (DAGFLOW_SECRET_<NAME> variables, as the local runtime does).
   */
  secretsSource: 'DAGFLOW_SECRETS_SOURCE',
  /** Put before every secret name to make the SecretId or parameter name, e.g. `dagflow/` or `/dagflow/`. */
  secretsPrefix: 'DAGFLOW_SECRETS_PREFIX',
  /** The EventBridge Scheduler schedule group of the engine's workflow schedules (the API manages them). */
  scheduleGroup: 'SCHEDULE_GROUP',
  /** The role EventBridge Scheduler assumes to invoke the trigger function (the API passes it). */
  schedulerRoleArn: 'SCHEDULER_ROLE_ARN',
  /** The trigger function: every workflow schedule's target. */
  triggerFunctionArn: 'TRIGGER_FUNCTION_ARN',
  /** The bucket of large inputs and outputs (over the inline limit); unset: they must fit in items. */
  payloadBucket: 'PAYLOAD_BUCKET',
} as const;

/** The stores the worker can read the secrets of http task headers from (ENV.secretsSource). */
export const SECRETS_SOURCES = ['secretsmanager', 'ssm', 'env'] as const;
export type SecretsSource = (typeof SECRETS_SOURCES)[number];

export const QUEUES = {
  task: { name: 'dagflow-tasks', dlqName: 'dagflow-tasks-dlq' },
  /** Deliveries before SQS moves a message to the DLQ. */
  maxReceiveCount: 5,
  /** The worker's own timeout; the queue's visibility timeout is six times it (AWS guidance). */
  workerTimeoutSeconds: 900,
  visibilityTimeoutSeconds: 6 * 900,
  /** Seconds a DLQ keeps a message (14 days, the maximum). */
  dlqRetentionSeconds: 14 * 86_400,
  /** SQS's largest DelaySeconds. */
  maxDelaySeconds: 900,
} as const;

export const TIMINGS = {
  /** Lease of an attempt without its own timeoutSeconds. */
  defaultTaskTimeoutSeconds: 300,
  /** A QUEUED task whose message has not been claimed this long after it was due is re-sent. */
  deliveryGraceSeconds: 300,
  /**
   * How often the sweeper checks an unfinished run against its tasks, so that a stream record
   * the scheduler gave up on (AWS drops it after the mapping's retries) cannot leave it hanging.
   */
  reconcileIntervalSeconds: 900,
  /** Lease beyond a task's timeout, so a slow commit is not taken for a crash. */
  leaseGraceSeconds: 30,
  /** How long a resume's owner may go without saving progress before another takes it over. */
  resumeLeaseSeconds: 60,
  /**
   * How far behind its clock the sweeper keeps its mark (everything due up to the mark was
   * handled): more than clocks drift apart and the expiries index lags the table, so that an entry
   * written just before a sweep is read by the next one.
   */
  sweepMarkLagSeconds: 30,
  /** Days a finished run (with its tasks and history) is kept before DynamoDB's TTL deletes it. */
  retentionDays: 90,
} as const;
