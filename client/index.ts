// A typed client of dagflow's HTTP API (the routes of docs/architecture.md section 11), on fetch:
//
//   const client = new DagflowClient({ url: 'http://127.0.0.1:3000' });
//   const { runId } = await client.startRun({ workflowId: 'order_processing', input: { orderId: 'o-1' } });
//   const run = await client.waitForRun(runId, { onChange: (change) => console.log(change.taskId, change.status) });
//
// Requests that are safe to repeat are retried with backoff (full jitter) on 429, 5xx and network
// errors: reads, registration (content-addressed), cancel (a repeat is accepted again) and a run's
// start, which always carries an Idempotency-Key (the caller's, or one made per call) so that a
// retried start gives the same run. A resume is retried only on 429. An error answer becomes an
// ApiError with the API's code, message and problems. `sign` lets a caller authenticate each
// request (a deployed stack's IAM auth, for instance).
import { randomUUID } from 'node:crypto';
import type { TaskError, WorkflowDefinitionInput } from '../shared/index.js';

export type RunStatus = 'RUNNING' | 'CANCELLING' | 'COMPENSATING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export type TaskStatus = 'PENDING' | 'QUEUED' | 'WAITING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export interface RunTask {
  taskId: string;
  type: string;
  status: TaskStatus;
  attempt: number;
  dependsOn: string[];
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
  output?: unknown;
  /** A large output (or one past the view's budget) is a link instead: GET /runs/{runId}/tasks/{taskId}/output. */
  outputRef?: PayloadLink;
  error?: TaskError;
  reason?: string;
  /** A workflow task: the child run of its current attempt. */
  childRunId?: string;
  /** A map task: how many items its current attempt runs, and where they are listed (GET /runs/{runId}/tasks/{taskId}/items). */
  items?: { total: number; href: string };
  wakeAt?: string;
  /** true when an attempt saved a checkpoint (ctx.saveCheckpoint) that the next one resumes from. */
  hasCheckpoint?: boolean;
  /** Why a task that is not final is not running (yet): a machine-readable code and a message. */
  why?: TaskWhy;
  /** true on the tasks of an ended run's critical path (absent otherwise). */
  onCriticalPath?: boolean;
}

/** A page of a map task's items (those of its current attempt). */
export interface MapItemsPage {
  runId: string;
  taskId: string;
  attempt: number;
  total: number;
  items: Array<{
    index: number;
    status: TaskStatus;
    attempt: number;
    item: unknown;
    startedAt?: string;
    completedAt?: string;
    durationMs?: number;
    output?: unknown;
    outputRef?: { bytes: number };
    error?: TaskError;
    reason?: string;
  }>;
  nextCursor?: string;
}

/** Where a large input or output is fetched from (the API answers it, or redirects to the stored object). */
export interface PayloadLink {
  bytes: number;
  href: string;
}

/** The codes of `RunTask.why` (shared/engine/explain.ts); times are ISO 8601. */
export type TaskWhyCode =
  | 'waiting_for_dependencies'
  | 'join_undecided'
  | 'ready'
  | 'will_be_skipped'
  | 'retry_at'
  | 'waiting_until'
  | 'waiting_for_callback'
  | 'waiting_for_child'
  | 'waiting_for_items'
  | 'queued'
  | 'running'
  | 'run_cancelling'
  | 'run_compensating'
  | 'run_resuming'
  | 'run_ended';

export interface TaskWhy {
  code: TaskWhyCode;
  message: string;
  /** waiting_for_dependencies, join_undecided: the dependencies not finished yet. */
  waitingFor?: string[];
  /** join_undecided: the task's join rule. */
  trigger?: string;
  /** will_be_skipped: the reason the skip will record. */
  reason?: string;
  /** retry_at, queued, running: the attempt it is about. */
  attempt?: number;
  /** retry_at: when the retry is due; waiting_until: when the wait ends. */
  at?: string;
  /** queued: deliverable since; running: the attempt's start. */
  since?: string;
  /** running: the attempt's lease end. */
  leaseUntil?: string;
  /** waiting_for_callback: when the wait times out (its end, or sooner its heartbeat's deadline). */
  until?: string;
  /** waiting_for_child: the child run the task waits for. */
  childRunId?: string;
  /** waiting_for_items: how many items the map task runs. */
  items?: number;
  /** Overdue by the engine's own deadlines: the sweeper is the one to act. */
  stuck?: true;
}

