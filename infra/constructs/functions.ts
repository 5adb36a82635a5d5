// The engine's Lambda functions (docs/architecture.md), one per entry in lambdas/, each with its own
// role and log group, and the wiring of what each may touch: every grant goes through a helper of
// the construct that owns the resource, which sets the matching env var in the same call. Every
// function but register also gets and puts payload objects (payloads.ts): large inputs and outputs.
//   api       table read/write + send tasks             (a run's roots, a cancel, a resume; no stream)
//   scheduler table read/write + stream (event source) + send tasks
//   worker    table read/write + task queue (event source) + send tasks (dependents, retries, waits)
//   sweeper   table read/write + send tasks             (run by the schedule, see schedule.ts)
//   dlq       table read/write + task DLQ (event source) + send tasks (the retry of a dead-lettered attempt)
//   register  table read/write                        (the deploy-time custom resource that registers definitions)
//   trigger   table read/write + send tasks             (a workflow schedule's fire starts a run; see workflow-schedules.ts)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV, QUEUES } from '../../shared/config/settings.js';
import { powertoolsEnv } from '../metrics.js';
import type { StackConfig } from '../stack-config.js';
import { INFRA_QUEUE_SETTINGS, type EngineQueues } from './queues.js';
import type { EnginePayloads } from './payloads.js';
import type { EngineState } from './state.js';

export const ENGINE_FUNCTION_NAMES = ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'register', 'trigger'] as const;
export type EngineFunctionName = (typeof ENGINE_FUNCTION_NAMES)[number];

/**
 * Entry files (`export const handler`) by function. The construct creates the sweeper, the dlq
 * handler, the register function and the schedules' trigger only when given, so a stack (or a test) can be built without
 * them; the DagflowEngine construct always passes all of them (findFunctionEntries), since a stack
 * without its sweeper has no safety net.
 */
export type FunctionEntries = Record<'api' | 'scheduler' | 'worker', string> & Partial<Record<'sweeper' | 'dlq' | 'register' | 'trigger', string>>;

/** lambdas/<name>/index.ts under `rootDir` for every function; throws naming a missing one. */
export function findFunctionEntries(rootDir: string): Required<FunctionEntries> {
  const entry = (name: EngineFunctionName) => {
    const file = path.join(rootDir, 'lambdas', name, 'index.ts');
    if (!fs.existsSync(file)) throw new Error(`the ${name} function's entry ${path.relative(rootDir, file)} does not exist`);
    return file;
  };
  return {
    api: entry('api'),
    scheduler: entry('scheduler'),
    worker: entry('worker'),
    sweeper: entry('sweeper'),
    dlq: entry('dlq'),
    register: entry('register'),
    trigger: entry('trigger'),
  };
}

interface FunctionSettings {
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
}

const FUNCTION_SETTINGS: Record<EngineFunctionName, FunctionSettings> = {
  // HTTP APIs give up on an integration after 30 s.
  api: { description: 'dagflow HTTP API', memorySize: 512, timeout: Duration.seconds(29) },
  scheduler: { description: 'dagflow scheduler: table stream -> ready tasks queued', memorySize: 512, timeout: Duration.minutes(2) },
  worker: { description: 'dagflow worker: runs task attempts', memorySize: 1024, timeout: Duration.seconds(QUEUES.workerTimeoutSeconds) },
  // Under the schedule's one minute, so two sweeps rarely overlap (they are idempotent if they do).
  sweeper: { description: 'dagflow sweeper: expired leases, lost messages, due retries, overdue runs', memorySize: 512, timeout: Duration.seconds(55) },
  dlq: { description: 'dagflow dlq handler: dead-lettered task messages -> FAILED tasks', memorySize: 256, timeout: Duration.seconds(INFRA_QUEUE_SETTINGS.dlqHandlerTimeoutSeconds) },
  register: { description: 'dagflow register: the workflow definitions of a deploy', memorySize: 256, timeout: Duration.minutes(1) },
  trigger: { description: 'dagflow trigger: a workflow schedule fired -> a run started', memorySize: 256, timeout: Duration.seconds(30) },
};

