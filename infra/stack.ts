// The repository's own stack: one use of the DagflowEngine construct (infra/engine.ts) with the
// example app (workflows/), and the outputs a deployer needs. A team's CDK app does the same with
// its own app (examples/team-app/infra/app.ts).
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { FunctionEntries } from './constructs/functions.js';
import { DagflowEngine, type DagflowEngineProps } from './engine.js';
import type { StackConfig } from './stack-config.js';

export interface WorkflowEngineStackProps extends StackProps {
  readonly config: StackConfig;
  readonly app: DagflowEngineProps['app'];
  readonly appEntry: string;
  /** Handler entry files (tests); by default the engine's lambdas/ with the app's worker. */
  readonly entries?: FunctionEntries;
  /** The folder with the lock file (esbuild's working directory). */
  readonly projectRoot: string;
}

export class WorkflowEngineStack extends Stack {
  /** The engine and its parts (state, queues, functions, api, schedule, monitoring). */
  public readonly engine: DagflowEngine;

  constructor(scope: Construct, id: string, props: WorkflowEngineStackProps) {
    super(scope, id, props);
    this.engine = new DagflowEngine(this, 'Engine', {
      app: props.app,
      appEntry: props.appEntry,
      config: props.config,
      projectRoot: props.projectRoot,
      ...(props.entries === undefined ? {} : { entries: props.entries }),
    });

    new CfnOutput(this, 'ApiUrl', { value: this.engine.apiUrl, description: 'Base URL of the HTTP API (SigV4-signed requests unless auth=jwt)' });
    new CfnOutput(this, 'TableName', { value: this.engine.table.tableName, description: 'The engine table' });
    new CfnOutput(this, 'TaskQueueUrl', { value: this.engine.taskQueue.queueUrl, description: 'Task queue' });
    new CfnOutput(this, 'TaskDlqUrl', { value: this.engine.taskDlq.queueUrl, description: 'Task dead-letter queue' });
    new CfnOutput(this, 'DashboardUrl', { value: this.engine.monitoring.dashboardUrl, description: 'CloudWatch dashboard' });
  }
}
