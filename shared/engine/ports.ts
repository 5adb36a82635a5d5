// The ports the engine's services talk through: small interfaces the engine owns, one per entity,
// which the DynamoDB adapter implements (shared/aws/dynamo) and the unit tests implement in
// memory. Every state change is conditional, and comes back as a named outcome:
// - `ok`: the change was made (by this call, or by an earlier try of the same call whose answer
//   was lost: each change carries an operation token, recognized on a retry);
// - `stale` / `conflict`: the item was not as expected; `current` is how it is (when known).
// The conditions themselves come from the tables of model/transitions.ts.
import type { WorkflowDefinition } from '../model/definition.js';
import type { PayloadRef } from './payloads.js';
import type { RunStatus, StoredRunStatus } from '../model/states.js';
import type { TaskError } from '../model/task-error.js';
import type {
  AttemptRecord,
  CancelOutcome,
  DependencyCounts,
  FinalTaskStatus,
  PhaseSummary,
  RunRecord,
  ParentLink,
  RunTrigger,
  StoredDefinition,
  TaskRecord,
  WorkflowSummary,
} from './records.js';

export type Outcome = { outcome: 'ok' } | { outcome: 'stale'; current?: TaskRecord | undefined };

// ---- definitions ---------------------------------------------------------------------------

export interface DefinitionStore {
  saveDefinition(
    definition: WorkflowDefinition,
    options?: { makeLatest?: 'always' | 'if-created' },
  ): Promise<{ version: string; created: boolean }>;
  getDefinition(workflowId: string, version: string): Promise<StoredDefinition | undefined>;
  getWorkflow(workflowId: string): Promise<WorkflowSummary | undefined>;
  listWorkflows(): Promise<WorkflowSummary[]>;
  listVersions(workflowId: string): Promise<Array<{ version: string; createdAt: string; taskCount: number }>>;
}

// ---- runs ------------------------------------------------------------------------------------

export interface CreateRunParams {
  runId: string;
  definition: StoredDefinition;
  input: unknown;
  /** With a key, a second create with the same key returns the first run instead. */
  idempotency?: { key: string; requestFingerprint: string };
  /** When the run's next check (or its deadline) is due, epoch ms. */
  dueAt: number;
  deadlineAt?: number;
  groupCount: number;
  /** The worker build the run starts on (the API's HANDLER_BUILD), recorded for the reader. */
  handlerBuild?: string;
  /** The schedule fire that starts the run, recorded for the reader. */
  trigger?: RunTrigger;
  /** A child run: the workflow task that starts it. */
  parent?: ParentLink;
}

export type RunSummary = Pick<RunRecord, 'runId' | 'workflowId' | 'version' | 'createdAt' | 'completedAt' | 'taskCount'> & {
  status: RunStatus;
};