/** One task of a run's critical path: its time added is its wait after its release plus its duration. */
export interface CriticalPathStep {
  taskId: string;
  startedAt: string;
  completedAt: string;
  durationMs: number;
  waitMs: number;
}

export interface RunView {
  runId: string;
  workflowId: string;
  version: string;
  status: RunStatus;
  /** The run's input; one over the inline limit is a link instead (`inputRef`, GET /runs/{runId}/input). */
  input?: unknown;
  inputRef?: PayloadLink;
  error?: TaskError;
  createdAt: string;
  completedAt?: string;
  /** The worker build the run started on (on AWS, the worker bundle's hash; `local` locally). */
  handlerBuild?: string;
  /** The schedule fire that started the run, when a schedule did. */
  trigger?: { scheduleId: string; fireTime: string };
  /** A child run: the run and the workflow task that started it. */
  parentRunId?: string;
  parentTaskId?: string;
  /** A COMPLETED run's output: its leaf tasks' outputs by task id. */
  output?: Record<string, unknown>;
  tasks: RunTask[];
  compensations?: Array<{ taskId: string; status: TaskStatus; attempt: number; startedAt?: string; completedAt?: string; output?: unknown; outputBytes?: number; error?: TaskError }>;
  /** An ended run's critical path, first task first (empty if no task ran). */
  criticalPath?: CriticalPathStep[];
}

export interface RunSummary {
  runId: string;
  workflowId: string;
  version: string;
  status: RunStatus;
  createdAt: string;
  completedAt?: string;
  taskCount: number;
}

export interface HistoryEvent {
  at: string;
  type: string;
  phase: number;
  taskId?: string;
  attempt?: number;
  durationMs?: number;
  error?: TaskError;
  reason?: string;
}

export type OverlapPolicy = 'skip' | 'allow' | 'cancel_previous';

/** A workflow schedule as the API shows it (times are ISO 8601, fire times UTC to the second). */
export interface Schedule {
  scheduleId: string;
  workflowId: string;
  expression: string;
  input: unknown;
  overlap: OverlapPolicy;
  version?: string;
  state: 'ENABLED' | 'PAUSED';
  createdAt: string;
  updatedAt: string;
  /** When it fires next (an ENABLED schedule whose expression has a next time). */
  nextFireTime?: string;
  lastFireTime?: string;
  /** What its last fire did: started a run, or skipped (its previous run was still going). */
  lastOutcome?: 'started' | 'skipped';
  lastRunId?: string;
}

export interface WorkflowSummary {
  workflowId: string;
  latestVersion: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

/** One task's status as `waitForRun` saw it change. */
export interface TaskChange {
  taskId: string;
  status: TaskStatus;
  attempt: number;
  task: RunTask;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** The API's base URL, e.g. http://127.0.0.1:3000 or a stack's ApiUrl. */
  url: string;
  /** Authenticates a request before it is sent (default: none). */
  sign?: (request: Request) => Promise<Request> | Request;
  /** Tries of a request that may be repeated (default 5). */
  maxAttempts?: number;
  /** The first pause between tries, doubled each time up to 5 s (default 200 ms). */
  retryDelayMs?: number;
  fetch?: typeof fetch;
}

type Retry = 'transient' | 'throttled';

export class DagflowClient {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** Registers a definition; the same content again gives the same version (`created: false`). */
  async registerWorkflow(definition: WorkflowDefinitionInput | { toJSON(): WorkflowDefinitionInput }): Promise<{ workflowId: string; version: string; created: boolean }> {
    const { status, body } = await this.request<{ workflowId: string; version: string }>('POST', '/workflows', { body: definition, retry: 'transient' });
    return { ...body, created: status === 201 };
  }

