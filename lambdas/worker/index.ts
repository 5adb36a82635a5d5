// Lambda entry point of the worker function: configuration from the environment (parsed at load,
// failing loudly), AWS clients created once per container.
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../shared/config/env.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createLambdaInvoker } from '../../shared/aws/lambda-invoker.js';
import { handlers } from '../../workflows/index.js';
import { wireEngine } from '../wiring.js';

const config = loadConfig();
const engine = wireEngine({
  clients: { dynamo: createDocumentClient(), sqs: new SQSClient({}) },
  config,
  handlers,
  // Only the worker runs tasks, so only it can invoke the functions of `lambda` tasks.
  lambdaInvoker: createLambdaInvoker(new LambdaClient({}), config.lambdaAllowedFunctions ?? []),
});

export const handler = engine.workerHandler;