/** The newest Node.js runtime aws-cdk-lib offers (cdk-nag's AwsSolutions-L1 flags older ones). */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;
const ESBUILD_TARGET = 'node24';

/** CommonJS dependencies bundled into an ESM file still call `require`: give them one. */
const ESM_REQUIRE_SHIM = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export interface EngineFunctionsProps {
  readonly state: EngineState;
  /** The payload bucket: every function that reads or writes inputs and outputs gets it. */
  readonly payloads: EnginePayloads;
  readonly queues: EngineQueues;
  readonly entries: FunctionEntries;
  /** esbuild's working directory: the folder of the lock file below. */
  readonly projectRoot: string;
  /** The app's package-lock.json (or yarn.lock, pnpm-lock.yaml). */
  readonly depsLockFilePath: string;
  /** POWERTOOLS_SERVICE_NAME of every function: the `service` of its logs and metrics. */
  readonly serviceName: string;
  readonly config: Pick<
    StackConfig,
    'httpAllowedHosts' | 'lambdaAllowedFunctions' | 'workerReservedConcurrency' | 'workerMaxConcurrency' | 'secretsSource' | 'secretsPrefix'
  >;
  /** The handlers the worker registers: the API refuses definitions naming others (it carries names, not code). */
  readonly handlerNames: readonly string[];
  /** Of the log groups. */
  readonly removalPolicy: RemovalPolicy;
}

export class EngineFunctions extends Construct {
  public readonly api: NodejsFunction;
  public readonly scheduler: NodejsFunction;
  public readonly worker: NodejsFunction;
  public readonly sweeper: NodejsFunction | undefined;
  public readonly dlq: NodejsFunction | undefined;
  public readonly register: NodejsFunction | undefined;
  public readonly trigger: NodejsFunction | undefined;
  /** Every function created, by name (monitoring iterates it). */
  public readonly byName: ReadonlyMap<EngineFunctionName, NodejsFunction>;

  private readonly props: EngineFunctionsProps;
  private readonly created = new Map<EngineFunctionName, NodejsFunction>();

  constructor(scope: Construct, id: string, props: EngineFunctionsProps) {
    super(scope, id);
    this.props = props;
    const { state, queues, entries, config } = props;

    this.api = this.createFunction('api', entries.api);
    state.grantDataAccess(this.api);
    props.payloads.grantPayloads(this.api);
    queues.grantSendTasks(this.api);
    this.api.addEnvironment(ENV.handlerNames, props.handlerNames.join(','));

    this.scheduler = this.createFunction('scheduler', entries.scheduler);
    state.grantDataAccess(this.scheduler);
    props.payloads.grantPayloads(this.scheduler);
    queues.grantSendTasks(this.scheduler);
    state.addStreamConsumer(this.scheduler, { onFailure: queues.streamFailureQueue });

    this.worker = this.createFunction('worker', entries.worker, {
      ...(config.workerReservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: config.workerReservedConcurrency }),
    });
    state.grantDataAccess(this.worker);
    props.payloads.grantPayloads(this.worker);
    queues.grantSendTasks(this.worker);
    queues.addTaskConsumer(this.worker, { maxConcurrency: config.workerMaxConcurrency });
    // Empty means no host: http tasks fail until the deployer allows some (SSRF guard).
    this.worker.addEnvironment(ENV.httpAllowedHosts, config.httpAllowedHosts.join(','));
    if (config.lambdaAllowedFunctions.length > 0) this.allowLambdaTasks(config.lambdaAllowedFunctions);
    this.allowSecrets(config.secretsSource, config.secretsPrefix);

    if (entries.sweeper !== undefined) {
      this.sweeper = this.createFunction('sweeper', entries.sweeper);
      state.grantDataAccess(this.sweeper);
      props.payloads.grantPayloads(this.sweeper);
      queues.grantSendTasks(this.sweeper);
    }

    if (entries.dlq !== undefined) {
      this.dlq = this.createFunction('dlq', entries.dlq);
      state.grantDataAccess(this.dlq);
      props.payloads.grantPayloads(this.dlq);
      queues.grantSendTasks(this.dlq);
      queues.addDlqConsumer(this.dlq);
    }

