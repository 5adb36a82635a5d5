// An in-memory double of the engine's ports (EngineStore: definitions, runs, tasks, joins,
// completion, due) and of the TaskQueue, for the unit tests of the engine's services. It holds the
// engine's own records in Maps and applies each operation's condition as the DynamoDB adapter
// (shared/aws/dynamo) does: the "from" statuses come from TASK_MOVES / RUN_MOVES, a task moves
// only in its phase, task items are created when first touched, a write whose condition fails but
// finds its own operation token on the item counts as applied, and finish / retry are fenced by
// the lease token, an expired lease or a dead letter. A double of the ports, not of DynamoDB: no
// expressions, no marshalling. test/unit/support/memory-store.test.ts checks it against what
// test/integration/store.test.ts checks of the adapter.
//
// Test hooks:
// - fail(operation, { times, when, afterApply, error }): the operation throws (by default a
//   retryable EngineError, as the adapter's StoreUnavailableError is), `times` times or always,
//   for the calls `when` picks; with `afterApply` the write lands and its answer is lost;
// - calls (every call, in order) and writes() (the calls to operations that may change something);
// - task(), run(), tasksOf(), joinGroup(), doneGroup(), dueRefs(): the state as it is;
// - patchTask(): sets a task's state directly (what a crash or the passing of time leaves);
// - drainChanges(): what a DynamoDB stream would show of the writes since the last drain (a record
//   per write that changed an item, with its old and new images), as the scheduler's StoreChange
//   values.
// Deterministic: time comes from the injected `now` (see ManualClock).
import { isDeepStrictEqual } from 'node:util';
import type { WorkflowDefinition } from '../../../shared/model/definition.js';
import { ConflictError, EngineError, PayloadTooLargeError, ValidationError } from '../../../shared/model/errors.js';
import { LIMITS } from '../../../shared/model/limits.js';
import type { TaskStatus } from '../../../shared/model/states.js';
import { RUN_MOVES, TASK_MOVES, visibleRunStatus } from '../../../shared/model/transitions.js';
import { definitionVersion } from '../../../shared/model/version.js';
import type { OutgoingMessage, TaskMessage, TaskQueue } from '../../../shared/engine/messages.js';
import type { CompletionStore, DefinitionStore, DueRef, DueStore, EngineStore, Fence, JoinStore, MapStore, Outcome, Progress, RunStore, TaskStore } from '../../../shared/engine/ports.js';
import { chunkOf, itemAddress, itemIdPrefix, itemTaskId, isItemTaskId } from '../../../shared/engine/map-items.js';
import type { AttemptRecord, FinalTaskStatus, PhaseSummary, RunRecord, StoredDefinition, TaskRecord, WorkflowSummary } from '../../../shared/engine/records.js';
import type { StoreChange } from '../../../shared/engine/scheduler.js';

/** Every operation of the ports, as `<port>.<method>`. */
export type Operation =
  | `definitions.${keyof DefinitionStore}`
  | `runs.${keyof RunStore}`
  | `tasks.${keyof TaskStore}`
  | `joins.${keyof JoinStore}`
  | `completion.${keyof CompletionStore}`
  | `maps.${keyof MapStore}`
  | `due.${keyof DueStore}`;

const READS = new Set<string>([
  'definitions.getDefinition',
  'definitions.getWorkflow',
  'definitions.listWorkflows',
  'definitions.listVersions',
  'runs.getRun',
  'runs.getRunInput',
  'runs.listRuns',
  'runs.phaseArchives',
  'tasks.getTask',
  'tasks.readProgress',
  'tasks.readScope',
  'tasks.readTasks',
  'tasks.isStopRequested',
  'tasks.archivedAttempts',
  'maps.listItems',
  'maps.readCounted',
  'due.due',
  'due.readMarks',
]);

export interface FailureRule {
  /** How many calls fail (default: every one). */
  times?: number;
  /** Only the calls whose parameters (the first argument) this picks fail, and count. */
  when?: (params: any) => boolean;
  /** The write is applied, then the call throws: its answer was lost. */
  afterApply?: boolean;
  /** What is thrown (default: storeUnavailable()). */
  error?: () => unknown;
}

/** What the adapter throws when the table cannot answer: a retryable EngineError. */
export function storeUnavailable(): EngineError {
  return new EngineError('STORE_UNAVAILABLE', 'the table is unavailable (injected)', { retryable: true });
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public ms: number = Date.parse('2030-01-01T00:00:00.000Z')) {}
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

type OutcomeSets = Record<FinalTaskStatus, Set<string>>;
type Identity = { runId: string; taskId: string; workflowId: string; version: string; phase: number };

/** Failed tasks named on the run per completion group (the adapter's NAMED_PER_GROUP). */
const NAMED_PER_GROUP = 3;
const DEPENDENCY_LIST = { SUCCEEDED: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped', CANCELLED: 'cancelled' } as const;

const clone = <T>(value: T): T => structuredClone(value);
const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const isIn = (statuses: readonly string[], status: string | undefined): boolean => status !== undefined && statuses.includes(status);

/** JSON as the adapter stores it (undefined becomes null), refused over its limit. */
function storedJson(value: unknown, what: string, limit: number): unknown {
  const json = JSON.stringify(value ?? null);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > limit) throw new PayloadTooLargeError(what, bytes, limit);
  return JSON.parse(json) as unknown;
}

function outcomeLists(sets: OutcomeSets): Record<FinalTaskStatus, string[]> {
  return { SUCCEEDED: sorted(sets.SUCCEEDED), FAILED: sorted(sets.FAILED), SKIPPED: sorted(sets.SKIPPED), CANCELLED: sorted(sets.CANCELLED) };
}

function omit<T extends object>(record: T, ...names: Array<keyof T>): void {
  for (const name of names) delete record[name];
}

export class MemoryStore implements EngineStore {
  readonly now: () => Date;
  /** Tasks per page of readTasks, refs per page of the due index. */
  readonly pageSize: number;
  /** Every call to the ports, in order, with its first argument. */
  readonly calls: Array<{ operation: Operation; params: unknown }> = [];

  readonly definitions: DefinitionStore;
  readonly runs: RunStore;
  readonly tasks: TaskStore;
  readonly joins: JoinStore;
  readonly completion: CompletionStore;
  readonly maps: MapStore;
  readonly due: DueStore;
  /** The sweeper's marks by partition (DueStore.readMarks). */
  readonly sweepMarks: Record<string, number> = {};

