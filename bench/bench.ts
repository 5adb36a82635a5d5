// `npm run bench`: the engine on the local stack (DynamoDB Local, the SQS server, the pollers
// emulating Lambda's event sources), with no-op handlers, in three workloads:
//   W1  200 runs of the order DAG (5 tasks: two roots, a fan-in, a chain) started at once over HTTP
//   W2  one run 1 -> 500 -> 1 (a wide fan-out and its fan-in)
//   W3  one 100-step chain (latency: ms per hop)
// and prints, per workload: tasks/s, run p50/p95, CPU ms per task (engine and DynamoDB Local),
// requests per task by operation, capacity units per task; DynamoDB Local's raw UpdateItem rate
// and how much of it the engine uses; the W3 hop and where its time goes; idle CPU; and the cost
// of 1M tasks on AWS from the counted requests and capacity units at list prices. The JVM is
// warmed up before anything is timed.
//   npm run bench                    the full workloads
//   npm run bench -- --quick         smaller ones (W1 50 runs, W2 1 -> 100 -> 1, W3 30 steps)
//   npm run bench -- --json F        also writes every figure as JSON
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_AWS } from '../local/dynamodb-local.js';
import { createDocumentClient } from '../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../shared/aws/dynamo/store.js';
import type { EngineStore } from '../shared/engine/ports.js';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime.js';
import type { TaskHandler } from '../shared/index.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
const SIZES = values.quick ? { w1Runs: 50, w2Width: 100, w3Steps: 30 } : { w1Runs: 200, w2Width: 500, w3Steps: 100 };

// ---- AWS list prices (us-east-1, on-demand, arm64), per unit ----
export const PRICES = {
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  apiRequest: 1.0 / 1e6,
  logsIngestedGb: 0.5,
};
/** Memory of each function (infra/constructs/functions.ts), GB. */
const MEMORY_GB = { api: 0.5, scheduler: 0.5, worker: 1, sweeper: 0.5, dlq: 0.25 } as const;
/** What CloudWatch Logs receives per invocation besides the engine's own lines: START, END and REPORT lines, one EMF metrics line. */
const PLATFORM_LOG_BYTES = 330;
const EMF_LOG_BYTES = 500;
/** DynamoDB's p50 for a small request in-region, for the modelled AWS hop (single-digit ms). */
const AWS_DYNAMO_MS = 6;
/** SQS's p50 for a send, receive or delete in-region, for the modelled Lambda duration. */
const AWS_SQS_MS = 10;
/** The largest function's memory: the modelled Lambda duration charges every request at it. */
const MODEL_MEMORY_GB = Math.max(...Object.values(MEMORY_GB));

const noop: TaskHandler = async () => ({ ok: true });
const HANDLERS = new Map<string, TaskHandler>([['noop', noop]]);

type Fn = 'api' | 'scheduler' | 'worker' | 'sweeper' | 'dlq';

/** What the engine's clients sent: requests by operation, capacity units, time per operation. */
class Meter {
  requests = new Map<string, number>();
  writeUnits = 0;
  readUnits = 0;
  writeUnitsBy = new Map<string, number>();
  /** DynamoDB requests by operation and the kind of item they name (`GetItem RUN`); a batch or query by its first. */
  requestsBy = new Map<string, number>();
  opMs = new Map<string, number>();
  invocations = new Map<Fn, { count: number; ms: number }>();

  reset(): void {
    this.requests.clear();
    this.opMs.clear();
    this.invocations.clear();
    this.writeUnits = 0;
    this.readUnits = 0;
    this.writeUnitsBy.clear();
    this.requestsBy.clear();
  }

  invoked(fn: Fn, ms: number): void {
    const entry = this.invocations.get(fn) ?? { count: 0, ms: 0 };
    entry.count++;
    entry.ms += ms;
    this.invocations.set(fn, entry);
  }

