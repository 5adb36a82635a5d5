// Lambda entry point of the dlq function: its configuration from the environment (parsed at load,
// failing loudly), AWS clients created once per container, and only what it uses.
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { loadQueueingConfig } from '../../shared/config/env.js';
import { engineParts } from '../parts.js';
import { buildDlq } from './handler.js';

const config = loadQueueingConfig();
const parts = engineParts({ clients: { dynamo: createDocumentClient(), sqs: createSqsClient() }, tableName: config.tableName, taskQueueUrl: config.taskQueueUrl });

export const handler = buildDlq(parts);