  // The items, by what keys them in the table.
  readonly definitionItems = new Map<string, StoredDefinition>();
  readonly workflowItems = new Map<string, WorkflowSummary>();
  readonly runItems = new Map<string, RunRecord>();
  readonly inputItems = new Map<string, unknown>();
  readonly idempotencyItems = new Map<string, { runId: string; requestHash: string; workflowId: string; version: string }>();
  readonly phaseItems = new Map<string, Map<number, PhaseSummary>>();
  readonly taskItems = new Map<string, Map<string, TaskRecord>>();
  readonly attemptItems = new Map<string, Map<string, { taskId: string; attempts: AttemptRecord[] }>>();
  /** By `runId/phase/taskId/group`. */
  readonly joinItems = new Map<string, OutcomeSets>();
  /** By `runId/phase/group`. */
  readonly doneItems = new Map<string, { finished: Set<string>; failed: Set<string> }>();

  private readonly rules: Array<FailureRule & { operation: Operation }> = [];
  private changes: StoreChange[] = [];
  private sequence = 0;

  constructor(options: { now?: () => Date; pageSize?: number } = {}) {
    this.now = options.now ?? (() => new Date());
    this.pageSize = options.pageSize ?? 100;
    this.definitions = this.port('definitions', definitionPort(this));
    this.runs = this.port('runs', runPort(this));
    this.tasks = this.port('tasks', taskPort(this));
    this.joins = this.port('joins', joinPort(this));
    this.completion = this.port('completion', completionPort(this));
    this.maps = this.port('maps', mapPort(this));
    this.due = {
      partitions: () => DUE_PARTITIONS,
      due: (partition, until, after = Number.NEGATIVE_INFINITY) =>
        this.duePages('due.due', { partition, until, after }, (ref) => duePartitionOf(ref) === partition && ref.dueAt > after && ref.dueAt <= until),
      readMarks: () => this.call('due.readMarks', undefined, () => Promise.resolve({ ...this.sweepMarks })),
      saveMark: (partition, mark) =>
        this.call('due.saveMark', { partition, mark }, () => {
          if ((this.sweepMarks[partition] ?? Number.NEGATIVE_INFINITY) < mark) this.sweepMarks[partition] = mark;
          return Promise.resolve();
        }),
    };
  }

  // ---- test hooks -------------------------------------------------------------------------------

  /** Makes `operation` throw, `times` times (or always), for the calls `when` picks. */
  fail(operation: Operation, rule: FailureRule = {}): void {
    this.rules.push({ operation, ...rule });
  }

  /** Forgets every failure rule. */
  heal(): void {
    this.rules.length = 0;
  }

  /** The calls to operations that may change something. */
  writes(): Array<{ operation: Operation; params: unknown }> {
    return this.calls.filter((call) => !READS.has(call.operation));
  }

  task(runId: string, taskId: string): TaskRecord | undefined {
    const task = this.taskItems.get(runId)?.get(taskId);
    return task === undefined ? undefined : clone(task);
  }

  run(runId: string): RunRecord | undefined {
    const run = this.runItems.get(runId);
    return run === undefined ? undefined : clone(run);
  }

  /** Every task item of a run, by id. */
  tasksOf(runId: string): TaskRecord[] {
    return [...(this.taskItems.get(runId)?.values() ?? [])].map(clone).sort((a, b) => byString(a.taskId, b.taskId));
  }

  joinGroup(runId: string, phase: number, taskId: string, group: string): Record<FinalTaskStatus, string[]> | undefined {
    const sets = this.joinItems.get(`${runId}/${phase}/${taskId}/${group}`);
    return sets === undefined ? undefined : outcomeLists(sets);
  }

  doneGroup(runId: string, phase: number, group: string): { finished: string[]; failed: string[] } | undefined {
    const item = this.doneItems.get(`${runId}/${phase}/${group}`);
    return item === undefined ? undefined : { finished: sorted(item.finished), failed: sorted(item.failed) };
  }

  /** Everything in the due index, soonest first. */
  dueRefs(): DueRef[] {
    return this.dueIndex(() => true);
  }

  /** Sets a task's state directly (an undefined value removes the field); nothing is streamed. */
  patchTask(runId: string, taskId: string, patch: Partial<TaskRecord>): TaskRecord {
    const task = this.taskItems.get(runId)?.get(taskId);
    if (task === undefined) throw new Error(`no task ${taskId} in run ${runId}`);
    for (const [name, value] of Object.entries(patch) as Array<[keyof TaskRecord, unknown]>) {
      if (value === undefined) delete task[name];
      else (task as unknown as Record<string, unknown>)[name] = clone(value);
    }
    return clone(task);
  }

  /** The changes made since the last drain, as a stream shows them (old and new images). */
  drainChanges(): StoreChange[] {
    const changes = this.changes;
    this.changes = [];
    return changes;
  }

  // ---- for the ports ----------------------------------------------------------------------------

  tasksIn(runId: string): Map<string, TaskRecord> {
    let tasks = this.taskItems.get(runId);
    if (tasks === undefined) this.taskItems.set(runId, (tasks = new Map()));
    return tasks;
  }

  // A write that leaves an item as it was shows nothing on a stream (as DynamoDB Streams).
  putRun(run: RunRecord, old: RunRecord | undefined): void {
    this.runItems.set(run.runId, run);
    if (!isDeepStrictEqual(run, old)) this.changes.push({ kind: 'run', key: this.nextKey(), old: old === undefined ? undefined : clone(old), new: clone(run) });
  }

  putTask(task: TaskRecord, old: TaskRecord | undefined): void {
    this.tasksIn(task.runId).set(task.taskId, task);
    if (!isDeepStrictEqual(task, old)) this.changes.push({ kind: 'task', key: this.nextKey(), old: old === undefined ? undefined : clone(old), new: clone(task) });
  }

  joinSets(runId: string, phase: number, taskId: string, group: string, add: (sets: OutcomeSets) => void): OutcomeSets {
    const key = `${runId}/${phase}/${taskId}/${group}`;
    const sets = this.joinItems.get(key) ?? { SUCCEEDED: new Set(), FAILED: new Set(), SKIPPED: new Set(), CANCELLED: new Set() };
    this.joinItems.set(key, sets);
    const before = outcomeLists(sets);
    add(sets);
    if (!isDeepStrictEqual(before, outcomeLists(sets))) this.changes.push({ kind: 'join', key: this.nextKey(), runId, phase, taskId, group, recorded: Object.values(outcomeLists(sets)).flat() });
    return sets;
  }