export interface RunStore {
  /** Creates a run (and its input); `created: false` with the first run's id for a repeated key. */
  createRun(params: CreateRunParams): Promise<{ runId: string; created: boolean }>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  getRunInput(runId: string): Promise<unknown>;
  /** The input as its item holds it: the value, or (a large one) a reference to its object, unread. */
  describeRunInput(runId: string): Promise<{ input: unknown } | { inputRef: PayloadRef }>;
  /**
   * Runs newest first, of one workflow or (without `workflowId`) of every workflow, back a few
   * days; a page may come back short, even empty, with a `nextToken` to go on from.
   */
  listRuns(query: { workflowId?: string; status?: RunStatus; limit?: number; nextToken?: string }): Promise<{
    runs: RunSummary[];
    nextToken?: string;
  }>;
  /** RUNNING -> CANCELLING; a run already CANCELLING is `cancelling` too; otherwise `refused`. */
  requestCancel(params: { runId: string; reason: string; outcome: CancelOutcome }): Promise<
    { outcome: 'cancelling'; run: RunRecord } | { outcome: 'refused'; run: RunRecord | undefined }
  >;
  /**
   * Marks a completion group of the phase done, once: the critical failures it counted are added
   * to the run's. Returns the run as it now is (also when the group was done already), or
   * undefined when the run is gone or in another phase.
   */
  markGroupDone(params: { runId: string; phase: number; group: string; failed: readonly string[] }): Promise<RunRecord | undefined>;
  /**
   * A run of one completion group: marks it done and ends the run COMPLETED in the same write,
   * when the run is RUNNING in `phase` with no critical failure and the group is not done yet.
   * Returns the run as it ended, or undefined when any of that does not hold (the caller then
   * marks the group done the usual way).
   */
  completeWithOnlyGroup(params: { runId: string; phase: number; group: string }): Promise<RunRecord | undefined>;
  /** Ends the run from `from` (in `phase`), exactly once. */
  finishRun(params: { runId: string; phase: number; from: StoredRunStatus; status: RunStatus; error?: TaskError }): Promise<Outcome>;
  /** RUNNING or CANCELLING -> COMPENSATING with the tasks to compensate; their group starts empty. */
  beginCompensation(params: {
    runId: string;
    phase: number;
    from: 'RUNNING' | 'CANCELLING';
    outcome: CancelOutcome;
    error?: TaskError;
    tasks: readonly string[];
  }): Promise<Outcome>;
  /** Moves the run's next due time on (or, without `next`, out of the index), only if it is still `previous`. */
  rescheduleRun(params: { runId: string; previous: number; next?: number }): Promise<Outcome>;
  /** FAILED or CANCELLED -> RESUMING, owned by `owner` until `expiresAt` (or taken over after it). */
  beginResume(params: { runId: string; owner: string; expiresAt: number }): Promise<
    { outcome: 'resuming'; run: RunRecord } | { outcome: 'refused'; run: RunRecord | undefined }
  >;
  /** The owner, still at work, keeps its lease. */
  saveResumeProgress(params: { runId: string; owner: string; expiresAt: number }): Promise<Outcome>;
  /** RESUMING -> RUNNING in the next phase, with the groups already complete. */
  finishResume(params: {
    runId: string;
    owner: string;
    phase: number;
    groupCount: number;
    doneGroups: readonly string[];
    dueAt: number;
    deadlineAt?: number;
  }): Promise<Outcome>;
  /** Keeps what the history must show of a phase that a resume ends (idempotent). */
  archivePhase(runId: string, summary: PhaseSummary): Promise<void>;
  phaseArchives(runId: string): Promise<PhaseSummary[]>;
}

// ---- tasks -----------------------------------------------------------------------------------

/** What the next state of a task is, once its join rule is decided. */
export type NextStep =
  /** QUEUED for the next attempt (the attempt number is the stored one plus one). */
  | { kind: 'queue'; dueAt: number }
  /** WAITING until `wakeAt` (a wait task). */
  | { kind: 'wait'; wakeAt: number; dueAt: number }
  /** RUNNING at once, for the next attempt, with a lease (the worker runs it in the same invocation). */
  | { kind: 'claim'; leaseToken: string; leaseExpiresAt: number }
  | { kind: 'skip'; reason: string };

export interface AdvanceParams {
  runId: string;
  taskId: string;
  workflowId: string;
  version: string;
  phase: number;
  /** A dependency's final state to record (idempotent), if any. */
  outcome?: { dependencyId: string; status: FinalTaskStatus };
  /** The task's next state, when the caller has decided it: only from PENDING (or no item yet). */
  next?: NextStep;
  /** Identifies this change, so that a retry whose first try was applied is recognized. */
  opToken: string;
}

export type AdvanceOutcome =
  /** Applied: the task as it now is. */
  | { outcome: 'ok'; task: TaskRecord }
  /** Not applied: the task is of another phase, or already past PENDING. */
  | { outcome: 'conflict'; current: TaskRecord | undefined };