  attach(runtime: LocalRuntime): void {
    const names: Record<string, string> = {
      UpdateCommand: 'UpdateItem',
      GetCommand: 'GetItem',
      PutCommand: 'PutItem',
      DeleteCommand: 'DeleteItem',
      QueryCommand: 'Query',
      BatchGetCommand: 'BatchGetItem',
      BatchWriteCommand: 'BatchWriteItem',
      TransactWriteCommand: 'TransactWriteItems',
      TransactGetCommand: 'TransactGetItems',
      TransactWriteItemsCommand: 'TransactWriteItems',
      TransactGetItemsCommand: 'TransactGetItems',
    };
    runtime.clients.dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        const command = ((context as { commandName?: string }).commandName ?? '?').replace(/(Item)?Command$/, 'Command');
        const op = `dynamodb:${names[command] ?? command}`;
        const input = args.input as { Key?: { sk?: unknown }; Item?: { sk?: unknown }; RequestItems?: Record<string, Array<{ sk?: unknown }> | { Keys?: Array<{ sk?: unknown }> }>; TransactItems?: Array<Record<string, { Key?: { sk?: unknown }; Item?: { sk?: unknown } }>> };
        const kind = itemKind(input.Key?.sk ?? input.Item?.sk);
        const firstOfBatch = Object.values(input.RequestItems ?? {})[0];
        const firstOfTransaction = Object.values(input.TransactItems?.[0] ?? {})[0];
        const named = itemKind(
          input.Key?.sk ?? input.Item?.sk ?? (Array.isArray(firstOfBatch) ? undefined : firstOfBatch?.Keys?.[0]?.sk) ?? firstOfTransaction?.Key?.sk ?? firstOfTransaction?.Item?.sk,
        );
        this.requestsBy.set(`${names[command] ?? command} ${named}`, (this.requestsBy.get(`${names[command] ?? command} ${named}`) ?? 0) + 1);
        (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'INDEXES';
        const started = performance.now();
        try {
          const result = await next(args);
          this.count(op, performance.now() - started);
          this.capacity(op, kind, (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity);
          return result;
        } catch (error) {
          this.count(op, performance.now() - started);
          throw error;
        }
      },
      { step: 'initialize', name: 'benchMeterDynamo' },
    );
    runtime.clients.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const started = performance.now();
        try {
          return await next(args);
        } finally {
          this.count(`sqs:${((context as { commandName?: string }).commandName ?? '?').replace(/Command$/, '')}`, performance.now() - started);
        }
      },
      { step: 'initialize', name: 'benchMeterSqs' },
    );
  }

  private count(op: string, ms: number): void {
    this.requests.set(op, (this.requests.get(op) ?? 0) + 1);
    this.opMs.set(op, (this.opMs.get(op) ?? 0) + ms);
  }

  /** Capacity as DynamoDB reports it (table and each index); a transaction is billed at twice its items' units. */
  private capacity(op: string, kind: string, consumed: unknown): void {
    type Units = { CapacityUnits?: number };
    const list = (Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) as Array<Units & { Table?: Units; GlobalSecondaryIndexes?: Record<string, Units> }>;
    const factor = op.includes('Transact') ? 2 : 1;
    const isRead = /GetItem|Query|TransactGet/.test(op);
    for (const entry of list) {
      const units = (entry.CapacityUnits ?? 0) * factor;
      if (isRead) {
        this.readUnits += units;
        continue;
      }
      this.writeUnits += units;
      const add = (what: string, n: number) => this.writeUnitsBy.set(what, (this.writeUnitsBy.get(what) ?? 0) + n);
      add(`${kind} item`, (entry.Table?.CapacityUnits ?? entry.CapacityUnits ?? 0) * factor);
      for (const [index, used] of Object.entries(entry.GlobalSecondaryIndexes ?? {})) add(`${kind} -> index ${index}`, (used.CapacityUnits ?? 0) * factor);
    }
  }

  total(prefix: string, filter: (op: string) => boolean = () => true): number {
    return [...this.requests].filter(([op]) => op.startsWith(prefix) && filter(op)).reduce((sum, [, n]) => sum + n, 0);
  }
}