  doneSets(runId: string, phase: number, group: string, add: (item: { finished: Set<string>; failed: Set<string> }) => void): { finished: string[]; failed: string[] } {
    const key = `${runId}/${phase}/${group}`;
    const item = this.doneItems.get(key) ?? { finished: new Set<string>(), failed: new Set<string>() };
    this.doneItems.set(key, item);
    const before = [item.finished.size, item.failed.size];
    add(item);
    if (before[0] !== item.finished.size || before[1] !== item.failed.size) this.changes.push({ kind: 'done', key: this.nextKey(), runId, phase, group, finished: sorted(item.finished), failed: sorted(item.failed) });
    return { finished: sorted(item.finished), failed: sorted(item.failed) };
  }

  /** Each method of a port: recorded, failing by the rules, its answer a copy. */
  private port<T extends object>(name: string, methods: T): T {
    const wrapped: Record<string, unknown> = {};
    for (const [method, implementation] of Object.entries(methods) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
      wrapped[method] = (...args: unknown[]) => this.call(`${name}.${method}` as Operation, args[0], () => implementation(...args));
    }
    return wrapped as T;
  }

  private async call<T>(operation: Operation, params: unknown, apply: () => Promise<T>): Promise<T> {
    this.calls.push({ operation, params: params === undefined ? undefined : clone(params) });
    // A store answers later: concurrent calls interleave between operations, as they would.
    await Promise.resolve();
    const rule = this.rules.find((candidate) => candidate.operation === operation && (candidate.times ?? 1) > 0 && (candidate.when?.(params) ?? true));
    if (rule?.times !== undefined) rule.times--;
    if (rule !== undefined && rule.afterApply !== true) throw (rule.error ?? storeUnavailable)();
    const result = await apply();
    if (rule !== undefined) throw (rule.error ?? storeUnavailable)();
    return result === undefined ? result : clone(result);
  }

  private async *duePages(operation: Operation, params: unknown, isDue: (ref: DueRef) => boolean): AsyncGenerator<DueRef[]> {
    const refs = await this.call(operation, params, () => Promise.resolve(this.dueIndex(isDue)));
    for (let i = 0; i < refs.length; i += this.pageSize) yield refs.slice(i, i + this.pageSize);
  }

  /** The sparse index of due times: every run and task item with a dueAt. */
  private dueIndex(isDue: (ref: DueRef) => boolean): DueRef[] {
    const refs: DueRef[] = [];
    for (const run of this.runItems.values()) if (run.dueAt !== undefined) refs.push({ kind: 'run', runId: run.runId, dueAt: run.dueAt });
    for (const tasks of this.taskItems.values()) {
      for (const task of tasks.values()) if (task.dueAt !== undefined) refs.push({ kind: 'task', runId: task.runId, taskId: task.taskId, dueAt: task.dueAt });
    }
    return refs.filter(isDue).sort((a, b) => a.dueAt - b.dueAt);
  }

  private nextKey(): string {
    return String(++this.sequence).padStart(8, '0');
  }
}

// ---- the due index's partitions -----------------------------------------------------------------

/** Two partitions, so that the sweeper's marks are kept apart as the adapter's 32 are. */
const DUE_PARTITIONS: readonly string[] = ['P0', 'P1'];

/** A stable partition per item: runs in P0, a task by its id's length (even: P0, odd: P1). */
export function duePartitionOf(ref: DueRef): string {
  return ref.kind === 'run' || ref.taskId.length % 2 === 0 ? 'P0' : 'P1';
}

// ---- conditional writes -------------------------------------------------------------------------

/** A task's first version, for a write that creates its item (the adapter's if_not_exists defaults). */
function newTask(store: MemoryStore, identity: Identity): TaskRecord {
  return {
    runId: identity.runId,
    taskId: identity.taskId,
    workflowId: identity.workflowId,
    version: identity.version,
    phase: identity.phase,
    status: 'PENDING',
    attempt: 0,
    attemptBase: 0,
    attempts: [],
    dependencies: { succeeded: [], failed: [], skipped: [], cancelled: [] },
    joinGroups: {},
    cancelRequested: false,
    updatedAt: store.now().toISOString(),
  };
}

interface TaskWrite {
  /** Whether the condition holds for the item as it is (undefined when it has none yet). */
  holds: (task: TaskRecord | undefined) => boolean;
  change: (task: TaskRecord) => void;
  /** Stored on the item; a failed condition that finds it there counts as applied. */
  opToken?: string;
  /** The item's identity, for a write that may create it. */
  creates?: Identity;
  /** Whether the write sets updatedAt (all but deferDue do). */
  touch?: boolean;
}

/** One conditional write of a task item: applied, or not (with the item as it now is). */
function writeTask(store: MemoryStore, runId: string, taskId: string, write: TaskWrite): { applied: boolean; task: TaskRecord | undefined } {
  const current = store.tasksIn(runId).get(taskId);
  if (!write.holds(current)) {
    // Our own earlier try was applied (its answer was lost): the item is as our write left it.
    return { applied: write.opToken !== undefined && current?.lastChange === write.opToken, task: current };
  }
  const task = current ?? (write.creates === undefined ? undefined : newTask(store, write.creates));
  if (task === undefined) throw new Error('a write whose condition holds for a missing item must create it');
  const old = current === undefined ? undefined : clone(current);
  write.change(task);
  if (write.opToken !== undefined) task.lastChange = write.opToken;
  if (write.touch !== false) task.updatedAt = store.now().toISOString();
  store.putTask(task, old);
  return { applied: true, task };
}

function outcome(result: { applied: boolean; task: TaskRecord | undefined }): Outcome {
  return result.applied ? { outcome: 'ok' } : { outcome: 'stale', current: result.task };
}

/** `status IN (from) AND attempt = :attempt`. */
function at(from: readonly TaskStatus[], attempt: number): (task: TaskRecord | undefined) => boolean {
  return (task) => task !== undefined && isIn(from, task.status) && task.attempt === attempt;
}

