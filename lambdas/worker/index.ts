// Lambda entry point of the worker function: its configuration from the environment (parsed at
// load, failing loudly), AWS clients created once per container, and the team's handlers (the one
// function that carries their code).
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createLambdaInvoker } from '../../shared/aws/lambda-invoker.js';
import { createSecretResolver } from '../../shared/aws/secret-resolvers.js';
import { loadWorkerConfig } from '../../shared/config/env.js';
import { handlers } from '../../workflows/index.js';
import { engineParts } from '../parts.js';
import { buildWorker } from './handler.js';

const config = loadWorkerConfig();
const parts = engineParts({ clients: { dynamo: createDocumentClient(), sqs: createSqsClient() }, tableName: config.tableName, taskQueueUrl: config.taskQueueUrl });

export const handler = buildWorker(parts, {
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
