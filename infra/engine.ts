// The engine as one CDK construct, for a team's own CDK app (`import { DagflowEngine } from
// 'dagflow/cdk'`): state, queues, functions and their wiring, the HTTP API, the sweeper's schedule,
// monitoring, and the team's workflows registered at deploy. The team's handler module is bundled
// into the worker function only. Nothing has a fixed name, so several engines (dev and prod
// stages) live side by side in one account and region; each emits its metrics under its own
// `service` dimension, which its dashboard and alarms read.
//
//   new DagflowEngine(stack, 'Engine', {
//     app,                                          // { handlers, workflows } (DagflowApp)
//     appEntry: fileURLToPath(new URL('../src/app.ts', import.meta.url)),  // exports `handlers`
//     config: { httpAllowedHosts: ['api.example.com'] },
//   });
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomResource, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REGISTER_PROPERTIES } from '../lambdas/register/handler.js';
import { ENV } from '../shared/config/settings.js';
import type { DagflowApp } from '../shared/index.js';
import { buildDefinitions } from '../shared/model/builder.js';
import type { WorkflowDefinition } from '../shared/model/definition.js';
import { EngineApi } from './constructs/api.js';
import { EnginePayloads } from './constructs/payloads.js';
import { EngineFunctions, findFunctionEntries, type FunctionEntries } from './constructs/functions.js';
import { EngineMonitoring } from './constructs/monitoring.js';
import { EngineQueues } from './constructs/queues.js';
import { EngineSchedule } from './constructs/schedule.js';
import { EngineState } from './constructs/state.js';
import { EngineWorkflowSchedules } from './constructs/workflow-schedules.js';
import { parseStackConfig, type CONTEXT_KEYS, type StackConfig } from './stack-config.js';

/** The engine package's own root (its lambdas/ hold the functions' entries). */
export const ENGINE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The deployment's choices, as in cdk.json's context (infra/stack-config.ts says each). */
export type DagflowEngineConfig = Partial<Record<keyof typeof CONTEXT_KEYS, unknown>>;

export interface DagflowEngineProps {
  /** The team's handlers and workflows; the workflows are checked at synth and registered at deploy. */
  readonly app: DagflowApp;
  /**
   * The file of the module that exports `app.handlers` as `handlers` (TypeScript or JavaScript):
   * bundled into the worker function, and only there.
   */
  readonly appEntry: string;
  /** Auth, allowed hosts, concurrency, alarms...: validated like cdk.json's context. */
  readonly config?: DagflowEngineConfig | StackConfig;
  /**
   * The folder whose lock file (package-lock.json, yarn.lock or pnpm-lock.yaml) pins the bundles'
   * dependencies: by default the nearest one above the working directory (the CDK app's).
   */
  readonly projectRoot?: string;
  /** The functions' entries (tests); by default the engine's own lambdas/ with the app's worker. */
  readonly entries?: FunctionEntries;
}

export class DagflowEngine extends Construct {
  public readonly config: StackConfig;
  public readonly state: EngineState;
  /** The bucket of large inputs and outputs. */
  public readonly payloads: EnginePayloads;
  public readonly queues: EngineQueues;
  public readonly functions: EngineFunctions;
  public readonly api: EngineApi;
  /** Absent only when built without a sweeper entry (tests). */
  public readonly schedule: EngineSchedule | undefined;
  /** The workflow schedules' group and role; absent only when built without a trigger entry (tests). */
  public readonly workflowSchedules: EngineWorkflowSchedules | undefined;
  public readonly monitoring: EngineMonitoring;
  /** The definitions registered at deploy, as checked at synth. */
  public readonly definitions: readonly WorkflowDefinition[];
  /** The `service` of this engine's logs and metrics (POWERTOOLS_SERVICE_NAME). */
  public readonly serviceName: string;

  constructor(scope: Construct, id: string, props: DagflowEngineProps) {
    super(scope, id);
    this.config = parseStackConfig(props.config ?? {});
    const removalPolicy = this.config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const handlerNames = [...props.app.handlers.keys()];
    // A bad definition fails `cdk synth`, naming the workflow and the field, before anything deploys.
    this.definitions = buildDefinitions(props.app.workflows, { knownHandlers: new Set(handlerNames) });
    this.serviceName = `dagflow-${Names.uniqueResourceName(this, { maxLength: 60, separator: '-' })}`;
    const lockFile = findLockFile(props.projectRoot ?? process.cwd());
    const projectRoot = path.dirname(lockFile);

    this.state = new EngineState(this, 'State', { removalPolicy });
    this.payloads = new EnginePayloads(this, 'Payloads', { removalPolicy });
    this.queues = new EngineQueues(this, 'Queues', { removalPolicy });
    this.functions = new EngineFunctions(this, 'Functions', {
      state: this.state,
      payloads: this.payloads,
      queues: this.queues,
      entries: props.entries ?? this.functionEntries(props.appEntry, projectRoot),
      projectRoot,
      depsLockFilePath: lockFile,
      serviceName: this.serviceName,
      handlerNames,
      config: this.config,
      removalPolicy,
    });
    // The worker's bundle hash: each run records the handler build it started on.
    const handlerBuild = bundleHash(this.functions.worker);
    if (handlerBuild !== undefined) this.functions.api.addEnvironment(ENV.handlerBuild, handlerBuild);
    if (handlerBuild !== undefined) this.functions.trigger?.addEnvironment(ENV.handlerBuild, handlerBuild);
    this.workflowSchedules =
      this.functions.trigger === undefined ? undefined : new EngineWorkflowSchedules(this, 'WorkflowSchedules', { manager: this.functions.api, trigger: this.functions.trigger, removalPolicy });

    this.api = new EngineApi(this, 'Api', { handler: this.functions.api, config: this.config, removalPolicy });
    this.schedule = this.functions.sweeper === undefined ? undefined : new EngineSchedule(this, 'Schedule', { sweeper: this.functions.sweeper });
    this.monitoring = new EngineMonitoring(this, 'Monitoring', {
      functions: this.functions.byName,
      scheduler: this.functions.scheduler,
      queues: this.queues,
      httpApi: this.api.httpApi,
      config: this.config,
      removalPolicy,
      serviceName: this.serviceName,
      dashboardName: Names.uniqueResourceName(this, { maxLength: 255, separator: '-' }),
    });
    this.registerWorkflows();
  }

