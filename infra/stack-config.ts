// The deployment's choices, read once from CDK context (cdk.json or `cdk deploy -c key=value`)
// and parsed with zod: a typo such as `-c auth=jwtt` fails the synth with the key's name instead
// of silently deploying something else. Values given with -c arrive as strings, so numbers and
// lists are coerced.
import type { Node } from 'constructs';
import * as z from 'zod';

/** The context keys this app reads (cdk.json `context`, or `-c key=value` on the command line). */
export const CONTEXT_KEYS = {
  /** `retain` (default) keeps the table and logs on stack deletion; `destroy` is for dev stacks. */
  removalPolicy: 'removalPolicy',
  /** `iam` (default, SigV4) or `jwt` (with jwtIssuer and jwtAudience). */
  auth: 'auth',
  jwtIssuer: 'jwtIssuer',
  /** Comma-separated list (or a JSON array in cdk.json). */
  jwtAudience: 'jwtAudience',
  /** Hosts `http` tasks may call; comma-separated, `*.example.com` for subdomains. Default: none. */
  httpAllowedHosts: 'httpAllowedHosts',
  /** Lambda functions (names or ARNs) `lambda` tasks may invoke; the worker gets invoke rights on them. */
  lambdaAllowedFunctions: 'lambdaAllowedFunctions',
  /** Reserved concurrency of the worker function. Default: unreserved. */
  workerReservedConcurrency: 'workerReservedConcurrency',
  /** Most concurrent worker invocations the SQS event source starts (2..1000). Default: no cap. */
  workerMaxConcurrency: 'workerMaxConcurrency',
  /** API Gateway stage throttling: steady requests per second and burst. */
  apiRateLimit: 'apiRateLimit',
  apiBurstLimit: 'apiBurstLimit',
  /** Where the worker reads the secrets of http task headers: `secretsmanager` (default) or `ssm`. */
  secretsSource: 'secretsSource',
  /**
   * Put before every secret name; the worker may read only secrets under it. Default `dagflow/`
   * (Secrets Manager) or `/dagflow/` (Parameter Store).
   */
  secretsPrefix: 'secretsPrefix',
  /** Alarm notifications: an e-mail address (a new encrypted topic is created) ... */
  alarmEmail: 'alarmEmail',
  /** ... or the ARN of an existing SNS topic. */
  alarmTopic: 'alarmTopic',
} as const;

const list = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((value) =>
    (Array.isArray(value) ? value : (value ?? '').split(',')).map((entry) => entry.trim()).filter((entry) => entry !== ''),
  );

const optionalInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max).optional();

const ContextSchema = z
  .object({
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
    auth: z.enum(['iam', 'jwt']).default('iam'),
    jwtIssuer: z.url({ protocol: /^https$/, error: 'jwtIssuer must be an https URL' }).optional(),
    jwtAudience: list,
    httpAllowedHosts: list,
    lambdaAllowedFunctions: list,
    workerReservedConcurrency: optionalInt(1, 10_000),
    workerMaxConcurrency: optionalInt(2, 1000),
    apiRateLimit: z.coerce.number().positive().default(100),
    apiBurstLimit: z.coerce.number().int().positive().default(200),
    secretsSource: z.enum(['secretsmanager', 'ssm'], { error: 'secretsSource must be secretsmanager or ssm' }).default('secretsmanager'),
    secretsPrefix: z
      .string()
      .regex(/^[A-Za-z0-9/_+=.@-]{1,256}$/, 'secretsPrefix may use only letters, digits and / _ + = . @ - (1 to 256 of them)')
      .optional(),
    alarmEmail: z.email({ error: 'alarmEmail must be an e-mail address' }).optional(),
    alarmTopic: z.string().regex(/^arn:aws[a-z-]*:sns:/, 'alarmTopic must be an SNS topic ARN').optional(),
  })
  .superRefine((config, ctx) => {
    if (config.auth === 'jwt' && config.jwtIssuer === undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwtIssuer'], message: 'auth=jwt needs jwtIssuer' });
    }
    if (config.auth === 'jwt' && config.jwtAudience.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['jwtAudience'], message: 'auth=jwt needs jwtAudience' });
    }
    if (config.secretsSource === 'ssm' && config.secretsPrefix !== undefined && !config.secretsPrefix.startsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['secretsPrefix'], message: 'with secretsSource=ssm, secretsPrefix must start with / (a parameter path)' });
    }
    if (config.alarmEmail !== undefined && config.alarmTopic !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['alarmTopic'], message: 'give alarmEmail or alarmTopic, not both' });
    }
  });

export type StackConfig = z.infer<typeof ContextSchema>;

/** Parses the context values this app reads; throws naming every bad key. */
export function parseStackConfig(values: Partial<Record<keyof typeof CONTEXT_KEYS, unknown>>): StackConfig {
  const parsed = ContextSchema.safeParse(values);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(context)'}: ${issue.message}`);
    throw new Error(`invalid CDK context: ${problems.join('; ')}`);
  }
  return parsed.data;
}

export function readStackConfig(node: Node): StackConfig {
  const values: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(CONTEXT_KEYS)) {
    const value: unknown = node.tryGetContext(key);
    if (value !== undefined && value !== '') values[field] = value;
  }
  return parseStackConfig(values);
}
