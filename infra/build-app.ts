// Builds the CDK app: the engine stack from the context's choices, with cdk-nag's AwsSolutions
// pack registered as a validation plugin (cdk-nag 3: `Validations`, not Aspects), so every synth
// (`cdk synth`, `cdk deploy`, the infra tests) fails on an unacknowledged finding.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { FunctionEntries } from './constructs/functions.js';
import { handlers, workflows } from '../workflows/index.js';
import { WorkflowEngineStack } from './stack.js';
import { readStackConfig } from './stack-config.js';

/** The repository root, whatever the working directory. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const STACK_NAME = 'Dagflow';

export interface BuildAppOptions {
  readonly appProps?: AppProps;
  /** Defaults to the engine's lambdas/<name>/index.ts, with a worker entry for the example app. */
  readonly entries?: FunctionEntries;
  /** Register the AwsSolutions checks (default true). */
  readonly nag?: boolean;
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: WorkflowEngineStack } {
  const app = new App(options.appProps);
  const stack = new WorkflowEngineStack(app, STACK_NAME, {
    description: 'dagflow: DAG workflow engine (DynamoDB + Streams + SQS + Lambda + API Gateway)',
    config: readStackConfig(app.node),
    // The example workflows are registered at deploy; the worker bundles workflows/index.ts.
    app: { handlers, workflows },
    appEntry: path.join(PROJECT_ROOT, 'workflows', 'index.ts'),
    ...(options.entries === undefined ? {} : { entries: options.entries }),
    projectRoot: PROJECT_ROOT,
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
