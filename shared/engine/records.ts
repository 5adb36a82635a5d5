// What the engine knows of a run and its tasks: the records its services read and the ports hand
// out. Storage-neutral: the DynamoDB adapter maps items to these, and the in-memory doubles of the
// unit tests hold them as they are.
import type { WorkflowDefinition } from '../model/definition.js';
import type { StoredRunStatus, TaskStatus } from '../model/states.js';
import type { TaskError } from '../model/task-error.js';
import type { PayloadRef } from './payloads.js';

export interface StoredDefinition {
  workflowId: string;
  version: string;
  definition: WorkflowDefinition;
  createdAt: string;
}

export interface WorkflowSummary {
  workflowId: string;
  latestVersion: string;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

/** A schedule's fire that started a run: the schedule and its fire time (UTC, to the second). */
export interface RunTrigger {
  scheduleId: string;
  fireTime: string;
}

/** How a run ends once stopped: CANCELLED on request, FAILED when it passed its deadline. */
export type CancelOutcome = 'CANCELLED' | 'FAILED';

export interface RunRecord {
  runId: string;
  workflowId: string;
  version: string;
  status: StoredRunStatus;
  /** 0 at creation, one more per resume: records of an earlier phase change nothing. */
  phase: number;
  createdAt: string;
  /** When the current phase began (creation, or the last resume). */
  startedAt: string;
  completedAt?: string;
  updatedAt: string;
  /** Tasks in the definition. */
  taskCount: number;
  /** Completion groups of the current phase (see completion.ts) and those complete so far. */
  groupCount: number;
  doneGroups: string[];
  /** Critical tasks of the current phase that failed for good: how many, and the first few by id. */
  failedCount: number;
  failedTasks: string[];
  error?: TaskError;
  /** Epoch ms after which a RUNNING run is stopped and fails (the definition's timeoutSeconds). */
  deadlineAt?: number;
  cancel?: { requestedAt: string; reason: string; outcome: CancelOutcome };
  /** While COMPENSATING: how the run ends, why, and the tasks whose compensations run. */
  compensation?: { outcome: CancelOutcome; error?: TaskError; tasks: string[] };
  /** While RESUMING: who moves the tasks into the next phase, until when, and how the run had ended. */
  resume?: { owner: string; expiresAt: number; from: 'FAILED' | 'CANCELLED' };
  /** When the run was last resumed. */
  resumedAt?: string;
  idempotencyKey?: string;
  /** The worker build the run started on (its bundle's hash on AWS). */
  handlerBuild?: string;
  /** The schedule fire that started the run, when a schedule did. */
  trigger?: RunTrigger;
  /**
   * A child run: the workflow task that started it, and the hash of the token its end answers that
   * task's attempt with (never shown by the API).
   */
  parent?: ParentLink;
  /** Epoch ms at which the sweeper looks at the run next (its check, deadline or resume lease). */
  dueAt?: number;
}

/** The task attempt that started a child run. */
export interface ParentLink {
  runId: string;
  taskId: string;
  attempt: number;
  /** The SHA-256 of the token the child's end answers with (the token itself is never stored). */
  tokenHash: string;
  /** 1 for a child of a top-level run, 2 for its child, and so on (bounded: LIMITS.maxChildDepth). */
  depth: number;
}

/** The final states of a task's direct dependencies, as recorded on the task. */
export interface DependencyOutcomes {
  succeeded: string[];
  failed: string[];
  skipped: string[];
  cancelled: string[];
}

export type AttemptOutcome = 'SUCCEEDED' | 'FAILED' | 'RETRIED' | 'TIMED_OUT' | 'CANCELLED';

/** One finished attempt of a task, kept for the run's history. */
export interface AttemptRecord {
  attempt: number;
  /** The run's phase the attempt belonged to. */
  phase: number;
  startedAt: string;
  completedAt: string;
  durationMs: number;
  /** SUCCEEDED, FAILED, RETRIED (failed, another attempt follows), TIMED_OUT or CANCELLED. */
  outcome: AttemptOutcome;
  error?: TaskError;
}

export interface TaskRecord {
  runId: string;
  taskId: string;
  workflowId: string;
  version: string;
  /** The phase of the run the task belongs to. */
  phase: number;
  status: TaskStatus;
  /** The current (or next) attempt; 0 before the task was first queued. */
  attempt: number;
  /** Attempts made before the current phase: the retry policy counts from here. */
  attemptBase: number;
  leaseToken?: string;
  /** Epoch ms when a RUNNING attempt's lease runs out (extended by heartbeats). */
  leaseExpiresAt?: number;
  /** Epoch ms when the sweeper looks at the task (a delivery, a lease or a timer). */
  dueAt?: number;
  output?: unknown;
  /**
   * An output over the inline limit, kept as an object of its own (payloads.ts): `output` is then
   * absent from the record, and the store's `readScope` reads it back.
   */
  outputRef?: PayloadRef;
  checkpoint?: unknown;
  error?: TaskError;
  /** Why a task was skipped or cancelled. */
  reason?: string;
  /** A WAITING task's wake-up time (epoch ms): a wait task's end, or a parked retry's due time. */
  wakeAt?: number;
  /** The most recent finished attempts, oldest first (older ones are archived apart). */
  attempts: AttemptRecord[];
  /** Outcomes of direct dependencies, recorded one by one (tasks with up to INLINE_JOIN_LIMIT). */
  dependencies: DependencyOutcomes;
  /** Per join group, the counts of a task with many dependencies (see join.ts), once complete. */
  joinGroups: Record<string, DependencyCounts>;
  /** Set when a compensated task runs again after a resume: its idempotency key gets this suffix. */
  keyGeneration?: number;
  /**
   * A callback task: the hashes of the tokens its attempts handed out (never the tokens), and the
   * attempt whose wait began (WAITING for that attempt is a callback's wait, not a parked retry).
   */
  callbackTokens?: string[];
  callbackAttempt?: number;
  /** A workflow task: the child run its current attempt starts (or started). */
  childRunId?: string;
  /** A map's item task: the item of the list it runs for, and the index of the item its end starts. */
  item?: unknown;
  nextIndex?: number;
  /**
   * A map task: how many items its current attempt runs (and the id prefix of the attempt that
   * made them), which chunks of them are all finished, and how many of those failed.
   */
  mapItems?: number;
  mapItemsOf?: string;
  mapChunksDone?: string[];
  mapFailed?: number;
  /** Set when the run is being cancelled while this task runs: its worker fires ctx.signal. */
  cancelRequested: boolean;
  queuedAt?: string;
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
  updatedAt: string;
  /** The operation token of the task's last change (a retry of that change recognizes it). */
  lastChange?: string;
}

/** How many of a task's direct dependencies ended in each final state. */
export interface DependencyCounts {
  /** Number of dependencies, final or not. */
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

export interface RunWithTasks {
  run: RunRecord;
  tasks: TaskRecord[];
}

export type FinalTaskStatus = 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED';

/** What a run's history holds of an earlier phase, kept when the run is resumed. */
export interface PhaseSummary {
  phase: number;
  startedAt: string;
  completedAt?: string;
  status: StoredRunStatus;
  error?: TaskError;
  cancel?: RunRecord['cancel'];
  /** Tasks that ended without an attempt (skipped, cancelled before they started). */
  ended: Array<{ taskId: string; status: 'SKIPPED' | 'CANCELLED'; at: string; reason?: string }>;
}
