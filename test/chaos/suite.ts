// The chaos suite: many runs of mixed DAGs on the local stack (DynamoDB Local, the SQS server, the
// unchanged handlers) under AWS's real failure modes, injected where the local servers never
// produce them: throttling, transaction conflicts, writes whose answer is lost (applied, then a
// timeout), workers killed (SIGKILL) or stalled past their lease (SIGSTOP/SIGCONT), messages
// delivered twice, stream batches replayed. After quiescence it checks what a correct engine
// guarantees, whatever happened: every run final and as expected; every task committed once (its
// output from the one attempt the history shows succeeding, whose effect is in the effect log);
// completion counts matching the tasks; nothing RUNNING; a history with every transition.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import { createFaultInjector, FAULTS_ENV, mulberry32, type FaultProfile, type FaultStats } from '../../shared/aws/fault-injection.js';
import { isDeepStrictEqual } from 'node:util';
import { compensationTaskId } from '../../shared/engine/compensation.js';
import { itemAddress } from '../../shared/engine/map-items.js';
import type { TaskRecord } from '../../shared/engine/records.js';
import { completionGroupOf, completionGroups } from '../../shared/engine/completion.js';
import { loadDefinition } from '../../shared/engine/definition-cache.js';
import { runHistory } from '../../shared/engine/history.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import { readAllTasks } from '../../shared/engine/run-end.js';
import type { EngineTimings } from '../../shared/engine/timing.js';
import { assertDefinition } from '../../shared/model/definition.js';
import { isFinalTaskStatus } from '../../shared/model/states.js';
import { chaosHandlers, type Effect } from './handlers.js';
import { WORKLOADS, type Workload } from './workloads.js';

export interface Scenario {
  name: string;
  /** Faults injected into every process's AWS clients (the API, scheduler and sweeper's, and the workers'). */
  faults?: FaultProfile;
  /** A worker process is killed with SIGKILL every few seconds (and another started). */
  kills?: boolean;
  /** A worker process is stopped (SIGSTOP) past its lease every few seconds, then let go on. */
  stalls?: boolean;
  /** Share of the messages a worker takes that are delivered twice. */
  duplicates?: number;
  /** Share of the scheduler's stream batches that are handled twice. */
  replays?: number;
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'throttling 20%', faults: { seed: 11, rules: { throttle: { '*': 0.2 } } } },
  { name: 'transaction conflicts 10%', faults: { seed: 12, rules: { transactionConflict: { '*': 0.1 } } } },
  { name: 'ambiguous writes 5%', faults: { seed: 13, rules: { ambiguous: { '*': 0.05 } } } },
  { name: 'workers killed', kills: true },
  { name: 'workers stalled past their lease', stalls: true },
  { name: 'messages delivered twice', duplicates: 0.5 },
  { name: 'stream batches replayed', replays: 1 },
  {
    name: 'all of them together',
    faults: { seed: 14, rules: { throttle: { '*': 0.2 }, transactionConflict: { '*': 0.1 }, ambiguous: { '*': 0.05 } } },
    kills: true,
    stalls: true,
    duplicates: 0.3,
    replays: 0.5,
  },
];

/** Short timings, so that a crashed or stalled worker's task is found in seconds, not minutes. */
export const CHAOS_TIMINGS: Partial<EngineTimings> = {
  leaseGraceSeconds: 2,
  deliveryGraceSeconds: 6,
  reconcileIntervalSeconds: 20,
  resumeLeaseSeconds: 5,
};

export interface ScenarioResult {
  scenario: string;
  runs: number;
  tasks: number;
  faults: number;
  lost: number;
  doubleCommitted: number;
  stuck: number;
  wrong: number;
  maxFinishSeconds: number;
  /** What each check found, for the runs that broke one. */
  problems: string[];
}

/** What a worker process reports: the faults injected into its clients, the messages it duplicated. */
interface WorkerReport {
  faults: FaultStats;
  duplicated: number;
}

