// Lambda entry point of the register function (the deploy-time custom resource, see handler.ts):
// its configuration from the environment, and only the definition store on the table.
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import { createLogger } from '../../shared/aws/powertools.js';
import { loadRegisterConfig } from '../../shared/config/env.js';
import { buildRegister, putResponse } from './handler.js';

const config = loadRegisterConfig();
const store = createDynamoStore({ client: createDocumentClient(), tableName: config.tableName });
const logger = createLogger();

export const handler = buildRegister({
  definitions: store.definitions,
  knownHandlers: new Set(config.handlerNames),
  respond: putResponse,
  logError: (message, extra) => logger.error(message, extra),
});