/** The fence of a write that ends an attempt (the adapter's `fence`). */
function fenced(by: Fence, attempt: number, from: readonly TaskStatus[]): (task: TaskRecord | undefined) => boolean {
  return (task) => {
    if (task === undefined || task.attempt !== attempt) return false;
    const expiredBy = (now: number) => task.leaseExpiresAt !== undefined && task.leaseExpiresAt <= now;
    switch (by.kind) {
      case 'lease':
        return isIn(from, task.status) && task.leaseToken === by.leaseToken;
      case 'expired':
        // The sweeper's fence: only if the lease has run out by then (a heartbeat may have won).
        return isIn(from, task.status) && expiredBy(by.now);
      case 'dead-letter':
        // Never claimed, a wait's wake-up, or a lease that ran out: never an attempt a worker holds.
        return isIn(TASK_MOVES.deadLetter.from.filter((status) => status !== 'RUNNING'), task.status) || (task.status === 'RUNNING' && expiredBy(by.now));

      case 'callback':
        // Whatever the move, an answer ends the attempt whose token it quotes, begun or waiting.
        return isIn(TASK_MOVES.answerCallback.from, task.status) && (task.callbackTokens ?? []).includes(by.tokenHash);
      case 'callback-expired':
        return task.status === TASK_MOVES.awaitCallback.to && task.callbackAttempt === attempt && expiredBy(by.now);
    }
  };
}

/** One conditional write of a run item (the adapter's run writes carry a fresh token per call: nothing to recognize). */
function writeRun(store: MemoryStore, runId: string, holds: (run: RunRecord) => boolean, change: (run: RunRecord) => void): { applied: boolean; run: RunRecord | undefined } {
  const run = store.runItems.get(runId);
  if (run === undefined || !holds(run)) return { applied: false, run };
  const old = clone(run);
  change(run);
  store.putRun(run, old);
  return { applied: true, run };
}

const runOutcome = (result: { applied: boolean }): Outcome => (result.applied ? { outcome: 'ok' } : { outcome: 'stale' });

// ---- definitions --------------------------------------------------------------------------------

function definitionPort(store: MemoryStore): DefinitionStore {
  const pointToLatest = (definition: WorkflowDefinition, version: string, now: string) => {
    const existing = store.workflowItems.get(definition.id);
    store.workflowItems.set(definition.id, {
      workflowId: definition.id,
      latestVersion: version,
      ...(definition.description === undefined ? {} : { description: definition.description }),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    });
  };
  return {
    saveDefinition: async (definition, options = {}) => {
      const version = definitionVersion(definition);
      const key = `${definition.id}@${version}`;
      const now = store.now().toISOString();
      const created = !store.definitionItems.has(key);
      if (created) store.definitionItems.set(key, { workflowId: definition.id, version, definition: JSON.parse(JSON.stringify(definition)) as WorkflowDefinition, createdAt: now });
      // Same content registered again becomes the latest again, unless the caller asks otherwise.
      if (created || (options.makeLatest ?? 'always') === 'always') pointToLatest(definition, version, now);
      return { version, created };
    },
    getDefinition: async (workflowId, version) => store.definitionItems.get(`${workflowId}@${version}`),
    getWorkflow: async (workflowId) => store.workflowItems.get(workflowId),
    listWorkflows: async () => [...store.workflowItems.values()].sort((a, b) => byString(a.workflowId, b.workflowId)),
    listVersions: async (workflowId) =>
      [...store.definitionItems.values()]
        .filter((stored) => stored.workflowId === workflowId)
        .map((stored) => ({ version: stored.version, createdAt: stored.createdAt, taskCount: stored.definition.tasks.length }))
        .sort((a, b) => byString(a.createdAt, b.createdAt)),
  };
}

// ---- runs ---------------------------------------------------------------------------------------