  async listWorkflows(): Promise<WorkflowSummary[]> {
    return (await this.request<{ workflows: WorkflowSummary[] }>('GET', '/workflows')).body.workflows;
  }

  async getWorkflow(workflowId: string): Promise<WorkflowSummary & { version: string; definition: WorkflowDefinitionInput; versions: unknown[] }> {
    return (await this.request<WorkflowSummary & { version: string; definition: WorkflowDefinitionInput; versions: unknown[] }>('GET', `/workflows/${enc(workflowId)}`)).body;
  }

  /** Starts a run; `created: false` when the Idempotency-Key named an earlier run. */
  async startRun(params: { workflowId: string; version?: string; input?: unknown; idempotencyKey?: string }): Promise<{ runId: string; status: RunStatus; created: boolean }> {
    const { status, body } = await this.request<{ runId: string; status: RunStatus }>('POST', '/runs', {
      body: { workflowId: params.workflowId, ...(params.version === undefined ? {} : { version: params.version }), ...('input' in params ? { input: params.input } : {}) },
      headers: { 'idempotency-key': params.idempotencyKey ?? `client-${randomUUID()}` },
      retry: 'transient',
    });
    return { ...body, created: status === 201 };
  }

  async getRun(runId: string): Promise<RunView> {
    return (await this.request<RunView>('GET', `/runs/${enc(runId)}`)).body;
  }

  /** A page of a map task's items, in item order (`nextCursor` goes on). */
  async listMapItems(runId: string, taskId: string, page: { limit?: number; cursor?: string } = {}): Promise<MapItemsPage> {
    const search = new URLSearchParams();
    if (page.limit !== undefined) search.set('limit', String(page.limit));
    if (page.cursor !== undefined) search.set('cursor', page.cursor);
    const queryString = search.toString();
    const path = `/runs/${enc(runId)}/tasks/${enc(taskId)}/items`;
    return (await this.request<MapItemsPage>('GET', queryString === '' ? path : `${path}?${queryString}`)).body;
  }

  /**
   * Runs newest first: of one workflow, or without `workflowId` of every workflow (those created
   * in the last 7 days). A page may be short, even empty, and still have a `nextToken`.
   */
  async listRuns(query: { workflowId?: string; status?: RunStatus; limit?: number; nextToken?: string } = {}): Promise<{ runs: RunSummary[]; nextToken?: string }> {
    const search = new URLSearchParams();
    if (query.workflowId !== undefined) search.set('workflowId', query.workflowId);
    if (query.status !== undefined) search.set('status', query.status);
    if (query.limit !== undefined) search.set('limit', String(query.limit));
    if (query.nextToken !== undefined) search.set('nextToken', query.nextToken);
    const queryString = search.toString();
    return (await this.request<{ runs: RunSummary[]; nextToken?: string }>('GET', queryString === '' ? '/runs' : `/runs?${queryString}`)).body;
  }

  /** Starts `workflowId` on a schedule: `rate(5 minutes)` or `cron(0 2 * * ? *)` (EventBridge Scheduler's syntax, UTC). */
  async createSchedule(workflowId: string, params: { expression: string; input?: unknown; overlap?: OverlapPolicy; version?: string }): Promise<Schedule> {
    return (await this.request<Schedule>('POST', `/workflows/${enc(workflowId)}/schedules`, { body: params })).body;
  }

  async listSchedules(workflowId: string): Promise<Schedule[]> {
    return (await this.request<{ schedules: Schedule[] }>('GET', `/workflows/${enc(workflowId)}/schedules`)).body.schedules;
  }

  async pauseSchedule(workflowId: string, scheduleId: string): Promise<Schedule> {
    return (await this.request<Schedule>('POST', `/workflows/${enc(workflowId)}/schedules/${enc(scheduleId)}/pause`, { retry: 'transient' })).body;
  }

  async resumeSchedule(workflowId: string, scheduleId: string): Promise<Schedule> {
    return (await this.request<Schedule>('POST', `/workflows/${enc(workflowId)}/schedules/${enc(scheduleId)}/resume`, { retry: 'transient' })).body;
  }