interface Submitted {
  workload: string;
  spec: Workload;
  /** What the run must end as: the workload's outcome, unless a late cancel was refused. */
  expected: string;
  runId: string;
  startedAt: number;
  finishedAt?: number;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runScenario(scenario: Scenario, options: { runs: number; workers?: number; timeLimitMs?: number; seed?: number }): Promise<ScenarioResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dagflow-chaos-'));
  const effectLog = path.join(dir, 'effects.jsonl');
  writeFileSync(effectLog, '');
  const random = mulberry32(options.seed ?? 7);
  // Off while the local stack starts (creating its queues is not what is under test), then on.
  const faults = createFaultInjector();
  let runtime: LocalRuntime | undefined;
  const workers = new Set<ChildProcess>();
  const workerReports = new Map<ChildProcess, WorkerReport>();
  let killsAndStalls = 0;
  let replayed = 0;
  const problems: string[] = [];
  let monkey: NodeJS.Timeout | undefined;
  try {
    runtime = await startLocalRuntime({
      port: 0,
      handlers: chaosHandlers(effectLog),
      logLevel: 'SILENT',
      workerConcurrency: 0,
      sweepIntervalMs: 500,
      timings: CHAOS_TIMINGS,
      faults,
      ...(scenario.replays === undefined
        ? {}
        : {
            wrapScheduler: (handler) => async (event) => {
              const first = await handler(event);
              if (random() >= (scenario.replays ?? 0)) return first;
              replayed++;
              return handler(event);
              return first;
            },
          }),
      onError: () => undefined,
    });
    const local = runtime;
    faults.configure(scenario.faults);
    // The suite itself reads and writes through a client of its own, without faults.
    const store = createDynamoStore({ client: createDocumentClient({ ...LOCAL_AWS, endpoint: local.dynamoEndpoint }), tableName: local.tableName });
    for (const workload of Object.values(WORKLOADS)) await store.definitions.saveDefinition(assertDefinition(workload.definition));

    const startWorker = () => {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
        env: {
          ...process.env,
          DYNAMODB_ENDPOINT: local.dynamoEndpoint,
          SQS_ENDPOINT: local.sqsEndpoint,
          TABLE_NAME: local.tableName,
          TASK_QUEUE_URL: local.taskQueueUrl,
          EFFECT_LOG: effectLog,
          CHAOS_TIMINGS: JSON.stringify(CHAOS_TIMINGS),
          DUPLICATE_RATE: String(scenario.duplicates ?? 0),
          CHAOS_SEED: String(options.seed ?? 7),
          ...(scenario.faults === undefined ? {} : { [FAULTS_ENV]: JSON.stringify(scenario.faults) }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        const line = chunk.toString().split('\n').reverse().find((text) => text.startsWith('CHAOS '));
        if (line !== undefined) workerReports.set(child, JSON.parse(line.slice('CHAOS '.length)) as WorkerReport);
      });
      workers.add(child);
      child.once('exit', () => workers.delete(child));
      return child;
    };
    for (let i = 0; i < (options.workers ?? 3); i++) startWorker();

    // The monkey: every few seconds, a worker killed (and replaced) or stalled past its lease.
    const lease = (10 + (CHAOS_TIMINGS.leaseGraceSeconds ?? 2)) * 1000;
    if (scenario.kills === true || scenario.stalls === true) {
      const act = () => {
        const victims = [...workers];
        const victim = victims[Math.floor(random() * victims.length)];
        const stall = scenario.stalls === true && (scenario.kills !== true || random() < 0.5);
        if (victim !== undefined) killsAndStalls++;
        if (victim !== undefined && stall) {
          victim.kill('SIGSTOP');
          setTimeout(() => victim.kill('SIGCONT'), lease + 2_000).unref();
        } else if (victim !== undefined) {
          victim.kill('SIGKILL');
          startWorker();
        }
        monkey = setTimeout(act, 2_000 + random() * 3_000);
      };
      monkey = setTimeout(act, 1_000);
    }

    const api = new ChaosClient(local.apiUrl);
    const names = Object.keys(WORKLOADS);
    const submitted: Submitted[] = [];
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < options.runs; i++) {
      const workload = names[i % names.length] ?? 'chain';
      const spec = WORKLOADS[workload] as Workload;
      const started = (async () => {
        const startedAt = Date.now();
        const runId = await api.start(spec.definition.id, spec.input(startedAt));
        const run: Submitted = { workload, spec, expected: spec.expected, runId, startedAt };
        submitted.push(run);
        await drive(api, run);
      })().catch((error: unknown) => {
        problems.push(`a ${workload} run could not be started or driven: ${String(error)}`);
      });
      inFlight.add(started);
      void started.finally(() => inFlight.delete(started));
      // At most a dozen runs in flight: what a busy local stack takes.
      while (inFlight.size >= 12) await Promise.race(inFlight);
    }
    const deadline = Date.now() + (options.timeLimitMs ?? 240_000);
    await Promise.race([Promise.allSettled([...inFlight]), sleep(Math.max(0, deadline - Date.now()))]);
    // Quiescence: every run final, or the time limit.
    for (const run of submitted) {
      while (run.finishedAt === undefined && Date.now() < deadline) {
        const status = (await store.runs.getRun(run.runId))?.status;
        if (status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED') run.finishedAt = Date.now();
        else await sleep(250);
      }
    }
    clearTimeout(monkey);
    for (const worker of workers) {
      worker.kill('SIGCONT');
      worker.kill('SIGTERM');
    }
    await sleep(500);

    const verdict = await verify(store, submitted, effectLog);
    const reports = [...workerReports.values()];
    const injected =
      [faults.stats(), ...reports.map((report) => report.faults)].reduce((sum, stats) => sum + countFaults(stats), 0) +
      reports.reduce((sum, report) => sum + report.duplicated, 0) +
      replayed +
      killsAndStalls;
    return {
      scenario: scenario.name,
      runs: submitted.length,
      tasks: verdict.tasks,
      faults: injected,
      lost: verdict.lost + (options.runs - submitted.length),
      doubleCommitted: verdict.doubleCommitted,
      stuck: verdict.stuck,
      wrong: verdict.wrong,
      maxFinishSeconds: Math.max(0, ...submitted.map((run) => ((run.finishedAt ?? Date.now()) - run.startedAt) / 1000)),
      problems: [...problems, ...verdict.problems],
    };
  } finally {
    clearTimeout(monkey);
    for (const worker of workers) worker.kill('SIGKILL');
    await runtime?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a client does with one run: cancels it, or resumes it once it failed and its fault is fixed. */
async function drive(api: ChaosClient, run: Submitted): Promise<void> {
  if (run.spec.cancelAfterMs !== undefined) {
    await sleep(run.spec.cancelAfterMs);
    // A cancel that comes after the run finished (its start was slow: retried 5xx answers) is
    // refused with 409, and the run keeps the outcome it had.
    if ((await api.cancel(run.runId)) === 409) run.expected = await api.status(run.runId);
  }
  if (run.spec.resume === true) {
    for (;;) {
      const status = await api.status(run.runId);
      if (status === 'FAILED') break;
      if (status === 'COMPLETED' || status === 'CANCELLED') return;
      await sleep(200);
    }
    await sleep(1_600);
    await api.retry(run.runId);
  }
}

function countFaults(stats: FaultStats): number {
  return Object.values(stats).reduce((sum, kinds) => sum + (kinds.throttle ?? 0) + (kinds.transactionConflict ?? 0) + (kinds.internalError ?? 0) + (kinds.ambiguous ?? 0), 0);
}

/** The checks, on the table as it is once everything is quiet, read without faults. */
async function verify(
  store: EngineStore,
  runs: readonly Submitted[],
  effectLog: string,
): Promise<{ tasks: number; lost: number; doubleCommitted: number; stuck: number; wrong: number; problems: string[] }> {
  const effects = readFileSync(effectLog, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Effect);
  const effectKeys = new Set(effects.map((effect) => `${effect.kind}/${effect.key}/${effect.attempt}/${effect.taskId}`));
  const result = { tasks: 0, lost: 0, doubleCommitted: 0, stuck: 0, wrong: 0, problems: [] as string[] };
  for (const submitted of runs) {
    const run = await store.runs.getRun(submitted.runId);
    if (run === undefined) {
      result.lost++;
      result.problems.push(`${submitted.workload} ${submitted.runId}: accepted, and gone`);
      continue;
    }
    const stored = await store.definitions.getDefinition(run.workflowId, run.version);
    if (stored === undefined) throw new Error(`definition of ${run.runId} is missing`);
    const definition = loadDefinition(stored);
    const tasks = await readAllTasks(store.tasks, run.runId);
    const byId = new Map(tasks.map((task) => [task.taskId, task]));
    result.tasks += definition.definition.tasks.length;
    const say = (what: string) => result.problems.push(`${submitted.workload} ${run.runId}: ${what}`);
    if (run.status !== 'COMPLETED' && run.status !== 'FAILED' && run.status !== 'CANCELLED') {
      result.stuck++;
      say(`still ${run.status}: ${tasks.map((task) => `${task.taskId}=${task.status}`).join(' ')}`);
      continue;
    }
    if (run.status !== submitted.expected) {
      result.wrong++;
      say(`ended ${run.status}, expected ${submitted.expected} (${JSON.stringify(run.error ?? null)}); ${tasks.map((task) => `${task.taskId}=${task.status}`).join(' ')}`);
    }
    const [archived, phases] = await Promise.all([store.tasks.archivedAttempts(run.runId), store.runs.phaseArchives(run.runId)]);
    const history = runHistory({ run, tasks, archivedAttempts: archived, phases, order: definition.indexOf });
    for (const { id } of definition.definition.tasks) {
      const task = byId.get(id);
      if (task !== undefined && !isFinalTaskStatus(task.status)) {
        result.stuck++;
        say(`task ${id} still ${task.status} in a ${run.status} run`);
      }
      if (task?.status !== 'SUCCEEDED') continue;
      // Committed once: one SUCCEEDED attempt in its history, and its output from that attempt...
      const succeeded = history.filter((event) => event.taskId === id && event.type === 'TaskSucceeded');
      if (succeeded.length !== 1) {
        result.doubleCommitted++;
        say(`task ${id} has ${succeeded.length} successful attempts in its history`);
      }
      const output = task.output as { attempt?: number } | null;
      const committedAttempt = output?.attempt;
      if (committedAttempt !== undefined && succeeded[0]?.attempt !== committedAttempt) {
        result.doubleCommitted++;
        say(`task ${id}'s output is of attempt ${committedAttempt}, its history's success of attempt ${succeeded[0]?.attempt}`);
      }
      // ...whose effect really happened (the handler ran it: nothing committed from nowhere).
      const key = task.keyGeneration === undefined ? `${run.runId}:${id}` : `${run.runId}:${id}:${task.keyGeneration}`;
      if (committedAttempt !== undefined && !effectKeys.has(`work/${key}/${committedAttempt}/${id}`)) {
        result.lost++;
        say(`task ${id}'s committed attempt ${committedAttempt} left no effect`);
      }
      // Every attempt in the history has its start and its end.
      const started = history.filter((event) => event.taskId === id && event.type === 'TaskStarted').length;
      const ended = history.filter((event) => event.taskId === id && ['TaskSucceeded', 'TaskFailed', 'TaskRetried', 'TaskTimedOut', 'TaskCancelled'].includes(event.type)).length;
      if (started !== ended) say(`task ${id}'s history has ${started} starts and ${ended} ends`);
    }
    // A map's items: each committed once, its effect made, and its output in its place in the map's.
    for (const map of definition.definition.tasks.filter((candidate) => candidate.type === 'map')) {
      const mapTask = byId.get(map.id);
      if (run.status !== 'COMPLETED' || mapTask?.status !== 'SUCCEEDED') continue;
      const items: TaskRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.maps.listItems({ runId: run.runId, mapId: map.id, phase: mapTask.phase, attempt: mapTask.attempt }, cursor === undefined ? {} : { cursor });
        items.push(...page.items);
        cursor = page.cursor;
      } while (cursor !== undefined);
      const outputs = mapTask.output as unknown[];
      result.tasks += items.length;
      if (items.length !== mapTask.mapItems || outputs.length !== items.length) say(`map ${map.id} has ${items.length} items of ${mapTask.mapItems ?? '?'} and ${outputs.length} outputs`);
      for (const item of items) {
        const index = itemAddress(item.taskId)?.index ?? -1;
        const committed = (item.output as { attempt?: number } | undefined)?.attempt;
        if (item.status !== 'SUCCEEDED' || committed !== item.attempt) {
          result.doubleCommitted++;
          say(`map item ${index} is ${item.status}, its output of attempt ${committed}, its attempt ${item.attempt}`);
        }
        if (!isDeepStrictEqual(outputs[index], item.output)) say(`map ${map.id}'s output ${index} is not its item's`);
        const key = `${run.runId}:${map.id}:${index}`;
        if (!effectKeys.has(`work/${key}/${item.attempt}/${item.taskId}`)) {
          result.lost++;
          say(`map item ${index}'s committed attempt ${item.attempt} left no effect`);
        }
      }
    }
    // Compensations: each that must run ran, and succeeded once.
    if (submitted.spec.compensated !== undefined && run.status !== 'COMPLETED') {
      const succeededTasks = new Set(tasks.filter((task) => task.status === 'SUCCEEDED' && task.phase <= run.phase && !task.taskId.includes(':')).map((task) => task.taskId));
      for (const id of submitted.spec.compensated(succeededTasks)) {
        const compensation = byId.get(compensationTaskId(id));
        if (compensation?.status !== 'SUCCEEDED') {
          result.wrong++;
          say(`task ${id} succeeded and its compensation is ${compensation?.status ?? 'missing'}`);
        }
      }
    }
    // The completion counts match the tasks: every group of the phase done, each counting exactly its final tasks.
    if (run.status === 'COMPLETED') {
      const groups = completionGroups(definition).map((group) => ({ phase: run.phase, group }));
      const progress = await store.tasks.readProgress(run.runId, { tasks: [], joins: [], groups });
      for (const { group } of groups) {
        const counted = progress.groups.get(`${run.phase}/${group}`) ?? new Set<string>();
        const members = definition.definition.tasks.filter((task) => completionGroupOf(definition, task.id) === group).map((task) => task.id);
        const final = members.filter((id) => isFinalTaskStatus(byId.get(id)?.status ?? 'PENDING'));
        if (counted.size !== members.length || final.length !== members.length) say(`completion group ${group} counts ${counted.size} of ${members.length} tasks (${final.length} final)`);
      }
      if (!run.doneGroups.length || run.doneGroups.length < completionGroups(definition).length) say(`run marks ${run.doneGroups.length} groups done`);
    }
  }
  // A history gap or a count mismatch is a wrong outcome too.
  result.wrong += result.problems.filter((problem) => /history has|completion group|groups done|outputs|output \d+ is not/.test(problem)).length;
  return result;
}

/** The suite's HTTP client: retries what a real client retries (429, 5xx, a dropped connection). */
class ChaosClient {
  constructor(private readonly baseUrl: string) {}