  /** Base URL of the HTTP API. */
  get apiUrl(): string {
    return this.api.url;
  }

  get table(): dynamodb.ITable {
    return this.state.table;
  }

  get taskQueue(): sqs.IQueue {
    return this.queues.taskQueue;
  }

  get taskDlq(): sqs.IQueue {
    return this.queues.taskDlq;
  }

  get worker(): lambda.IFunction {
    return this.functions.worker;
  }

  /**
   * The functions' entries, each under the project root as CDK wants: the worker's is a small
   * module that hands the app's handlers to the engine's worker (esbuild bundles it with both, so
   * only the worker carries the team's code); the others are the engine's own, re-exported from
   * there when the engine lives elsewhere (a `file:` dependency outside the project).
   */
  private functionEntries(appEntry: string, projectRoot: string): Required<FunctionEntries> {
    const appFile = path.resolve(appEntry);
    if (!fs.existsSync(appFile)) throw new Error(`DagflowEngine: appEntry ${appEntry} does not exist`);
    const own = findFunctionEntries(ENGINE_ROOT);
    const reexported = (file: string) => (isUnder(file, projectRoot) ? file : writeEntry(projectRoot, `export { handler } from ${JSON.stringify(file)};\n`));
    return {
      api: reexported(own.api),
      scheduler: reexported(own.scheduler),
      sweeper: reexported(own.sweeper),
      dlq: reexported(own.dlq),
      register: reexported(own.register),
      trigger: reexported(own.trigger),
      worker: writeEntry(
        projectRoot,
        [
          "// Written by the DagflowEngine construct: the worker function with the app's handlers.",
          `import { handlers } from ${JSON.stringify(appFile)};`,
          `import { createWorker } from ${JSON.stringify(path.join(ENGINE_ROOT, 'lambdas', 'worker', 'create.ts'))};`,
          '',
          'export const handler = createWorker(handlers);',
          '',
        ].join('\n'),
      ),
    };
  }

  /** The deploy-time custom resource that saves the definitions (idempotent by content version). */
  private registerWorkflows(): void {
    const register = this.functions.register;
    if (register === undefined || this.definitions.length === 0) return;
    new CustomResource(this, 'Workflows', {
      serviceToken: register.functionArn,
      resourceType: 'Custom::DagflowWorkflows',
      properties: { [REGISTER_PROPERTIES.definitions]: JSON.stringify(this.definitions) },
    });
  }
}

/** Where generated entries go: a cache folder of the project, named by content (so stages share one). */
function writeEntry(projectRoot: string, source: string): string {
  const dir = path.join(projectRoot, 'node_modules', '.cache', 'dagflow');
  const file = path.join(dir, `entry-${shortHash(source)}.ts`);
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === source) return file;
  fs.mkdirSync(dir, { recursive: true });
  // Written aside and renamed: a synth running at the same time never bundles half a file.
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(temporary, source);
  fs.renameSync(temporary, file);
  return file;
}

function isUnder(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The nearest lock file at or above `dir`; throws naming the folder when there is none. */
export function findLockFile(dir: string): string {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    for (const name of ['package-lock.json', 'yarn.lock', 'pnpm-lock.yaml']) {
      const file = path.join(current, name);
      if (fs.existsSync(file)) return file;
    }
    if (path.dirname(current) === current) {
      throw new Error(`DagflowEngine: no package-lock.json, yarn.lock or pnpm-lock.yaml at or above ${dir} (run npm install, or pass projectRoot)`);
    }
  }
}

/** The first 12 hex digits of a function's code asset hash (its S3 key), when bundled. */
function bundleHash(fn: lambda.Function): string | undefined {
  const code = Stack.of(fn).resolve((fn.node.defaultChild as lambda.CfnFunction).code) as { s3Key?: unknown };
  const key = typeof code.s3Key === 'string' ? code.s3Key : undefined;
  const match = key === undefined ? null : /^([0-9a-f]{12,})/.exec(key);
  return match?.[1] === undefined ? undefined : match[1].slice(0, 12);
}

/** A short stable hash, for names derived from content. */
function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}