function runPort(store: MemoryStore): RunStore {
  const sortKey = (run: RunRecord) => `${run.createdAt}#${run.runId}`;
  return {
    createRun: async (params) => {
      const input = storedJson(params.input, 'run input', LIMITS.maxInputBytes);
      const now = store.now().toISOString();
      let runId = params.runId;
      let definition = params.definition;
      if (params.idempotency !== undefined) {
        const { key, requestFingerprint } = params.idempotency;
        const existing = store.idempotencyItems.get(key);
        if (existing === undefined) {
          store.idempotencyItems.set(key, { runId, requestHash: requestFingerprint, workflowId: definition.workflowId, version: definition.version });
        } else {
          if (existing.requestHash !== requestFingerprint) throw new ConflictError(`Idempotency-Key "${key}" was already used for a different request`, { idempotencyKey: key });
          runId = existing.runId;
          if (existing.version !== definition.version) {
            const pinned = store.definitionItems.get(`${existing.workflowId}@${existing.version}`);
            if (pinned === undefined) throw new Error(`definition ${existing.workflowId}@${existing.version} is missing`);
            definition = pinned;
          }
        }
      }
      store.inputItems.set(runId, input);
      if (store.runItems.has(runId)) return { runId, created: false };
      store.putRun(
        {
          runId,
          workflowId: definition.workflowId,
          version: definition.version,
          status: 'RUNNING',
          phase: 0,
          createdAt: now,
          startedAt: now,
          updatedAt: now,
          taskCount: definition.definition.tasks.length,
          groupCount: params.groupCount,
          doneGroups: [],
          failedCount: 0,
          failedTasks: [],
          ...(params.deadlineAt === undefined ? {} : { deadlineAt: params.deadlineAt }),
          ...(params.idempotency === undefined ? {} : { idempotencyKey: params.idempotency.key }),
          ...(params.trigger === undefined ? {} : { trigger: params.trigger }),
          ...(params.parent === undefined ? {} : { parent: params.parent }),
          dueAt: params.dueAt,
        },
        undefined,
      );
      return { runId, created: true };
    },

    getRun: async (runId) => store.runItems.get(runId),
    getRunInput: async (runId) => store.inputItems.get(runId) ?? null,
    describeRunInput: async (runId) => ({ input: store.inputItems.get(runId) ?? null }),

    listRuns: async (query) => {
      const limit = query.limit ?? 50;
      const after = query.nextToken === undefined ? undefined : Buffer.from(query.nextToken, 'base64url').toString('utf8');
      if (after !== undefined && !/^\d{4}-\d{2}-\d{2}T[^#]+#.+$/.test(after)) {
        throw new ValidationError([{ path: 'nextToken', message: 'nextToken is not a token this API returned' }]);
      }
      // Newest first; RESUMING is shown (and filtered) as RUNNING.
      const matching = [...store.runItems.values()]
        // Without a workflowId, every workflow's runs (the DynamoDB store reads its by-time index).
        .filter((run) => (query.workflowId === undefined || run.workflowId === query.workflowId) && (query.status === undefined || visibleRunStatus(run.status) === query.status))
        .sort((a, b) => byString(sortKey(b), sortKey(a)))
        .filter((run) => after === undefined || sortKey(run) < after);
      const page = matching.slice(0, limit);
      const runs = page.map((run) => ({
        runId: run.runId,
        workflowId: run.workflowId,
        version: run.version,
        createdAt: run.createdAt,
        ...(run.completedAt === undefined ? {} : { completedAt: run.completedAt }),
        taskCount: run.taskCount,
        status: visibleRunStatus(run.status),
      }));
      const last = page.at(-1);
      return matching.length > limit && last !== undefined ? { runs, nextToken: Buffer.from(sortKey(last)).toString('base64url') } : { runs };
    },

    requestCancel: async (params) => {
      const now = store.now().toISOString();
      const result = writeRun(
        store,
        params.runId,
        (run) => isIn(RUN_MOVES.requestCancel.from, run.status),
        (run) => Object.assign(run, { status: RUN_MOVES.requestCancel.to, updatedAt: now, cancel: { requestedAt: now, reason: params.reason, outcome: params.outcome } }),
      );
      if (result.run !== undefined && (result.applied || result.run.status === 'CANCELLING')) return { outcome: 'cancelling', run: result.run };
      return { outcome: 'refused', run: result.run };
    },

    markGroupDone: async (params) => {
      const { run } = writeRun(
        store,
        params.runId,
        // Once per group and phase: a replayed record, or two schedulers, count a group's failures once.
        (current) => current.phase === params.phase && !current.doneGroups.includes(params.group),
        (current) =>
          Object.assign(current, {
            updatedAt: store.now().toISOString(),
            failedTasks: [...current.failedTasks, ...params.failed.slice(0, NAMED_PER_GROUP)],
            doneGroups: sorted([...current.doneGroups, params.group]),
            failedCount: current.failedCount + params.failed.length,
          }),
      );
      return run !== undefined && run.phase === params.phase ? run : undefined;
    },

    completeWithOnlyGroup: async (params) => {
      const now = store.now().toISOString();
      const { applied, run } = writeRun(
        store,
        params.runId,
        (current) => current.status === 'RUNNING' && current.phase === params.phase && current.failedCount === 0 && !current.doneGroups.includes(params.group),
        (current) => Object.assign(current, { status: 'COMPLETED', completedAt: now, updatedAt: now, doneGroups: sorted([...current.doneGroups, params.group]) }),
      );
      return applied && run !== undefined ? clone(run) : undefined;
    },

    finishRun: async (params) => {
      const now = store.now().toISOString();
      return runOutcome(
        writeRun(
          store,
          params.runId,
          (run) => run.status === params.from && run.phase === params.phase,
          (run) => {
            Object.assign(run, { status: params.status, completedAt: now, updatedAt: now }, params.error === undefined ? {} : { error: params.error });
          },
        ),
      );
    },

    beginCompensation: async (params) =>
      runOutcome(
        writeRun(
          store,
          params.runId,
          (run) => run.status === params.from && run.phase === params.phase,
          (run) =>
            Object.assign(run, {
              status: RUN_MOVES.compensate.to,
              compensation: { outcome: params.outcome, ...(params.error === undefined ? {} : { error: params.error }), tasks: [...params.tasks] },
              updatedAt: store.now().toISOString(),
            }),
        ),
      ),

    rescheduleRun: async (params) =>
      runOutcome(
        writeRun(
          store,
          params.runId,
          (run) => run.dueAt === params.previous,
          (run) => {
            if (params.next === undefined) delete run.dueAt;
            else run.dueAt = params.next;
          },
        ),
      ),

    beginResume: async (params) => {
      const now = store.now();
      const result = writeRun(
        store,
        params.runId,
        // A resume whose owner went quiet past its lease may be taken over.
        (run) => isIn(RUN_MOVES.resume.from, run.status) || (run.status === RUN_MOVES.resume.to && run.resume !== undefined && run.resume.expiresAt < now.getTime()),
        (run) =>
          Object.assign(run, {
            status: RUN_MOVES.resume.to,
            // How the run had ended is kept (a take-over keeps the first one's).
            resume: { owner: params.owner, expiresAt: params.expiresAt, from: run.resume?.from ?? run.status },
            updatedAt: now.toISOString(),
            dueAt: params.expiresAt,
          }),
      );
      return result.applied && result.run !== undefined ? { outcome: 'resuming', run: result.run } : { outcome: 'refused', run: result.run };
    },

    saveResumeProgress: async (params) =>
      runOutcome(
        writeRun(
          store,
          params.runId,
          (run) => run.status === 'RESUMING' && run.resume?.owner === params.owner,
          (run) => {
            if (run.resume !== undefined) run.resume.expiresAt = params.expiresAt;
            run.dueAt = params.expiresAt;
          },
        ),
      ),

    finishResume: async (params) => {
      const now = store.now().toISOString();
      return runOutcome(
        writeRun(
          store,
          params.runId,
          (run) => run.status === RUN_MOVES.resumed.from[0] && run.resume?.owner === params.owner,
          (run) => {
            Object.assign(run, {
              status: RUN_MOVES.resumed.to,
              phase: params.phase,
              groupCount: params.groupCount,
              failedCount: 0,
              failedTasks: [],
              startedAt: now,
              resumedAt: now,
              updatedAt: now,
              dueAt: params.dueAt,
              doneGroups: sorted(params.doneGroups),
            });
            if (params.deadlineAt === undefined) delete run.deadlineAt;
            else run.deadlineAt = params.deadlineAt;
            omit(run, 'completedAt', 'error', 'cancel', 'compensation', 'resume');
          },
        ),
      );
    },

    archivePhase: async (runId, summary) => {
      const phases = store.phaseItems.get(runId) ?? new Map<number, PhaseSummary>();
      phases.set(summary.phase, clone(summary));
      store.phaseItems.set(runId, phases);
    },
    phaseArchives: async (runId) => [...(store.phaseItems.get(runId)?.values() ?? [])].sort((a, b) => a.phase - b.phase),
  };
}

// ---- tasks --------------------------------------------------------------------------------------

function taskPort(store: MemoryStore): TaskStore {
  const get = (runId: string, taskId: string) => store.tasksIn(runId).get(taskId);
  return {
    getTask: async (runId, taskId) => get(runId, taskId),

    readProgress: async (runId, query) => {
      const progress: Progress = { tasks: new Map(), joins: new Map(), groups: new Map() };
      // A fan-in's complete join groups, for the groups asked about.
      const groups = new Set(query.joins.map((join) => join.group));
      for (const taskId of new Set(query.tasks)) {
        const task = get(runId, taskId);
        if (task === undefined) continue;
        progress.tasks.set(taskId, {
          status: task.status,
          phase: task.phase,
          dependencies: task.dependencies,
          joinGroups: Object.fromEntries(Object.entries(task.joinGroups).filter(([group]) => groups.has(group))),
          ...(task.lastChange === undefined ? {} : { lastChange: task.lastChange }),
        });
      }
      for (const join of query.joins) {
        const sets = store.joinGroup(runId, join.phase, join.taskId, join.group);
        if (sets !== undefined) progress.joins.set(`${join.phase}/${join.taskId}/${join.group}`, new Set(Object.values(sets).flat()));
      }
      for (const group of query.groups) {
        const done = store.doneGroup(runId, group.phase, group.group);
        if (done !== undefined) progress.groups.set(`${group.phase}/${group.group}`, new Set(done.finished));
      }
      return progress;
    },

    readScope: async (runId, taskIds, withInput) => {
      const tasks: Record<string, { status: TaskStatus; output?: unknown }> = {};
      for (const taskId of taskIds) {
        const task = get(runId, taskId);
        if (task !== undefined) tasks[taskId] = { status: task.status, ...(task.output === undefined ? {} : { output: task.output }) };
      }
      return withInput ? { input: store.inputItems.get(runId) ?? null, tasks } : { tasks };
    },

    readTasks: async (runId, cursor) => {
      // A map's items are kept apart from the run's tasks (the adapter's ITEM# keys).
      const rest = [...store.tasksIn(runId).values()].filter((task) => !isItemTaskId(task.taskId)).sort((a, b) => byString(a.taskId, b.taskId)).filter((task) => cursor === undefined || task.taskId > cursor);
      const page = rest.slice(0, store.pageSize);
      const last = page.at(-1);
      return rest.length > page.length && last !== undefined ? { tasks: page, cursor: last.taskId } : { tasks: page };
    },

    advance: async (params) => {
      const { next } = params;
      const now = store.now().toISOString();
      const result = writeTask(store, params.runId, params.taskId, {
        // Only a task of this phase moves; a decision moves only a PENDING task (every move of a
        // decision starts from PENDING: queue, startWait, claimReady, skip).
        holds: (task) => task === undefined || (task.phase === params.phase && (next === undefined || task.status === TASK_MOVES.queue.from[0])),
        opToken: params.opToken,
        creates: params,
        change: (task) => {
          Object.assign(task, { runId: params.runId, taskId: params.taskId, workflowId: params.workflowId, version: params.version });
          if (params.outcome !== undefined) {
            const list = DEPENDENCY_LIST[params.outcome.status];
            task.dependencies[list] = sorted([...task.dependencies[list], params.outcome.dependencyId]);
          }
          if (next === undefined) return;
          if (next.kind === 'skip') {
            Object.assign(task, { status: TASK_MOVES.skip.to, reason: next.reason, completedAt: now });
            return;
          }
          const to = next.kind === 'queue' ? TASK_MOVES.queue.to : next.kind === 'wait' ? TASK_MOVES.startWait.to : TASK_MOVES.claimReady.to;
          Object.assign(task, { status: to, attempt: task.attempt + 1, queuedAt: now });
          if (next.kind === 'queue') task.dueAt = next.dueAt;
          if (next.kind === 'wait') Object.assign(task, { startedAt: now, wakeAt: next.wakeAt, dueAt: next.dueAt });
          // A task claimed at once has no delivery to wait for: the sweeper looks at it when its lease runs out.
          if (next.kind === 'claim') Object.assign(task, { startedAt: now, leaseToken: next.leaseToken, leaseExpiresAt: next.leaseExpiresAt, dueAt: next.leaseExpiresAt });
        },
      });
      return result.applied && result.task !== undefined ? { outcome: 'ok', task: result.task } : { outcome: 'conflict', current: result.task };
    },

    claim: async (params) => {
      const result = writeTask(store, params.runId, params.taskId, {
        holds: at(TASK_MOVES.claim.from, params.attempt),
        opToken: params.opToken,
        change: (task) => {
          Object.assign(task, { status: TASK_MOVES.claim.to, leaseToken: params.leaseToken, leaseExpiresAt: params.leaseExpiresAt, startedAt: store.now().toISOString() });
          if (params.callbackTokenHash !== undefined) task.callbackTokens = sorted([...(task.callbackTokens ?? []), params.callbackTokenHash]);
          if (params.childRunId !== undefined) task.childRunId = params.childRunId;
        },
      });
      return result.applied && result.task !== undefined ? { outcome: 'claimed', task: result.task } : { outcome: 'not-claimable', current: result.task };
    },

    finish: async (params) => {
      const { result } = params;
      const move = result.status === 'SUCCEEDED' ? TASK_MOVES.succeed : result.status === 'CANCELLED' ? TASK_MOVES.cancelRunning : TASK_MOVES.fail;
      // An output over its limit is refused before anything is written.
      const output = result.status === 'SUCCEEDED' ? storedJson(result.output, 'task output', LIMITS.maxOutputBytes) : undefined;
      return outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: fenced(params.fence, params.attempt, move.from),
          opToken: params.opToken,
          change: (task) => {
            Object.assign(task, { status: result.status, completedAt: store.now().toISOString(), durationMs: params.record.durationMs, attempts: [...params.keptAttempts, params.record] });
            omit(task, 'leaseExpiresAt', 'wakeAt');
            if (result.status === 'SUCCEEDED') {
              task.output = output;
              // The last attempt's error stays in the attempt list.
              delete task.error;
            } else task.error = result.error;
          },
        }),
      );
    },

    retry: async (params) => {
      const move = params.next.status === 'QUEUED' ? TASK_MOVES.retry : TASK_MOVES.park;
      const fence = fenced(params.fence, params.attempt, move.from);
      return outcome(
        writeTask(store, params.runId, params.taskId, {
          // No retry once the run is being cancelled: the caller records CANCELLED instead.
          holds: (task) => fence(task) && task?.cancelRequested !== true,
          opToken: params.opToken,
          change: (task) => {
            Object.assign(task, {
              status: move.to,
              attempt: params.attempt + 1,
              error: params.error,
              queuedAt: store.now().toISOString(),
              attempts: [...params.keptAttempts, params.record],
              dueAt: params.next.dueAt,
            });
            omit(task, 'leaseToken', 'leaseExpiresAt');
            if (params.next.status === 'WAITING') task.wakeAt = params.next.dueAt;
            else delete task.wakeAt;
          },
        }),
      );
    },

    endWait: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: at(TASK_MOVES.endWait.from, params.attempt),
          opToken: params.opToken,
          change: (task) => {
            Object.assign(task, { status: TASK_MOVES.endWait.to, output: null, completedAt: store.now().toISOString(), durationMs: params.record.durationMs, attempts: [...task.attempts, params.record] });
            omit(task, 'wakeAt');
          },
        }),
      ),

    awaitCallback: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: (task) => fenced({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, TASK_MOVES.awaitCallback.from)(task) && task?.cancelRequested !== true,
          opToken: params.opToken,
          change: (task) => {
            Object.assign(task, {
              status: TASK_MOVES.awaitCallback.to,
              callbackAttempt: params.attempt,
              wakeAt: params.waitEndsAt,
              leaseExpiresAt: params.deadline,
              dueAt: Math.min(params.deadline, params.checkAt ?? params.deadline),
            });
            omit(task, 'leaseToken');
          },
        }),
      ),

    heartbeatCallback: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: (task) =>
            task !== undefined &&
            task.status === TASK_MOVES.awaitCallback.to &&
            task.attempt === params.attempt &&
            task.callbackAttempt === params.attempt &&
            (task.callbackTokens ?? []).includes(params.tokenHash) &&
            (task.wakeAt ?? 0) >= params.deadline,
          change: (task) => Object.assign(task, { leaseExpiresAt: params.deadline, dueAt: Math.max(params.deadline, store.now().getTime()) }),
        }),
      ),

    release: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: at(TASK_MOVES.release.from, params.attempt),
          opToken: params.opToken,
          change: (task) => {
            Object.assign(task, { status: TASK_MOVES.release.to, dueAt: params.dueAt, queuedAt: store.now().toISOString() });
            delete task.wakeAt;
          },
        }),
      ),

    cancel: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: (task) => task === undefined || (task.phase === params.phase && isIn(TASK_MOVES.cancel.from, task.status)),
          opToken: params.opToken,
          creates: params,
          change: (task) => {
            Object.assign(task, { runId: params.runId, taskId: params.taskId, workflowId: params.workflowId, version: params.version });
            Object.assign(task, { status: TASK_MOVES.cancel.to, reason: params.reason, completedAt: store.now().toISOString() });
            omit(task, 'wakeAt');
          },
        }),
      ),

    requestStop: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: (task) => task?.status === 'RUNNING' && task.phase === params.phase,
          change: (task) => {
            task.cancelRequested = true;
          },
        }),
      ),

    deferDue: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: (task) => task !== undefined && task.status === params.status && task.attempt === params.attempt && task.dueAt === params.previous,
          touch: false,
          change: (task) => {
            task.dueAt = params.next;
          },
        }),
      ),

    extendLease: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: fenced({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, ['RUNNING']),
          change: (task) => {
            task.leaseExpiresAt = params.leaseExpiresAt;
          },
        }),
      ),

    saveCheckpoint: async (params) => {
      const checkpoint = storedJson(params.checkpoint, 'checkpoint', LIMITS.maxCheckpointBytes);
      return outcome(
        writeTask(store, params.runId, params.taskId, {
          holds: fenced({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, ['RUNNING']),
          change: (task) => {
            task.checkpoint = checkpoint;
          },
        }),
      );
    },

    isStopRequested: async (runId, taskId) => get(runId, taskId)?.cancelRequested === true,

    archiveAttempts: async (runId, taskId, attempts) => {
      const archive = store.attemptItems.get(runId) ?? new Map<string, { taskId: string; attempts: AttemptRecord[] }>();
      archive.set(`${taskId}#${String(attempts[0]?.attempt ?? 0).padStart(6, '0')}`, { taskId, attempts: clone([...attempts]) });
      store.attemptItems.set(runId, archive);
    },
    archivedAttempts: async (runId) => [...(store.attemptItems.get(runId) ?? new Map<string, { taskId: string; attempts: AttemptRecord[] }>()).entries()].sort(([a], [b]) => byString(a, b)).map(([, archived]) => archived),

    resetForPhase: async (params) =>
      outcome(
        writeTask(store, params.runId, params.taskId, {
          // Only from an earlier phase: done twice (a resume taken over), the second changes nothing.
          holds: (task) => task === undefined || (task.phase < params.phase && isIn(TASK_MOVES.reset.from, task.status)),
          creates: params,
          change: (task) => {
            Object.assign(task, {
              runId: params.runId,
              taskId: params.taskId,
              workflowId: params.workflowId,
              version: params.version,
              status: TASK_MOVES.reset.to,
              phase: params.phase,
              // Attempts made before this phase do not count against the retry policy.
              attemptBase: task.attempt,
              cancelRequested: false,
              dependencies: { succeeded: sorted(params.succeededDependencies), failed: [], skipped: [], cancelled: [] },
              joinGroups: { ...Object.fromEntries(Object.entries(task.joinGroups).filter(([group]) => !params.allJoinGroups.includes(group))), ...clone(params.joinGroups) },
            });
            omit(task, 'error', 'reason', 'completedAt', 'durationMs', 'leaseToken', 'leaseExpiresAt', 'dueAt', 'wakeAt', 'output');
            if (params.newIdempotencyKey) task.keyGeneration = params.phase;
          },
        }),
      ),
  };
}

