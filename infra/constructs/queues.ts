// The engine's SQS queues (docs/architecture.md): the task queue with its DLQ, and the queue that
// catches stream batches the scheduler could not process. All encrypted (SQS-managed SSE) and
// refusing plain-HTTP requests. Settings come from QUEUES in shared/settings.ts, the same ones the
// local runtime uses; physical names are left to CloudFormation so two stacks (dev, prod) can share
// an account, and the functions get the URLs through env vars set by the grant helpers below.
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, QUEUES } from '../../shared/config/settings.js';

/**
 * Settings that belong in QUEUES (shared/settings.ts) once the dlq handler lands.
 * TODO(shared): move as QUEUES.dlqHandlerTimeoutSeconds and QUEUES.streamFailureRetentionSeconds.
 */
export const INFRA_QUEUE_SETTINGS = {
  /** The dlq handler's timeout; the DLQ's visibility timeout is six times it, as for the task queue. */
  dlqHandlerTimeoutSeconds: 30,
  /** Failed stream batches wait here (14 days, the maximum) for an operator to replay them. */
  streamFailureRetentionSeconds: 14 * 86_400,
} as const;

/** The worker's SQS event source. */
export const TASK_CONSUMER = {
  batchSize: 10,
  /**
   * No batching window: a message is on the latency path (a task that waited for its dependencies),
   * and a window would hold it back until the batch fills. Under load batches fill on their own.
   */
  maxBatchingWindowSeconds: 0,
} as const;

export interface EngineQueuesProps {
  readonly removalPolicy: RemovalPolicy;
}

export class EngineQueues extends Construct {
  /** Task messages (one attempt of one task each), consumed by the worker. */
  public readonly taskQueue: sqs.Queue;
  /** Task messages that failed maxReceiveCount deliveries; drained by the dlq handler. */
  public readonly taskDlq: sqs.Queue;
  /** On-failure destination of the scheduler's stream mapping: metadata of batches given up on. */
  public readonly streamFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: EngineQueuesProps) {
    super(scope, id);
    const secure = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, removalPolicy: props.removalPolicy };

    this.taskDlq = new sqs.Queue(this, 'TaskDlq', {
      ...secure,
      retentionPeriod: Duration.seconds(QUEUES.dlqRetentionSeconds),
      visibilityTimeout: Duration.seconds(6 * INFRA_QUEUE_SETTINGS.dlqHandlerTimeoutSeconds),
    });

    this.taskQueue = new sqs.Queue(this, 'TaskQueue', {
      ...secure,
      // Six times the worker's timeout (AWS guidance for Lambda consumers), so a message is never
      // redelivered while an attempt may still be running; the claim fences off duplicates anyway.
      visibilityTimeout: Duration.seconds(QUEUES.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.taskDlq, maxReceiveCount: QUEUES.maxReceiveCount },
    });

    this.streamFailureQueue = new sqs.Queue(this, 'StreamFailureQueue', {
      ...secure,
      retentionPeriod: Duration.seconds(INFRA_QUEUE_SETTINGS.streamFailureRetentionSeconds),
    });
    Validations.of(this.streamFailureQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter destination (the OnFailure target of the scheduler stream mapping); ' +
        'nothing consumes it automatically, so there is no processing failure a further DLQ could catch.',
    });
  }

  /** Sending task messages, and TASK_QUEUE_URL: the two never apart. */
  grantSendTasks(fn: lambda.Function): void {
    fn.addEnvironment(ENV.taskQueueUrl, this.taskQueue.queueUrl);
    this.taskQueue.grantSendMessages(fn);
  }

  /**
   * The worker's feed: batches of task messages, each failed message reported on its own
   * (batchItemFailures) so one bad message never redelivers its batch-mates. The mapping brings
   * the consume permissions (receive, delete, change visibility) on this queue only.
   */
  addTaskConsumer(fn: lambda.Function, options: { maxConcurrency?: number | undefined } = {}): void {
    fn.addEventSource(
      new sources.SqsEventSource(this.taskQueue, {
        batchSize: TASK_CONSUMER.batchSize,
        maxBatchingWindow: Duration.seconds(TASK_CONSUMER.maxBatchingWindowSeconds),
        reportBatchItemFailures: true,
        ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
      }),
    );
  }

  /** The dlq handler's feed, with TASK_DLQ_URL: the mapping (and its consume rights) and the URL together. */
  addDlqConsumer(fn: lambda.Function): void {
    fn.addEnvironment(ENV.taskDlqUrl, this.taskDlq.queueUrl);
    fn.addEventSource(new sources.SqsEventSource(this.taskDlq, { batchSize: 10, reportBatchItemFailures: true }));
  }
}
