// The local SQS endpoint: the npm package local-aws-sqs (a real SQS protocol server, JSON and Query,
// with visibility timeouts and redrive to a DLQ) on 127.0.0.1, and the creation of the task queue
// and its DLQ from the same settings the CDK stack uses.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import { QUEUES } from '../shared/config/settings.js';

export interface SqsServer {
  /** Pass as `endpoint` to an SQSClient (with LOCAL_AWS credentials and region). */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/**
 * Starts the SQS server. Without a port it listens on a free one chosen by the OS.
 *
 * local-aws-sqs's own createSqsServer listens without an error handler (a taken port crashes the
 * process instead of rejecting) and learns its port only after listening, so we listen first and
 * then build its request handler, which puts the real port into every queue URL.
 */
export async function startSqsServer(options: { port?: number } = {}): Promise<SqsServer> {
  const server = createServer();
  await listen(server, options.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const { service, requestHandler } = createRequestHandler({
    port,
    hostname: HOST,
    // AWS makes a deleted queue's name unusable for 60 s and a new queue unusable for 1 s; locally
    // that would only slow down restarts and tests.
    emulateQueueCreationLifecycle: false,
    emulateLazyQueues: false,
  });
  server.on('request', (request, response) => {
    requestHandler(request, response).catch(() => {
      if (!response.headersSent) response.statusCode = 500;
      response.end();
    });
  });
  return {
    endpoint: `http://${HOST}:${port}`,
    port,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Long polls and SDK keep-alive sockets would otherwise hold close() open.
      server.closeAllConnections();
      await closed;
      service.resetAll();
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export interface TaskQueues {
  taskQueueUrl: string;
  taskDlqUrl: string;
  taskQueueArn: string;
  taskDlqArn: string;
}

export interface CreateQueuesOptions {
  taskQueueName?: string;
  dlqName?: string;
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
}

/**
 * Creates the DLQ, then the task queue redriving to it, with QUEUES' settings unless overridden
 * (tests use unique names, a short visibility timeout and a small maxReceiveCount). CreateQueue is
 * idempotent for equal attributes, so calling this against existing queues is safe.
 */
export async function createQueues(sqs: SQSClient, options: CreateQueuesOptions = {}): Promise<TaskQueues> {
  const taskQueueName = options.taskQueueName ?? QUEUES.task.name;
  const dlqName = options.dlqName ?? QUEUES.task.dlqName;
  const visibilityTimeoutSeconds = options.visibilityTimeoutSeconds ?? QUEUES.visibilityTimeoutSeconds;
  const maxReceiveCount = options.maxReceiveCount ?? QUEUES.maxReceiveCount;

  const taskDlqUrl = await createQueue(sqs, dlqName, { MessageRetentionPeriod: String(QUEUES.dlqRetentionSeconds) });
  const taskDlqArn = await queueArn(sqs, taskDlqUrl);
  const taskQueueUrl = await createQueue(sqs, taskQueueName, {
    VisibilityTimeout: String(visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: taskDlqArn, maxReceiveCount }),
  });
  return { taskQueueUrl, taskDlqUrl, taskQueueArn: await queueArn(sqs, taskQueueUrl), taskDlqArn };
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (QueueUrl === undefined) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  return QueueUrl;
}

/** The queue's ARN, as SQS reports it (the region and account are the server's). */
export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`GetQueueAttributes returned no QueueArn for ${queueUrl}`);
  return arn;
}