/** RUN, INPUT, TASK, DONE, JOIN...: what an item is, from its sort key. */
function itemKind(sk: unknown): string {
  const text = typeof sk === 'object' && sk !== null && 'S' in sk ? (sk).S : sk;
  return typeof text === 'string' ? (text.split('#')[0] ?? text) : 'other';
}

// ---- CPU of this process and of DynamoDB Local's JVM ----
const CLOCK_TICKS_PER_SECOND = 100;

function javaPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc', { withFileTypes: true })) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry.name}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith('java') && cmdline.includes('-port') && cmdline.includes(String(port))) return Number(entry.name);
    } catch {
      // A process that ended while we looked.
    }
  }
  return undefined;
}

function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

function nodeCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

// ---- the workloads ----
interface WorkloadFigures {
  name: string;
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  runP50Ms: number;
  runP95Ms: number;
  engineCpuMsPerTask: number;
  dynamoLocalCpuMsPerTask: number;
  dynamoRequestsPerTask: number;
  sqsRequestsPerTask: number;
  requestsPerTask: Record<string, number>;
  /** DynamoDB requests per task by operation and item kind. */
  requestsPerTaskBy: Record<string, number>;
  writeUnitsPerTask: number;
  /** Write units per task by item kind and index. */
  writeUnitsPerTaskBy: Record<string, number>;
  readUnitsPerTask: number;
  invocationsPerTask: Record<string, number>;
  /** Lambda GB-seconds per task by the invocation times measured locally (each waits on DynamoDB Local's one thread). */
  lambdaGbSecondsPerTask: number;
  /**
   * Lambda GB-seconds per task modelled for AWS: the engine's CPU time plus every request at its
   * in-region latency, one after another (no overlap), all at the largest function's memory.
   */
  lambdaGbSecondsPerTaskModelled: number;
  /** Share of DynamoDB Local's raw UpdateItem rate the workload used. */
  dynamoUtilisation?: number;
  costPerMillionTasks?: CostBreakdown;
}

interface CostBreakdown {
  dynamoWrites: number;
  dynamoReads: number;
  sqs: number;
  lambdaRequests: number;
  /** Modelled for AWS (lambdaGbSecondsPerTaskModelled). */
  lambdaDuration: number;
  /** By the invocation times measured locally: not in the total. */
  lambdaDurationMeasuredLocally: number;
  apiGateway: number;
  logs: number;
  total: number;
}

async function post(api: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function register(runtime: LocalRuntime, definition: object): Promise<void> {
  await post(runtime.apiUrl, '/workflows', definition);
}

/**
 * Starts `runs` runs over HTTP at once and waits for all; returns run durations (ms, from the run
 * items' times). The bench watches through a client of its own, not counted as the engine's, and
 * lightly: each round reads the pending runs in order only up to the first unfinished one.
 */
async function runAll(runtime: LocalRuntime, workflowId: string, runs: number): Promise<number[]> {
  const runIds: string[] = await Promise.all(Array.from({ length: runs }, async () => (await post(runtime.apiUrl, '/runs', { workflowId, input: {} })).runId as string));
  const durations: number[] = [];
  const pending = [...runIds];
  while (pending.length > 0) {
    const runId = pending[0] ?? '';
    const run = await watcherOf(runtime).runs.getRun(runId);
    if (run !== undefined && (run.status === 'COMPLETED' || run.status === 'FAILED' || run.status === 'CANCELLED')) {
      if (run.status !== 'COMPLETED') throw new Error(`run ${runId} ended ${run.status}`);
      pending.shift();
      durations.push(Date.parse(run.completedAt ?? run.updatedAt) - Date.parse(run.createdAt));
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return durations.sort((a, b) => a - b);
}

const watchers = new WeakMap<LocalRuntime, EngineStore>();
/** The bench's own view of the table (its requests are not the engine's). */
function watcherOf(runtime: LocalRuntime): EngineStore {
  const known = watchers.get(runtime);
  if (known !== undefined) return known;
  const store = createDynamoStore({ client: createDocumentClient({ ...LOCAL_AWS, endpoint: runtime.dynamoEndpoint }), tableName: runtime.tableName });
  watchers.set(runtime, store);
  return store;
}

const ORDER_DAG = {
  id: 'bench_order',
  tasks: [
    { id: 'validate_payment', handler: 'noop' },
    { id: 'reserve_inventory', handler: 'noop' },
    { id: 'charge_payment', handler: 'noop', dependsOn: ['validate_payment'] },
    { id: 'ship_order', handler: 'noop', dependsOn: ['reserve_inventory', 'charge_payment'] },
    { id: 'send_confirmation', handler: 'noop', dependsOn: ['ship_order'] },
  ],
};
const fanDag = (width: number) => ({
  id: `bench_fan_${width}`,
  tasks: [
    { id: 'root', handler: 'noop' },
    ...Array.from({ length: width }, (_, i) => ({ id: `m${i}`, handler: 'noop', dependsOn: ['root'] })),
    { id: 'sink', handler: 'noop', dependsOn: Array.from({ length: width }, (_, i) => `m${i}`) },
  ],
});
const chainDag = (steps: number) => ({
  id: `bench_chain_${steps}`,
  tasks: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, handler: 'noop', ...(i === 0 ? {} : { dependsOn: [`s${i - 1}`] }) })),
});