    if (entries.register !== undefined) {
      this.register = this.createFunction('register', entries.register);
      state.grantDataAccess(this.register);
      this.register.addEnvironment(ENV.handlerNames, props.handlerNames.join(','));
    }

    if (entries.trigger !== undefined) {
      this.trigger = this.createFunction('trigger', entries.trigger);
      state.grantDataAccess(this.trigger);
      props.payloads.grantPayloads(this.trigger);
      queues.grantSendTasks(this.trigger);
      // EventBridge Scheduler invokes it asynchronously: a fire Lambda could not take within 15
      // minutes is dropped, as Scheduler's own retry window is (catch-up is off).
      this.trigger.configureAsyncInvoke({ maxEventAge: Duration.minutes(15), retryAttempts: 2 });
    }

    this.byName = this.created;
  }

  /** Invoke rights on exactly these functions for `lambda` tasks, and LAMBDA_ALLOWED_FUNCTIONS, together. */
  private allowLambdaTasks(functions: readonly string[]): void {
    const stack = Stack.of(this);
    const arns = functions.map((fn) =>
      fn.startsWith('arn:')
        ? fn
        : stack.formatArn({ service: 'lambda', resource: 'function', resourceName: fn, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    );
    this.worker.addEnvironment(ENV.lambdaAllowedFunctions, functions.join(','));
    this.worker.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: arns }));
  }

  /**
   * Read rights on the secrets under the prefix, for `{{secret:NAME}}` in http task headers, and
   * the env vars that tell the worker where to look (docs/secrets.md), together.
   */
  private allowSecrets(source: 'secretsmanager' | 'ssm', configuredPrefix: string | undefined): void {
    const stack = Stack.of(this);
    const prefix = configuredPrefix ?? (source === 'ssm' ? '/dagflow/' : 'dagflow/');
    this.worker.addEnvironment(ENV.secretsSource, source);
    this.worker.addEnvironment(ENV.secretsPrefix, prefix);
    const resource =
      source === 'ssm'
        ? stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${prefix.replace(/^\//, '')}*` })
        : // Secrets Manager adds a random suffix to every secret's ARN: the name is a prefix of it.
          stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${prefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.worker.addToRolePolicy(new iam.PolicyStatement({ actions: [source === 'ssm' ? 'ssm:GetParameter' : 'secretsmanager:GetSecretValue'], resources: [resource] }));
    if (this.worker.role !== undefined) {
      Validations.of(this.worker.role).acknowledge({
        // cdk-nag names a resource with its pseudo parameters written <AWS::Region> and so on.
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:${source}:<AWS::Region>:<AWS::AccountId>:${
          source === 'ssm' ? `parameter/${prefix.replace(/^\//, '')}*` : `secret:${prefix}*`
        }]`,
        reason:
          'The worker reads the secrets http task headers name, which are chosen per workflow; the grant is scoped to the ' +
          'deployer\'s secrets prefix (and Secrets Manager appends a random suffix to every secret ARN).',
      });
    }
  }

  private createFunction(name: EngineFunctionName, entry: string, extra: Partial<lambda.FunctionOptions> = {}): NodejsFunction {
    const settings = FUNCTION_SETTINGS[name];
    const id = name.charAt(0).toUpperCase() + name.slice(1);

    // One role per function with nothing attached but what the wiring grants: no AWS managed
    // policy (AWSLambdaBasicExecutionRole would allow writing to every log group).
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Role of the ${settings.description}`,
    });
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: this.props.removalPolicy,
    });
    logGroup.grantWrite(role);

    const fn = new NodejsFunction(this, id, {
      entry,
      handler: 'handler',
      projectRoot: this.props.projectRoot,
      depsLockFilePath: this.props.depsLockFilePath,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      description: settings.description,
      memorySize: settings.memorySize,
      timeout: settings.timeout,
      role,
      logGroup,
      environment: { ...powertoolsEnv(this.props.serviceName), NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        // Local esbuild only: no Docker here, and none needed for pure JavaScript.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: ESBUILD_TARGET,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_SHIM,
        // Our SDK versions from package-lock.json, not whatever the runtime ships.
        bundleAwsSDK: true,
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
      },
      ...extra,
    });
    this.created.set(name, fn);
    return fn;
  }
}
