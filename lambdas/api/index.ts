// Lambda entry point of the api function: its configuration from the environment (parsed at load,
// failing loudly), AWS clients created once per container, and only what the API uses.
import { createSqsClient } from '../../shared/aws/sqs-queue.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { EventBridgeScheduleTarget, createSchedulerClient } from '../../shared/aws/eventbridge-scheduler.js';
import { loadApiConfig, loadScheduleTargetConfig } from '../../shared/config/env.js';
import { engineParts } from '../parts.js';
import { buildApi } from './handler.js';

const config = loadApiConfig();
const scheduleTarget = loadScheduleTargetConfig();
const parts = engineParts({ clients: { dynamo: createDocumentClient(), sqs: createSqsClient() }, tableName: config.tableName, taskQueueUrl: config.taskQueueUrl });

export const handler = buildApi(
  parts,
  new Set(config.handlerNames),
  config.handlerBuild,
  scheduleTarget === undefined ? undefined : new EventBridgeScheduleTarget(createSchedulerClient(), scheduleTarget),
);
