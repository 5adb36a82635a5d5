// The whole engine as one CloudFormation stack: state, queues, functions and their wiring, the
// HTTP API, the sweeper's schedule, and monitoring. Each concern is a construct that carries its own
// defaults; this file only connects them and names the outputs a deployer needs.
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { EngineApi } from './constructs/api.js';
import { EngineFunctions, type FunctionEntries } from './constructs/functions.js';
import { EngineMonitoring } from './constructs/monitoring.js';
import { EngineQueues } from './constructs/queues.js';
import { EngineSchedule } from './constructs/schedule.js';
import { EngineState } from './constructs/state.js';
import type { StackConfig } from './stack-config.js';

export interface WorkflowEngineStackProps extends StackProps {
  readonly config: StackConfig;
  /** Handler entry files; see findFunctionEntries. */
  readonly entries: FunctionEntries;
  /** The repository root (esbuild's working directory). */
  readonly projectRoot: string;
  /** The names of the handlers the worker registers (workflows/index.ts), for the API's checks. */
  readonly handlerNames: readonly string[];
}

export class WorkflowEngineStack extends Stack {
  public readonly state: EngineState;
  public readonly queues: EngineQueues;
  public readonly functions: EngineFunctions;
  public readonly api: EngineApi;
  /** Absent only when the stack is built without a sweeper entry (tests). */
  public readonly schedule: EngineSchedule | undefined;
  public readonly monitoring: EngineMonitoring;

  constructor(scope: Construct, id: string, props: WorkflowEngineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.state = new EngineState(this, 'State', { removalPolicy });
    this.queues = new EngineQueues(this, 'Queues', { removalPolicy });
    this.functions = new EngineFunctions(this, 'Functions', {
      state: this.state,
      queues: this.queues,
      entries: props.entries,
      projectRoot: props.projectRoot,
      handlerNames: props.handlerNames,
      config,
      removalPolicy,
    });
    this.api = new EngineApi(this, 'Api', { handler: this.functions.api, config, removalPolicy });
    this.schedule = this.functions.sweeper === undefined ? undefined : new EngineSchedule(this, 'Schedule', { sweeper: this.functions.sweeper });
    this.monitoring = new EngineMonitoring(this, 'Monitoring', {
      functions: this.functions.byName,
      scheduler: this.functions.scheduler,
      queues: this.queues,
      httpApi: this.api.httpApi,
      config,
      removalPolicy,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API (SigV4-signed requests unless auth=jwt)' });
    new CfnOutput(this, 'TableName', { value: this.state.table.tableName, description: 'The engine table' });
    new CfnOutput(this, 'TaskQueueUrl', { value: this.queues.taskQueue.queueUrl, description: 'Task queue' });
    new CfnOutput(this, 'TaskDlqUrl', { value: this.queues.taskDlq.queueUrl, description: 'Task dead-letter queue' });
    new CfnOutput(this, 'DashboardUrl', { value: this.monitoring.dashboardUrl, description: 'CloudWatch dashboard' });
  }
}