/** Which write a failed or finished attempt is fenced by. */
export type Fence =
  /** The worker that holds the attempt's lease. */
  | { kind: 'lease'; leaseToken: string }
  /** The sweeper, once the lease has run out by `now` (a heartbeat may still have won). */
  | { kind: 'expired'; now: number }
  /** The DLQ handler: the attempt was never claimed, its lease ran out, or it is a wait's wake-up. */
  | { kind: 'dead-letter'; now: number }
  /** An outside system's answer to a callback task, quoting the token of this attempt (RUNNING or WAITING). */
  | { kind: 'callback'; tokenHash: string }
  /** The sweeper, once a callback's wait (or its heartbeat) has run out by `now`. */
  | { kind: 'callback-expired'; now: number };

export interface AttemptEnd {
  runId: string;
  taskId: string;
  attempt: number;
  fence: Fence;
  /** The finished attempt, for the history. */
  record: AttemptRecord;
  /** When the attempt list is full, the oldest are moved aside first (see TaskStore.archiveAttempts). */
  keptAttempts: readonly AttemptRecord[];
  opToken: string;
}

export type AttemptResult =
  | { status: 'SUCCEEDED'; output: unknown }
  | { status: 'FAILED'; error: TaskError }
  | { status: 'CANCELLED'; error: TaskError };

/** What a run has recorded already, as `readProgress` reads it. */
export interface Progress {
  /** By task id: its status, phase, the outcomes of its dependencies it holds, and its last change. */
  tasks: Map<string, Pick<TaskRecord, 'status' | 'phase' | 'dependencies' | 'joinGroups' | 'lastChange'>>;
  /** By `phase/taskId/group`: the dependencies a fan-in's join group holds. */
  joins: Map<string, ReadonlySet<string>>;
  /** By `phase/group`: the tasks a completion group counts. */
  groups: Map<string, ReadonlySet<string>>;
}

