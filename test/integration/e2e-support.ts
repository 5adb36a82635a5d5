// Helpers for end-to-end tests: the whole local runtime (DynamoDB Local, the SQS server, the
// pollers and the HTTP front door), a small HTTP client for the API, and waiting for runs.
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { expect } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import type { TaskContext, TaskHandler } from '../../shared/tasks/context.js';
import { handlers as exampleHandlers } from '../../workflows/index.js';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../local/runtime.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body, headers);
  }
}

/** Counts executions per `runId:taskId` and remembers each execution's time span. */
export class ExecutionLog {
  readonly counts = new Map<string, number>();
  readonly spans = new Map<string, Array<{ start: number; end: number }>>();

  record(ctx: TaskContext, start: number, end: number): void {
    const key = `${ctx.runId}:${ctx.taskId}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.spans.set(key, [...(this.spans.get(key) ?? []), { start, end }]);
  }

  count(runId: string, taskId: string): number {
    return this.counts.get(`${runId}:${taskId}`) ?? 0;
  }

  /** A handler that sleeps `ms`, logs its execution and returns what `output` makes of ctx. */
  handler(ms: number, output: (ctx: TaskContext) => unknown = () => ({ ok: true })): TaskHandler {
    return async (ctx) => {
      const start = Date.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      this.record(ctx, start, Date.now());
      return output(ctx);
    };
  }
}

export async function startRuntime(
  extraHandlers: Record<string, TaskHandler> = {},
  onError: (source: string, error: unknown) => void = (source, error) => console.error(source, error),
  options: Partial<LocalRuntimeOptions> = {},
): Promise<{ runtime: LocalRuntime; api: ApiClient }> {
  const runtime = await startLocalRuntime({
    port: 0,
    handlers: new Map([...exampleHandlers, ...Object.entries(extraHandlers)]),
    logLevel: 'SILENT',
    workerConcurrency: 8,
    onError,
    ...options,
  });
  return { runtime, api: new ApiClient(runtime.apiUrl) };
}

const FINAL_RUN_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Polls GET /runs/{runId} until the run is final; fails the test after `timeoutMs`. */
export async function waitForRun(api: ApiClient, runId: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await api.get(`/runs/${runId}`);
    expect(status).toBe(200);
    if (FINAL_RUN_STATUSES.has(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${body.status} after ${timeoutMs} ms: ${JSON.stringify(body.tasks)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function register(api: ApiClient, definition: unknown): Promise<{ workflowId: string; version: string }> {
  const { status, body } = await api.post('/workflows', definition);
  if (status !== 201 && status !== 200) throw new Error(`registering failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

export async function startRunViaApi(api: ApiClient, workflowId: string, input: unknown = {}, headers?: Record<string, string>): Promise<string> {
  const { status, body } = await api.post('/runs', { workflowId, input }, headers);
  if (status !== 201) throw new Error(`starting a run failed: ${status} ${JSON.stringify(body)}`);
  return body.runId as string;
}

/** Every record the table's stream holds for a run's items, read from the start of each shard. */
export async function streamRecordsOf(local: LocalRuntime, runId: string): Promise<DynamoDBRecord[]> {
  const dynamo = new DynamoDBClient({ ...LOCAL_AWS, endpoint: local.dynamoEndpoint });
  const streams = new DynamoDBStreamsClient({ ...LOCAL_AWS, endpoint: local.dynamoEndpoint });
  try {
    const table = await dynamo.send(new DescribeTableCommand({ TableName: local.tableName }));
    const streamArn = table.Table?.LatestStreamArn ?? '';
    const stream = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    const records: DynamoDBRecord[] = [];
    for (const shard of stream.StreamDescription?.Shards ?? []) {
      const { ShardIterator } = await streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      let iterator = ShardIterator;
      while (iterator !== undefined) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        for (const record of page.Records ?? []) {
          if (record.dynamodb?.Keys?.['pk']?.S === `RUN#${runId}`) {
            records.push({
              eventID: record.eventID,
              eventName: record.eventName,
              eventSource: 'aws:dynamodb',
              eventSourceARN: streamArn,
              dynamodb: {
                Keys: record.dynamodb.Keys as never,
                NewImage: record.dynamodb.NewImage as never,
                OldImage: record.dynamodb.OldImage as never,
                SequenceNumber: record.dynamodb.SequenceNumber,
                StreamViewType: 'NEW_AND_OLD_IMAGES',
              },
            });
          }
        }
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
    return records;
  } finally {
    dynamo.destroy();
    streams.destroy();
  }
}