  async deleteSchedule(workflowId: string, scheduleId: string): Promise<void> {
    await this.request('DELETE', `/workflows/${enc(workflowId)}/schedules/${enc(scheduleId)}`);
  }

  async getHistory(runId: string): Promise<HistoryEvent[]> {
    return (await this.request<{ events: HistoryEvent[] }>('GET', `/runs/${enc(runId)}/history`)).body.events;
  }

  async cancelRun(runId: string): Promise<{ runId: string; status: 'CANCELLING' }> {
    return (await this.request<{ runId: string; status: 'CANCELLING' }>('POST', `/runs/${enc(runId)}/cancel`, { retry: 'transient' })).body;
  }

  /** Resumes a FAILED or CANCELLED run (`POST /runs/{runId}/retry`). */
  async retryRun(runId: string): Promise<{ runId: string; status: 'RUNNING' }> {
    return (await this.request<{ runId: string; status: 'RUNNING' }>('POST', `/runs/${enc(runId)}/retry`, { retry: 'throttled' })).body;
  }

  /**
   * Polls the run until it is COMPLETED, FAILED or CANCELLED and returns it; `onChange` hears of
   * every task whose status or attempt changed since the last poll (all of them on the first).
   */
  async waitForRun(runId: string, options: { pollMs?: number; timeoutMs?: number; onChange?: (change: TaskChange, run: RunView) => void } = {}): Promise<RunView> {
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
    const seen = new Map<string, string>();
    for (;;) {
      const run = await this.getRun(runId);
      for (const task of [...run.tasks].sort(byTime)) {
        const state = `${task.status}/${task.attempt}`;
        if (seen.get(task.taskId) === state) continue;
        seen.set(task.taskId, state);
        options.onChange?.({ taskId: task.taskId, status: task.status, attempt: task.attempt, task }, run);
      }
      if (FINAL_RUN_STATUSES.includes(run.status)) return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} is still ${run.status} after ${options.timeoutMs} ms`);
      await sleep(options.pollMs ?? 500);
    }
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; retry?: Retry } = {},
  ): Promise<{ status: number; body: T }> {
    const retry = options.retry ?? (method === 'GET' ? 'transient' : 'throttled');
    const maxAttempts = this.options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let request = new Request(`${this.base}${path}`, {
        method,
        headers: { accept: 'application/json', ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      if (this.options.sign !== undefined) request = await this.options.sign(request);
      let response: Response;
      try {
        response = await this.fetch(request);
      } catch (error) {
        if (retry !== 'transient' || attempt >= maxAttempts) throw new Error(`cannot reach ${this.base}: ${causeOf(error)}`);
        await this.pause(attempt);
        continue;
      }
      const text = await response.text();
      if (response.ok) return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
      const again = response.status === 429 || (retry === 'transient' && response.status >= 500);
      if (again && attempt < maxAttempts) {
        await this.pause(attempt);
        continue;
      }
      throw apiError(response.status, text);
    }
  }

  private pause(attempt: number): Promise<void> {
    const ceiling = Math.min(5_000, (this.options.retryDelayMs ?? 200) * 2 ** (attempt - 1));
    return sleep(Math.random() * ceiling);
  }
}

function apiError(status: number, text: string): ApiError {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string; problems?: Array<{ path: string; message: string }> } };
    if (parsed.error?.code !== undefined) return new ApiError(status, parsed.error.code, parsed.error.message ?? `HTTP ${status}`, parsed.error.problems ?? []);
  } catch {
    // Not the API's JSON error (a proxy's page, say): the status and the start of the text.
  }
  return new ApiError(status, `HTTP_${status}`, `HTTP ${status}: ${text.slice(0, 200)}`);
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** Tasks in the order they moved: started (or ended) first; not started last, in definition order. */
function byTime(a: RunTask, b: RunTask): number {
  const at = (task: RunTask) => Date.parse(task.completedAt ?? task.startedAt ?? '') || Number.POSITIVE_INFINITY;
  return at(a) - at(b);
}

const enc = encodeURIComponent;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
