// The worker function for a given handler registry: its configuration from the environment
// (parsed at load, failing loudly), AWS clients created once per container, and the handlers. The
// repository's entry (index.ts) passes its examples; the DagflowEngine construct writes an entry
// that passes the team's app (infra/engine.ts), so the team's code is bundled here and nowhere else.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createLambdaInvoker } from '../../shared/aws/lambda-invoker.js';
import { createSecretResolver } from '../../shared/aws/secret-resolvers.js';
import { loadWorkerConfig } from '../../shared/config/env.js';
import type { HandlerRegistry } from '../../shared/tasks/context.js';
import { engineParts } from '../parts.js';
import { buildWorker, type WorkerHandler } from './handler.js';

export function createWorker(handlers: HandlerRegistry): WorkerHandler {
  const config = loadWorkerConfig();
  const parts = engineParts({ clients: { dynamo: createDocumentClient(), sqs: createSqsClient() }, tableName: config.tableName, taskQueueUrl: config.taskQueueUrl });
  return buildWorker(parts, {
    handlers,
    httpAllowedHosts: config.httpAllowedHosts,
    // Only the worker runs tasks, so only it can invoke the functions of `lambda` tasks.
    lambdaInvoker: createLambdaInvoker(new LambdaClient({}), config.lambdaAllowedFunctions),
    // One resolver per container: its cache keeps each secret's value for 5 minutes.
    secrets: createSecretResolver(
      config.secretsSource,
      { secretsManager: () => new SecretsManagerClient({}), ssm: () => new SSMClient({}) },
      { prefix: config.secretsPrefix },
    ),
  }).handler;
}
