// Lambda entry point of the trigger function (EventBridge Scheduler's target): its configuration
// from the environment (parsed at load, failing loudly), AWS clients created once per container,
// and only what it uses.
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { loadTriggerConfig } from '../../shared/config/env.js';
import { engineParts } from '../parts.js';
import { buildTrigger } from './handler.js';

const config = loadTriggerConfig();
const parts = engineParts({ clients: { dynamo: createDocumentClient(), sqs: createSqsClient() }, tableName: config.tableName, taskQueueUrl: config.taskQueueUrl });

export const handler = buildTrigger(parts, config.handlerBuild).handler;