// ---- joins and completion -------------------------------------------------------------------------

function joinPort(store: MemoryStore): JoinStore {
  return {
    recordInGroup: async (params) => outcomeLists(store.joinSets(params.runId, params.phase, params.taskId, params.group, (sets) => sets[params.status].add(params.dependencyId))),

    seedGroup: async (params) => {
      if (params.succeeded.length === 0) return;
      store.joinSets(params.runId, params.phase, params.taskId, params.group, (sets) => params.succeeded.forEach((id) => sets.SUCCEEDED.add(id)));
    },

    completeGroup: async (params) => {
      const result = writeTask(store, params.runId, params.taskId, {
        // The fan-in's own item may not exist yet: its outcomes are in its join groups.
        holds: (task) => task === undefined || task.phase === params.phase,
        creates: params,
        change: (task) => {
          Object.assign(task, { runId: params.runId, taskId: params.taskId, workflowId: params.workflowId, version: params.version });
          task.joinGroups = { ...task.joinGroups, [params.group]: { ...params.counts } };
        },
      });
      return result.applied ? result.task : undefined;
    },
  };
}

function completionPort(store: MemoryStore): CompletionStore {
  return {
    recordFinished: async (params) => {
      // DynamoDB refuses an empty set: the adapter's ADD of no task id would fail.
      if (params.taskIds.length === 0) throw new Error('recordFinished needs a task id (DynamoDB refuses an empty set)');
      return store.doneSets(params.runId, params.phase, params.group, (item) => {
        params.taskIds.forEach((id) => item.finished.add(id));
        params.failed.forEach((id) => item.failed.add(id));
      });
    },
    seedGroup: async (params) => {
      if (params.taskIds.length === 0) return;
      store.doneSets(params.runId, params.phase, params.group, (item) => params.taskIds.forEach((id) => item.finished.add(id)));
    },
  };
}