async function measure(name: string, runtime: LocalRuntime, meter: Meter, java: number | undefined, tasks: number, body: () => Promise<number[]>): Promise<WorkloadFigures> {
  // Let the previous workload's stragglers (stream batches, deletes) drain before counting.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  meter.reset();
  const [node0, java0, started] = [nodeCpuMs(), cpuMsOf(java), performance.now()];
  const durations = await body();
  const seconds = (performance.now() - started) / 1000;
  const [node1, java1] = [nodeCpuMs(), cpuMsOf(java)];
  // The scheduler's last batch (it trails the workers by its window) is part of the cost.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const per = (n: number) => n / tasks;
  const requestsPerTask = Object.fromEntries([...meter.requests].sort().map(([op, n]) => [op, per(n)]));
  const invocationsPerTask = Object.fromEntries([...meter.invocations].map(([fn, { count }]) => [fn, per(count)]));
  const gbSeconds = [...meter.invocations].reduce((sum, [fn, { ms }]) => sum + (ms / 1000) * MEMORY_GB[fn], 0);
  return {
    name,
    tasks,
    seconds,
    tasksPerSecond: tasks / seconds,
    runP50Ms: percentile(durations, 50),
    runP95Ms: percentile(durations, 95),
    engineCpuMsPerTask: per(node1 - node0),
    dynamoLocalCpuMsPerTask: per(java1 - java0),
    dynamoRequestsPerTask: per(meter.total('dynamodb:')),
    sqsRequestsPerTask: per(meter.total('sqs:')),
    requestsPerTask,
    requestsPerTaskBy: Object.fromEntries([...meter.requestsBy].sort((a, b) => b[1] - a[1]).map(([what, n]) => [what, per(n)])),
    writeUnitsPerTask: per(meter.writeUnits),
    writeUnitsPerTaskBy: Object.fromEntries([...meter.writeUnitsBy].sort((a, b) => b[1] - a[1]).map(([what, n]) => [what, per(n)])),
    readUnitsPerTask: per(meter.readUnits),
    invocationsPerTask,
    lambdaGbSecondsPerTask: per(gbSeconds),
    lambdaGbSecondsPerTaskModelled: (per(node1 - node0 + meter.total('dynamodb:') * AWS_DYNAMO_MS + meter.total('sqs:') * AWS_SQS_MS) / 1000) * MODEL_MEMORY_GB,
  };
}