export interface TaskStore {
  getTask(runId: string, taskId: string): Promise<TaskRecord | undefined>;
  /**
   * What is recorded already, in one read: some tasks' statuses and dependency outcomes, some join
   * groups and completion groups. A safety net reads this before it writes what is probably done.
   */
  readProgress(
    runId: string,
    query: { tasks: readonly string[]; joins: ReadonlyArray<{ taskId: string; phase: number; group: string }>; groups: ReadonlyArray<{ phase: number; group: string }> },
  ): Promise<Progress>;
  /** The status and output of some tasks (a task's upstream), and the run's input: one read. */
  readScope(runId: string, taskIds: readonly string[], withInput: boolean): Promise<{
    input?: unknown;
    tasks: Record<string, { status: TaskRecord['status']; output?: unknown }>;
  }>;
  /** Every task item of a run, page by page (`cursor` continues). */
  readTasks(runId: string, cursor?: string): Promise<{ tasks: TaskRecord[]; cursor?: string }>;
  /** Records a dependency's outcome and/or moves the task on (see NextStep); creates the item if need be. */
  advance(params: AdvanceParams): Promise<AdvanceOutcome>;
  /**
   * QUEUED -> RUNNING for `attempt`, with a lease. A callback task's claim also records the hash
   * of the token its attempt hands out (before the token can reach anyone), and a workflow
   * task's claim the id of the child run its attempt starts.
   */
  claim(params: { runId: string; taskId: string; attempt: number; leaseToken: string; leaseExpiresAt: number; opToken: string; callbackTokenHash?: string; childRunId?: string }): Promise<
    { outcome: 'claimed'; task: TaskRecord } | { outcome: 'not-claimable'; current: TaskRecord | undefined }
  >;
  /** The attempt ends: SUCCEEDED, FAILED or CANCELLED (fenced). */
  finish(params: AttemptEnd & { result: AttemptResult }): Promise<Outcome>;
  /** A failed attempt with retries left: the next attempt QUEUED (or parked WAITING) for `dueAt`. */
  retry(params: AttemptEnd & { error: TaskError; next: { status: 'QUEUED' | 'WAITING'; dueAt: number } }): Promise<Outcome>;
  /** WAITING -> SUCCEEDED: a wait task's time has come; its attempt spans the wait. */
  endWait(params: { runId: string; taskId: string; attempt: number; record: AttemptRecord; opToken: string }): Promise<Outcome>;
  /**
   * RUNNING -> WAITING: a callback task's attempt has made its request and now waits, holding no
   * lease, until `waitEndsAt`; `deadline` (the wait's end, or sooner its first heartbeat's) is
   * when the sweeper times it out; `checkAt`, if sooner, when the sweeper looks at it first (a
   * child run's parent checks on its child). Fenced by the lease; refused once the run is being
   * cancelled.
   */
  awaitCallback(params: { runId: string; taskId: string; attempt: number; leaseToken: string; waitEndsAt: number; deadline: number; checkAt?: number; opToken: string }): Promise<Outcome>;
  /** A waiting callback's heartbeat: its deadline moves on to `deadline` (never past its wait's end). */
  heartbeatCallback(params: { runId: string; taskId: string; attempt: number; tokenHash: string; deadline: number }): Promise<Outcome>;
  /** WAITING (a parked retry) -> QUEUED. */
  release(params: { runId: string; taskId: string; attempt: number; dueAt: number; opToken: string }): Promise<Outcome>;
  /** PENDING, QUEUED or WAITING (or no item yet) -> CANCELLED, in `phase`. */
  cancel(params: { runId: string; taskId: string; workflowId: string; version: string; phase: number; reason: string; opToken: string }): Promise<Outcome>;
  /** Asks a RUNNING task of `phase` to stop: its worker fires ctx.signal. */
  requestStop(params: { runId: string; taskId: string; phase: number }): Promise<Outcome>;
  /** Pushes a QUEUED or WAITING task's due time on (its message is sent again), if it is still `previous`. */
  deferDue(params: { runId: string; taskId: string; status: 'QUEUED' | 'WAITING' | 'RUNNING'; attempt: number; previous: number; next: number }): Promise<Outcome>;
  extendLease(params: { runId: string; taskId: string; attempt: number; leaseToken: string; leaseExpiresAt: number }): Promise<Outcome>;
  saveCheckpoint(params: { runId: string; taskId: string; attempt: number; leaseToken: string; checkpoint: unknown }): Promise<Outcome>;
  isStopRequested(runId: string, taskId: string): Promise<boolean>;
  /** Moves attempts off a task item (its list is bounded); idempotent. */
  archiveAttempts(runId: string, taskId: string, attempts: readonly AttemptRecord[]): Promise<void>;
  archivedAttempts(runId: string): Promise<Array<{ taskId: string; attempts: AttemptRecord[] }>>;
  /** A resumed run: the task moves into `phase` as PENDING (created so when it has no item yet), with the outcomes of the kept dependencies. */
  resetForPhase(params: {
    runId: string;
    taskId: string;
    workflowId: string;
    version: string;
    fromPhase: number;
    phase: number;
    succeededDependencies: readonly string[];
    /** The counts of the fan-in's join groups that start complete; every other group of `allJoinGroups` starts empty. */
    joinGroups: Record<string, DependencyCounts>;
    allJoinGroups: readonly string[];
    newIdempotencyKey: boolean;
  }): Promise<Outcome>;
}

// ---- joins and completion ------------------------------------------------------------------

export interface JoinStore {
  /**
   * Records one dependency's outcome in its join group (idempotent); returns the group's outcomes
   * so far. A group of another phase is started afresh.
   */
  recordInGroup(params: { runId: string; taskId: string; phase: number; group: string; dependencyId: string; status: FinalTaskStatus }): Promise<
    Record<FinalTaskStatus, string[]>
  >;
  /** Seeds a group of the next phase with the dependencies that SUCCEEDED and are kept. */
  seedGroup(params: { runId: string; taskId: string; phase: number; group: string; succeeded: readonly string[] }): Promise<void>;
  /** Puts a complete group's counts on the task (idempotent); returns the task as it now is. */
  completeGroup(params: { runId: string; taskId: string; workflowId: string; version: string; phase: number; group: string; counts: DependencyCounts }): Promise<TaskRecord | undefined>;
}

