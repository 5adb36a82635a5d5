// The engine's single DynamoDB table (docs/architecture.md), built from shared/table-schema.ts
// like the local runtime's table, plus what only AWS has: PITR, encryption, deletion protection.
// `grantDataAccess` is the only way a function gets the table: it grants and sets TABLE_NAME together.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DONE_PREFIX, ITEM_PREFIX, MAP_CHUNK_PREFIX, TASK_PREFIX } from '../../shared/aws/dynamo/keys.js';
import { ENV } from '../../shared/config/settings.js';
import { TABLE } from '../../shared/config/table-schema.js';
import { FINAL_TASK_STATUSES } from '../../shared/model/states.js';

/**
 * Item-level actions the engine uses. Deliberately not `grantReadWriteData`: no Scan (the design
 * never scans; a scan in the code is a bug we want to fail loudly), no DescribeTable, no stream
 * actions (only the scheduler's event source reads the stream), and no table-level actions.
 * Transactions need no action of their own: each item in one is authorised as Put/Update/ConditionCheck.
 */
export const TABLE_DATA_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

/** The scheduler's stream event source. */
export const STREAM_CONSUMER = {
  /**
   * The scheduler is the safety net of the workers' own dispatch: it gathers a second of records
   * (up to 1,000), so that a batch mostly shows work the workers did already and costs one read.
   */
  batchSize: 1_000,
  maxBatchingWindowSeconds: 1,
  /**
   * Concurrent batches per shard. Lambda keeps records of one partition key in order at any factor,
   * and every item of a run shares the partition key RUN#<runId>, so a run's events stay ordered.
   */
  parallelizationFactor: 4,
  /** Finite, so a poison record cannot block its shard for the stream's 24 hours. */
  retryAttempts: 10,
  maxRecordAgeSeconds: 86_400,
} as const;

/**
 * The records the scheduler acts on: a run's changes, a task's final state, a completion group's
 * count. The rest (a task queued, claimed, its lease extended; join groups, read when needed;
 * deletions by TTL) never invoke it: Lambda filters them out before the batch, at no charge.
 */
export function schedulerRecordFilters(): Array<Record<string, unknown>> {
  const written = lambda.FilterRule.or('INSERT', 'MODIFY');
  return [
    lambda.FilterCriteria.filter({ eventName: written, dynamodb: { Keys: { sk: { S: ['RUN'] } } } }),
    // A task, or a map's item, that ended (either prefix: a pattern's list is any of them).
    lambda.FilterCriteria.filter({
      eventName: written,
      dynamodb: {
        Keys: { sk: { S: [...lambda.FilterRule.beginsWith(TASK_PREFIX), ...lambda.FilterRule.beginsWith(ITEM_PREFIX)] } },
        NewImage: { status: { S: lambda.FilterRule.or(...FINAL_TASK_STATUSES) } },
      },
    }),
    // What a completion group, or a chunk of a map's items, counted (a worker did it already).
    lambda.FilterCriteria.filter({
      eventName: written,
      dynamodb: { Keys: { sk: { S: [...lambda.FilterRule.beginsWith(DONE_PREFIX), ...lambda.FilterRule.beginsWith(MAP_CHUNK_PREFIX)] } } },
    }),
  ];
}

export interface EngineStateProps {
  /** RETAIN (the default for anything holding data) or DESTROY for throwaway dev stacks. */
  readonly removalPolicy: RemovalPolicy;
}

export class EngineState extends Construct {
  public readonly table: dynamodb.Table;
  /** ARNs of the GSIs, named one by one so no policy needs `index/*`. */
  public readonly indexArns: readonly string[];

  constructor(scope: Construct, id: string, props: EngineStateProps) {
    super(scope, id);
    const { runsByWorkflow, runsByTime, expiries } = TABLE.indexes;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType[TABLE.streamViewType],
      timeToLiveAttribute: TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The AWS managed key (aws/dynamodb): encryption visible in the template, no key to run.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy,
      // A retained table is also protected against a console or API delete.
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    });

    // The two run lists (runsByTime sorts on runsByWorkflow's attribute: the table defines it once).
    for (const runList of [runsByWorkflow, runsByTime]) {
      this.table.addGlobalSecondaryIndex({
        indexName: runList.name,
        partitionKey: { name: runList.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: runList.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: [...runList.projectedAttributes],
      });
    }
    this.table.addGlobalSecondaryIndex({
      indexName: expiries.name,
      partitionKey: { name: expiries.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: expiries.sortKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });

    this.indexArns = [runsByWorkflow.name, runsByTime.name, expiries.name].map((name) => `${this.table.tableArn}/index/${name}`);
  }

  /** Item reads and writes on the table and its indexes, and TABLE_NAME: the two never apart. */
  grantDataAccess(fn: lambda.Function): iam.Grant {
    fn.addEnvironment(ENV.tableName, this.table.tableName);
    return iam.Grant.addToPrincipal({
      grantee: fn,
      actions: [...TABLE_DATA_ACTIONS],
      resourceArns: [this.table.tableArn, ...this.indexArns],
    });
  }

  /**
   * Feeds the table's stream to `fn` (the scheduler). A failing batch is split in halves to isolate
   * the bad record, retried a bounded number of times, then its shard/sequence range goes to
   * `onFailure` (invariant 4: nothing is lost silently). The mapping brings the stream-read rights.
   */
  addStreamConsumer(fn: lambda.Function, options: { onFailure: sqs.IQueue }): void {
    fn.addEventSource(
      new sources.DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: STREAM_CONSUMER.batchSize,
        maxBatchingWindow: Duration.seconds(STREAM_CONSUMER.maxBatchingWindowSeconds),
        filters: schedulerRecordFilters(),
        parallelizationFactor: STREAM_CONSUMER.parallelizationFactor,
        bisectBatchOnError: true,
        retryAttempts: STREAM_CONSUMER.retryAttempts,
        maxRecordAge: Duration.seconds(STREAM_CONSUMER.maxRecordAgeSeconds),
        reportBatchItemFailures: true,
        onFailure: new sources.SqsDlq(options.onFailure),
      }),
    );
    if (fn.role !== undefined) {
      Validations.of(fn.role).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'dynamodb:ListStreams, granted by the DynamoDB event source, supports no resource-level permissions ' +
          '(IAM service authorization reference); every other stream action is scoped to this table\'s stream ARN.',
      });
    }
  }
}