/** DynamoDB Local's raw rate: small UpdateItems on distinct items, as many at once as the engine makes. */
async function rawUpdateRate(endpoint: string, count: number): Promise<number> {
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const client = DynamoDBDocumentClient.from(raw);
  const table = `bench-raw-${randomUUID()}`;
  await raw.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  const concurrency = 16;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await client.send(new UpdateCommand({ TableName: table, Key: { pk: `item-${i % 1000}` }, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': 1 } }));
      }
    }),
  );
  const rate = count / ((performance.now() - started) / 1000);
  client.destroy();
  return rate;
}

function cost(figures: WorkloadFigures, logBytesPerTask: number, runsPerTask: number): CostBreakdown {
  const million = 1e6;
  const invocations = Object.values(figures.invocationsPerTask).reduce((sum, n) => sum + n, 0);
  const parts = {
    dynamoWrites: figures.writeUnitsPerTask * million * PRICES.dynamoWriteUnit,
    dynamoReads: figures.readUnitsPerTask * million * PRICES.dynamoReadUnit,
    sqs: figures.sqsRequestsPerTask * million * PRICES.sqsRequest,
    lambdaRequests: invocations * million * PRICES.lambdaRequest,
    lambdaDuration: figures.lambdaGbSecondsPerTaskModelled * million * PRICES.lambdaGbSecond,
    apiGateway: runsPerTask * million * PRICES.apiRequest,
    logs: ((logBytesPerTask + invocations * (PLATFORM_LOG_BYTES + EMF_LOG_BYTES)) * million * PRICES.logsIngestedGb) / 1e9,
  };
  const lambdaDurationMeasuredLocally = figures.lambdaGbSecondsPerTask * million * PRICES.lambdaGbSecond;
  return { ...parts, lambdaDurationMeasuredLocally, total: Object.values(parts).reduce((sum, n) => sum + n, 0) };
}

/** Bytes the engine logs per task at INFO (what CloudWatch Logs would ingest from it), over `runs` order runs. */
async function logBytesPerTask(runs: number): Promise<number> {
  let bytes = 0;
  const write = process.stdout.write.bind(process.stdout);
  const runtime = await startLocalRuntime({ port: 0, handlers: HANDLERS, logLevel: 'INFO', workerConcurrency: 8, sweepIntervalMs: 600_000 });
  try {
    await register(runtime, ORDER_DAG);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      return rest.length === 0 ? true : true;
    });
    await runAll(runtime, ORDER_DAG.id, runs);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  } finally {
    process.stdout.write = write;
    await runtime.stop();
  }
  return bytes / (runs * ORDER_DAG.tasks.length);
}

async function idleCpu(java: number | undefined, seconds: number): Promise<{ engine: number; dynamoLocal: number }> {
  const [node0, java0] = [nodeCpuMs(), cpuMsOf(java)];
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const [node1, java1] = [nodeCpuMs(), cpuMsOf(java)];
  return { engine: (node1 - node0) / (seconds * 1000), dynamoLocal: (java1 - java0) / (seconds * 1000) };
}