function mapPort(store: MemoryStore): MapStore {
  const chunks = new Map<string, { finished: Set<number>; failed: Set<number> }>();
  return {
    createItems: async (params) => {
      const tasks = store.tasksIn(params.runId);
      if (params.first) {
        const map = tasks.get(params.mapId);
        if (map === undefined || map.attempt !== params.attempt || map.phase !== params.phase || map.status !== 'RUNNING' || map.leaseToken !== params.leaseToken) {
          throw new ConflictError(`map task ${params.mapId}'s attempt ${params.attempt} is over; its items are not made`);
        }
        const old = clone(map);
        map.mapItems = params.total;
        map.mapItemsOf = itemIdPrefix(params);
        delete map.mapChunksDone;
        delete map.mapFailed;
        store.putTask(map, old);
      }
      params.items.forEach(({ index, value, next, kept }) => {
        const taskId = itemTaskId({ ...params, index });
        const task: TaskRecord = {
          ...newTask(store, { ...params, taskId }),
          item: storedJson(value, 'item', LIMITS.maxMapItemBytes),
          ...(next === undefined ? {} : { nextIndex: next }),
          ...(params.keyGeneration === undefined ? {} : { keyGeneration: params.keyGeneration }),
          ...(kept === undefined
            ? {}
            : {
                status: 'SUCCEEDED' as const,
                attempt: kept.attempt,
                ...(kept.outputRef === undefined ? { output: clone(kept.output ?? null) } : { outputRef: kept.outputRef }),
                reason: `kept: it succeeded in phase ${kept.phase}`,
              }),
        };
        tasks.set(taskId, task);
      });
    },
    listItems: async (map, page = {}) => {
      const prefix = itemIdPrefix(map);
      const all = [...store.tasksIn(map.runId).values()]
        .filter((task) => task.taskId.startsWith(prefix) && (page.cursor === undefined || task.taskId > page.cursor))
        .sort((a, b) => byString(a.taskId, b.taskId));
      const items = all.slice(0, page.limit ?? store.pageSize);
      const last = items.at(-1);
      return clone(all.length > items.length && last !== undefined ? { items, cursor: last.taskId } : { items });
    },
    readCounted: async (_runId, itemIds) =>
      new Set(
        itemIds.filter((itemId) => {
          const address = itemAddress(itemId);
          return address !== undefined && (chunks.get(`${itemIdPrefix(address)}${chunkOf(address.index)}`)?.finished.has(address.index) ?? false);
        }),
      ),
    recordFinished: async (params) => {
      const key = `${itemIdPrefix(params)}${params.chunk}`;
      const chunk = chunks.get(key) ?? { finished: new Set<number>(), failed: new Set<number>() };
      chunks.set(key, chunk);
      params.indexes.forEach((index) => chunk.finished.add(index));
      params.failed.forEach((index) => chunk.failed.add(index));
      return { finished: chunk.finished.size, failed: chunk.failed.size };
    },
    markChunkDone: async (params) => {
      const map = store.tasksIn(params.runId).get(params.mapId);
      if (map === undefined || map.attempt !== params.attempt || map.phase !== params.phase) return undefined;
      if (!(map.mapChunksDone ?? []).includes(String(params.chunk))) {
        const old = clone(map);
        map.mapChunksDone = [...(map.mapChunksDone ?? []), String(params.chunk)];
        map.mapFailed = (map.mapFailed ?? 0) + params.failed;
        store.putTask(map, old);
      }
      return clone(map);
    },
  };
}

// ---- the queue ----------------------------------------------------------------------------------

/** The TaskQueue double: keeps what is sent; `fail` makes the next sends throw (sending nothing). */
export class MemoryQueue implements TaskQueue {
  readonly sent: OutgoingMessage[] = [];
  private failing: { times: number; error: () => unknown } | undefined;

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    await Promise.resolve();
    if (this.failing !== undefined && this.failing.times > 0) {
      this.failing.times--;
      throw this.failing.error();
    }
    this.sent.push(...clone([...messages]));
  }

  fail(times = 1, error: () => unknown = () => new Error('the queue is unavailable (injected)')): void {
    this.failing = { times, error };
  }

  /** The messages sent so far, without their delays. */
  messages(): TaskMessage[] {
    return this.sent.map((outgoing) => outgoing.message);
  }

  /** Takes the messages sent so far: the next call returns only newer ones. */
  take(): OutgoingMessage[] {
    return this.sent.splice(0, this.sent.length);
  }
}

