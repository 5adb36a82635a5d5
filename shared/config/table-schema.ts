// The single DynamoDB table's settings: keys, indexes, stream and TTL. The CDK stack, the local
// runtime and the integration tests all build the table from this module, so they cannot drift.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Finished runs carry an epoch-seconds expiry here; DynamoDB TTL deletes them later. */
  ttlAttribute: 'ttl',
  streamViewType: 'NEW_AND_OLD_IMAGES',
  indexes: {
    /** Runs by workflow, newest first: pk `WF#<workflowId>`, sk `<createdAt>#<runId>`. */
    runsByWorkflow: {
      name: 'runsByWorkflow',
      partitionKey: 'gsi1pk',
      sortKey: 'gsi1sk',
      /** Enough to list runs without their (possibly large) input. */
      projectedAttributes: ['runId', 'workflowId', 'version', 'status', 'createdAt', 'startedAt', 'completedAt', 'taskCount', 'finishedCount'],
    },
    /**
     * Sparse index of deadlines: only tasks that hold a lease (RUNNING), wait for a delivery
     * (QUEUED) or for a timer (WAITING) carry these attributes, so the sweeper queries the due
     * ones instead of scanning. Spread over a few partitions to avoid one hot key.
     */
    expiries: {
      name: 'expiries',
      partitionKey: 'expiryShard',
      sortKey: 'expiresAt',
      projectedAttributes: ['runId', 'taskId', 'workflowId', 'version', 'status', 'attempt', 'leaseToken', 'startedAt', 'deadlineAt'],
      shardCount: 4,
    },
  },
} as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  const { runsByWorkflow, expiries } = TABLE.indexes;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
      { AttributeName: TABLE.sortKey, AttributeType: 'S' },
      { AttributeName: runsByWorkflow.partitionKey, AttributeType: 'S' },
      { AttributeName: runsByWorkflow.sortKey, AttributeType: 'S' },
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
        IndexName: expiries.name,
        KeySchema: [
          { AttributeName: expiries.partitionKey, KeyType: 'HASH' },
          { AttributeName: expiries.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...expiries.projectedAttributes] },
      },
    ],
    StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE.streamViewType },
  };
}