async function main(): Promise<void> {
  const meter = new Meter();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`dagflow bench, ${new Date().toISOString()}, ${values.quick ? 'quick' : 'full'} workloads, node ${process.version}`);
  const runtime = await startLocalRuntime({
    port: 0,
    handlers: HANDLERS,
    logLevel: 'SILENT',
    workerConcurrency: 8,
    // The sweeper runs every minute on AWS: out of the way of the timed windows here.
    sweepIntervalMs: 600_000,
    observeInvocation: (fn, ms) => meter.invoked(fn, ms),
  });
  const java = javaPid(Number(new URL(runtime.dynamoEndpoint).port));
  try {
    meter.attach(runtime);
    for (const definition of [ORDER_DAG, fanDag(SIZES.w2Width), chainDag(SIZES.w3Steps)]) await register(runtime, definition);

    // Warm-up: the JVM compiles DynamoDB Local's hot paths in the first thousands of requests.
    log('warming up the JVM (DynamoDB Local) and the engine...');
    await rawUpdateRate(runtime.dynamoEndpoint, 3_000);
    await runAll(runtime, ORDER_DAG.id, 40);
    await runAll(runtime, chainDag(SIZES.w3Steps).id, 1);

    const rawRate = await rawUpdateRate(runtime.dynamoEndpoint, 4_000);
    log(`DynamoDB Local raw UpdateItem rate: ${rawRate.toFixed(0)}/s (16 at once, warm)`);

    const w1 = await measure(`W1: ${SIZES.w1Runs} order runs`, runtime, meter, java, SIZES.w1Runs * ORDER_DAG.tasks.length, () => runAll(runtime, ORDER_DAG.id, SIZES.w1Runs));
    w1.dynamoUtilisation = (w1.tasksPerSecond * w1.dynamoRequestsPerTask) / rawRate;
    const w2Tasks = SIZES.w2Width + 2;
    const w2 = await measure(`W2: 1 -> ${SIZES.w2Width} -> 1`, runtime, meter, java, w2Tasks, () => runAll(runtime, fanDag(SIZES.w2Width).id, 1));
    w2.dynamoUtilisation = (w2.tasksPerSecond * w2.dynamoRequestsPerTask) / rawRate;
    const chainId = chainDag(SIZES.w3Steps).id;
    const w3 = await measure(`W3: ${SIZES.w3Steps}-step chain`, runtime, meter, java, SIZES.w3Steps, () => runAll(runtime, chainId, 1));
    const hops = SIZES.w3Steps - 1;
    const hopMs = (w3.runP50Ms - 0) / SIZES.w3Steps;
    // Where a hop's time goes: each operation's share, from the requests W3 made and their mean time.
    const hopBreakdown = Object.fromEntries(
      [...meter.opMs].filter(([op]) => !op.startsWith('sqs:Receive')).map(([op, ms]) => [op, { perHop: (meter.requests.get(op) ?? 0) / hops, msPerHop: ms / hops }]),
    );
    const engineCpuPerHop = (w3.engineCpuMsPerTask * SIZES.w3Steps) / hops;
    const dynamoRequestsPerHop = (meter.total('dynamodb:') - 0) / hops;
    const modelledAwsHopMs = dynamoRequestsPerHop * AWS_DYNAMO_MS + engineCpuPerHop;

    const idle = await idleCpu(java, 10);

    const logBytes = await logBytesPerTask(values.quick ? 20 : 50);
    w1.costPerMillionTasks = cost(w1, logBytes, 1 / ORDER_DAG.tasks.length);

    // ---- the report ----
    const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
    log('');
    log('| workload | tasks/s | run p50 / p95 | engine CPU ms/task | DynamoDB Local CPU ms/task | DynamoDB req/task | SQS req/task | WCU/task | RCU/task | DynamoDB Local used |');
    log('|---|---|---|---|---|---|---|---|---|---|');
    for (const w of [w1, w2, w3]) {
      log(
        `| ${w.name} | ${fixed(w.tasksPerSecond, 0)} | ${fixed(w.runP50Ms, 0)} / ${fixed(w.runP95Ms, 0)} ms | ${fixed(w.engineCpuMsPerTask)} | ${fixed(w.dynamoLocalCpuMsPerTask)} | ${fixed(w.dynamoRequestsPerTask, 2)} | ${fixed(w.sqsRequestsPerTask, 2)} | ${fixed(w.writeUnitsPerTask, 2)} | ${fixed(w.readUnitsPerTask, 2)} | ${w.dynamoUtilisation === undefined ? '-' : `${fixed(w.dynamoUtilisation * 100, 0)}%`} |`,
      );
    }
    log('');
    log(`W3 hop: ${fixed(hopMs)} ms per step locally (run p50 / steps); ${fixed(dynamoRequestsPerHop, 1)} DynamoDB requests and ${fixed(engineCpuPerHop)} ms of engine CPU per hop`);
    log(`        modelled on AWS (${AWS_DYNAMO_MS} ms per DynamoDB request, the chain running on in one worker invocation): ~${fixed(modelledAwsHopMs, 0)} ms per hop`);
    log('        time per hop by operation (count per hop, ms per hop):');
    for (const [op, { perHop, msPerHop }] of Object.entries(hopBreakdown).sort((a, b) => b[1].msPerHop - a[1].msPerHop)) {
      log(`          ${op.padEnd(28)} ${fixed(perHop, 2).padStart(6)} ${fixed(msPerHop, 2).padStart(7)} ms`);
    }
    log('');
    log('W1 requests per task by operation:');
    for (const [op, n] of Object.entries(w1.requestsPerTask)) log(`  ${op.padEnd(30)} ${fixed(n, 2)}`);
    log('W1 DynamoDB requests per task by operation and item (a batch by its first):');
    for (const [what, n] of Object.entries(w1.requestsPerTaskBy)) log(`  ${what.padEnd(30)} ${fixed(n, 2)}`);
    log('W1 write units per task by item and index:');
    for (const [what, n] of Object.entries(w1.writeUnitsPerTaskBy)) log(`  ${what.padEnd(30)} ${fixed(n, 2)}`);
    log(`W1 Lambda invocations per task: ${Object.entries(w1.invocationsPerTask).map(([fn, n]) => `${fn} ${fixed(n, 3)}`).join(', ')}`);
    log('');
    const c = w1.costPerMillionTasks;
    log(`Cost of 1M tasks of the order DAG on AWS (us-east-1 list prices; engine overhead, handlers excluded):`);
    log(`  DynamoDB writes  $${fixed(c.dynamoWrites, 2)}  (${fixed(w1.writeUnitsPerTask, 2)} write units per task, transactions at double)`);
    log(`  DynamoDB reads   $${fixed(c.dynamoReads, 2)}  (${fixed(w1.readUnitsPerTask, 2)} read units per task)`);
    log(`  SQS              $${fixed(c.sqs, 2)}  (${fixed(w1.sqsRequestsPerTask, 2)} requests per task: sends, receives, deletes)`);
    log(`  Lambda requests  $${fixed(c.lambdaRequests, 2)}`);
    log(
      `  Lambda duration  $${fixed(c.lambdaDuration, 2)}  (modelled, arm64: ${fixed(w1.engineCpuMsPerTask, 1)} ms engine CPU + ${fixed(w1.dynamoRequestsPerTask, 2)} DynamoDB requests x ${AWS_DYNAMO_MS} ms + ${fixed(w1.sqsRequestsPerTask, 2)} SQS x ${AWS_SQS_MS} ms per task, one after another, at ${MODEL_MEMORY_GB} GB)`,
    );
    log(`                   ($${fixed(c.lambdaDurationMeasuredLocally, 2)} by the invocation times measured locally, where each request waits in DynamoDB Local's one queue; not in the total)`);
    log(`  API Gateway      $${fixed(c.apiGateway, 2)}  (one POST /runs per run)`);
    log(`  CloudWatch Logs  $${fixed(c.logs, 2)}  (${fixed(logBytes, 0)} B per task at INFO, plus ${PLATFORM_LOG_BYTES + EMF_LOG_BYTES} B per invocation)`);
    log(`  total            $${fixed(c.total, 2)} per 1M tasks (Step Functions Standard: $25 per 1M state transitions)`);
    log('');
    log(`Idle: engine ${fixed(idle.engine * 100)}% of a core, DynamoDB Local ${fixed(idle.dynamoLocal * 100)}% (10 s after the workloads)`);

    if (values.json !== undefined) {
      writeFileSync(
        values.json,
        `${JSON.stringify({ at: new Date().toISOString(), sizes: SIZES, rawUpdateRate: rawRate, workloads: [w1, w2, w3], w3: { hopMs, dynamoRequestsPerHop, engineCpuPerHop, modelledAwsHopMs, hopBreakdown }, idle, logBytesPerTask: logBytes, prices: PRICES }, null, 2)}\n`,
      );
    }
  } finally {
    await runtime.stop();
  }
}

await main();