export interface CompletionStore {
  /** Counts tasks of a group as finished (idempotent); returns every finished and failed one so far. */
  recordFinished(params: { runId: string; phase: number; group: string; taskIds: readonly string[]; failed: readonly string[] }): Promise<{
    finished: string[];
    failed: string[];
  }>;
  /** Seeds a group of a new phase with the tasks already finished (the kept successes). */
  seedGroup(params: { runId: string; phase: number; group: string; taskIds: readonly string[] }): Promise<void>;
}

// ---- maps ----------------------------------------------------------------------------------

/** One attempt of one map task, as its items' ids name it (map-items.ts). */
export interface MapAttempt {
  runId: string;
  mapId: string;
  phase: number;
  attempt: number;
}

/** One item a map's attempt makes. */
export interface NewMapItem {
  index: number;
  value: unknown;
  /** The index of the item its end starts (none for the last ones). */
  next?: number;
  /** An item that SUCCEEDED in the map's items of an earlier phase (a resumed run): made SUCCEEDED, with that output. */
  kept?: Pick<TaskRecord, 'attempt' | 'output' | 'outputRef' | 'startedAt' | 'completedAt' | 'durationMs' | 'phase'>;
}

export interface MapStore {
  /**
   * Some of the attempt's items: PENDING, or SUCCEEDED when kept, each holding its item (and the
   * map's idempotency key generation). With the `first` of them, the map task's item count and
   * which items are its latest, fenced by the attempt's lease: refused (a ConflictError) once the
   * attempt is over. Repeating it is harmless before any item is started, which is when the
   * map's attempt makes them.
   */
  createItems(params: MapAttempt & { workflowId: string; version: string; leaseToken: string; keyGeneration?: number; total: number; first: boolean; items: readonly NewMapItem[] }): Promise<void>;
  /**
   * The attempt's item tasks in index order, page by page (`cursor` continues), read
   * consistently; `summary` leaves their items and outputs out (for counting them).
   */
  listItems(map: MapAttempt, page?: { cursor?: string; limit?: number; summary?: boolean }): Promise<{ items: TaskRecord[]; cursor?: string }>;
  /** Of these items (of one run), those their chunks have counted already: one read. */
  readCounted(runId: string, itemIds: readonly string[]): Promise<Set<string>>;
  /** Counts items of one chunk (of `size` items) as finished (idempotent); returns how many of the chunk have finished, and failed, so far. */
  recordFinished(map: MapAttempt & { chunk: number; size: number; indexes: readonly number[]; failed: readonly number[] }): Promise<{ finished: number; failed: number }>;
  /**
   * Marks a complete chunk done on the map task, once, adding its failures to the map's; returns
   * the map task as it now is (also when the chunk was done already), or undefined when the map
   * task has moved to another attempt or phase.
   */
  markChunkDone(map: MapAttempt & { chunk: number; failed: number }): Promise<TaskRecord | undefined>;
}

// ---- the sweeper's index -------------------------------------------------------------------

export type DueRef = { kind: 'task'; runId: string; taskId: string; dueAt: number } | { kind: 'run'; runId: string; dueAt: number };

/**
 * The sweeper's index. A finished task (or run) keeps its entry: removing it would cost a write
 * per task. Instead the sweeper keeps a mark per partition of the index, the due time up to which
 * everything in it was handled, and reads only what came due after it; an entry it passed is
 * never read again (and goes with its item's TTL).
 */
export interface DueStore {
  /** The index's partitions. */
  partitions(): readonly string[];
  /** What is due in (`after`, `until`] in one partition, page by page, in due order. */
  due(partition: string, until: number, after?: number): AsyncIterable<DueRef[]>;
  /** The sweeper's marks, by partition (none before a partition's first sweep). */
  readMarks(): Promise<Record<string, number>>;
  /** Moves a partition's mark on to `mark`; never back (a sweeper behind another changes nothing). */
  saveMark(partition: string, mark: number): Promise<void>;
}

export interface EngineStore {
  definitions: DefinitionStore;
  runs: RunStore;
  tasks: TaskStore;
  joins: JoinStore;
  completion: CompletionStore;
  maps: MapStore;
  due: DueStore;
}
