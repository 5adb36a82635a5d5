// The single DynamoDB table's settings: keys, indexes, stream and TTL. The CDK stack, the local
// runtime and the integration tests all build the table from this module, so they cannot drift.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Items carry an epoch-seconds expiry here; DynamoDB's TTL deletes them after (free of charge). */
  ttlAttribute: 'ttl',
  streamViewType: 'NEW_AND_OLD_IMAGES',
  indexes: {
    /** Runs by workflow, newest first: pk `WF#<workflowId>`, sk `<createdAt>#<runId>`. */
    runsByWorkflow: {
      name: 'runsByWorkflow',
      partitionKey: 'gsi1pk',
      sortKey: 'gsi1sk',
      /**
       * Enough to list runs without their input, and nothing that changes while a run runs: the
       * index is written when a run starts, is cancelled and ends, never per task.
       */
      projectedAttributes: ['runId', 'workflowId', 'version', 'status', 'createdAt', 'completedAt', 'taskCount'],
    },
    /**
     * Runs of every workflow, newest first: pk `RUNS#<yyyy-mm-dd>#<shard>` (the UTC day the run
     * was created, and one of `shardCount` write shards chosen by a hash of the run id), sk the
     * runs-by-workflow sort key `<createdAt>#<runId>`, the same attribute, stored once. A day's runs
     * are spread over the shards, so no one key takes every new run's writes; a listing reads the
     * shards of a day side by side and merges them, then the day before, back `lookbackDays`
     * (docs/architecture.md, section 5, says why a day and why 8). Projects what runsByWorkflow
     * does, so it is written at the same moments: a run's start, status changes and end.
     */
    runsByTime: {
      name: 'runsByTime',
      partitionKey: 'gsi2pk',
      sortKey: 'gsi1sk',
      projectedAttributes: ['runId', 'workflowId', 'version', 'status', 'createdAt', 'completedAt', 'taskCount'],
      shardCount: 8,
      /** A listing reads the day of its first page and this many days before it, then ends. */
      lookbackDays: 7,
    },
    /**
     * Sparse index of due times: only what the sweeper may have to move carries these attributes
     * (a task waiting for its message, its lease or its timer; an unfinished run's next check), so
     * it queries the due ones instead of scanning. Keys only: a write that does not move an item's
     * due time never writes the index. Spread over partitions so that no one key is hot.
     */
    expiries: {
      name: 'expiries',
      partitionKey: 'expiryShard',
      sortKey: 'dueAt',
      shardCount: 32,
    },
  },
} as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  const { runsByWorkflow, runsByTime, expiries } = TABLE.indexes;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
      { AttributeName: TABLE.sortKey, AttributeType: 'S' },
      { AttributeName: runsByWorkflow.partitionKey, AttributeType: 'S' },
      { AttributeName: runsByWorkflow.sortKey, AttributeType: 'S' },
      { AttributeName: runsByTime.partitionKey, AttributeType: 'S' },
      { AttributeName: expiries.partitionKey, AttributeType: 'S' },
      { AttributeName: expiries.sortKey, AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: runsByWorkflow.name,
        KeySchema: [
          { AttributeName: runsByWorkflow.partitionKey, KeyType: 'HASH' },
          { AttributeName: runsByWorkflow.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...runsByWorkflow.projectedAttributes] },
      },
      {
        IndexName: runsByTime.name,
        KeySchema: [
          { AttributeName: runsByTime.partitionKey, KeyType: 'HASH' },
          { AttributeName: runsByTime.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...runsByTime.projectedAttributes] },
      },
      {
        IndexName: expiries.name,
        KeySchema: [
          { AttributeName: expiries.partitionKey, KeyType: 'HASH' },
          { AttributeName: expiries.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
    StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE.streamViewType },
  };
}
