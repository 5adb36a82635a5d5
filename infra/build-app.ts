// Builds the CDK app: the engine stack from the context's choices, with cdk-nag's AwsSolutions
// pack registered as a validation plugin (cdk-nag 3: `Validations`, not Aspects), so every synth
// (`cdk synth`, `cdk deploy`, the infra tests) fails on an unacknowledged finding.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { findFunctionEntries, type FunctionEntries } from './constructs/functions.js';
import { handlers } from '../workflows/index.js';
import { WorkflowEngineStack } from './stack.js';
import { readStackConfig } from './stack-config.js';

/** The repository root, whatever the working directory. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const STACK_NAME = 'Dagflow';

export interface BuildAppOptions {
  readonly appProps?: AppProps;
  /** Defaults to lambdas/<name>/index.ts for all five functions. */
  readonly entries?: FunctionEntries;
  /** Register the AwsSolutions checks (default true). */
  readonly nag?: boolean;
}

export function buildApp(options: BuildAppOptions = {}): { app: App; stack: WorkflowEngineStack } {
  const app = new App(options.appProps);
  const stack = new WorkflowEngineStack(app, STACK_NAME, {
    description: 'dagflow: DAG workflow engine (DynamoDB + Streams + SQS + Lambda + API Gateway)',
    config: readStackConfig(app.node),
    entries: options.entries ?? findFunctionEntries(PROJECT_ROOT),
    projectRoot: PROJECT_ROOT,
    // The worker's handlers, by name: the API checks definitions against them without their code.
    handlerNames: [...handlers.keys()],
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