  async start(workflowId: string, input: object): Promise<string> {
    const key = randomUUID();
    const { body } = await this.call('POST', '/runs', { workflowId, input }, { 'Idempotency-Key': key }, [200, 201]);
    return (body as { runId: string }).runId;
  }

  /** The answer's status: 202 (cancelling) or 409 (the run had finished). */
  async cancel(runId: string): Promise<number> {
    const { status } = await this.call('POST', `/runs/${runId}/cancel`, undefined, {}, [202, 409]);
    return status;
  }

  async retry(runId: string): Promise<void> {
    await this.call('POST', `/runs/${runId}/retry`, undefined, {}, [202, 409]);
  }

  async status(runId: string): Promise<string> {
    return ((await this.call('GET', `/runs/${runId}`, undefined, {}, [200])).body as { status: string }).status;
  }

  private async call(method: string, route: string, body: unknown, headers: Record<string, string>, ok: number[]): Promise<{ status: number; body: unknown }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(`${this.baseUrl}${route}`, {
          method,
          headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        if (ok.includes(response.status)) return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
        if (response.status !== 429 && response.status < 500) throw new Error(`${method} ${route}: ${response.status} ${text}`);
      } catch (error) {
        if (attempt >= 30 || (error instanceof Error && /: 4\d\d /.test(error.message))) throw error;
      }
      await sleep(Math.min(2_000, 50 * 2 ** attempt));
    }
  }
}

/** The report, one row per scenario. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'runs', 'tasks', 'faults injected', 'lost', 'double-committed', 'stuck', 'wrong outcome', 'max time to finish'];
  const rows = results.map((row) => [
    row.scenario,
    String(row.runs),
    String(row.tasks),
    String(row.faults),
    String(row.lost),
    String(row.doubleCommitted),
    String(row.stuck),
    String(row.wrong),
    `${row.maxFinishSeconds.toFixed(1)} s`,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
