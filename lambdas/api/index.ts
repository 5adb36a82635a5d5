// Lambda entry point of the api function: configuration from the environment (parsed at load,
// failing loudly), AWS clients created once per container.
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../shared/config/env.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { handlers } from '../../workflows/index.js';
import { wireEngine } from '../wiring.js';

const engine = wireEngine({
  clients: { dynamo: createDocumentClient(), sqs: new SQSClient({}) },
  config: loadConfig(),
  handlers,
});

export const handler = engine.api;
