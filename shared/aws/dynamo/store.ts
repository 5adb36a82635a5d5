// The engine's store on DynamoDB: one table, one adapter per entity (definitions, runs, tasks,
// join and completion groups, map items, the sweeper's index), all behind the ports the engine owns.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EngineStore } from '../../engine/ports.js';
import type { PayloadStore } from '../../engine/payloads.js';
import { DynamoDefinitionStore } from './definitions.js';
import { DynamoDueStore } from './due.js';
import { DynamoCompletionStore, DynamoJoinStore } from './groups.js';
import { DynamoMapStore } from './maps.js';
import { DynamoRunStore } from './runs.js';
import { Table } from './table.js';
import { DynamoTaskStore } from './tasks.js';

export interface DynamoStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  now?: () => Date;
  newToken?: () => string;
  random?: () => number;
  /** Days a finished run is kept before DynamoDB's TTL deletes it. */
  retentionDays?: number;
  /** Where inputs and outputs over the inline limit go (S3); without it they must fit in items. */
  payloads?: PayloadStore;
}

export function createDynamoStore(options: DynamoStoreOptions): EngineStore {
  const now = options.now ?? (() => new Date());
  const newToken = options.newToken ?? (() => crypto.randomUUID());
  const table = new Table(options.client, options.tableName, options.random);
  const retention = {
    ...(options.retentionDays === undefined ? {} : { retentionDays: options.retentionDays }),
    ...(options.payloads === undefined ? {} : { payloads: options.payloads }),
  };
  const definitions = new DynamoDefinitionStore(table, now);
  return {
    definitions,
    runs: new DynamoRunStore(table, { now, newToken, ...retention, getDefinition: (workflowId, version) => definitions.getDefinition(workflowId, version) }),
    tasks: new DynamoTaskStore(table, { now, newToken, ...retention }),
    joins: new DynamoJoinStore(table, now, options.retentionDays),
    completion: new DynamoCompletionStore(table, now, options.retentionDays),
    maps: new DynamoMapStore(table, now, options.retentionDays),
    due: new DynamoDueStore(table),
  };
}
