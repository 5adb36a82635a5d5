// The scheduler: reacts to the changes of a run's items (the table's stream, in batches) and does
// the work they call for, each step a conditional, idempotent write:
// - a map's item ended             -> the next item starts; the map ends when its items have;
// - a task reached a final state  -> its dependents get its outcome and go on when decided (the
//                                    safety net of the worker's eager dispatch), and it is counted
//                                    in its run's completion group;
// - a completion group is complete -> marked done on the run, once; the last one ends the run
//                                    (COMPLETED, or FAILED / CANCELLED after its compensations);
// - a run was created               -> its roots are queued (the API did it at once; this completes it);
// - a run is being cancelled        -> its tasks are cancelled, or asked to stop while they run;
// - a run compensates               -> the compensations that wait for none are queued;
// - a run was resumed               -> the tasks ready in its new phase are queued.
// Work per change is O(out-degree of the changed task); only the one-off run events read the run.
import { ENGINE_METRICS } from '../config/metrics.js';
import { isFinalTaskStatus } from '../model/states.js';
import { compensatedTaskId } from './compensation.js';
import { COMPENSATION_GROUP, completionGroupOf, completionGroupSize } from './completion.js';
import { joinCounts, joinGroupOf, joinGroupSizes, usesJoinGroups } from './join.js';
import { decideTask } from './join-rules.js';
import { forEachLimited } from './concurrency.js';
import type { DefinitionSource, LoadedDefinition } from './definition-cache.js';
import { dependencyStatuses, dispatchRun, storedScope, throwFirstFailure, type Dispatcher, type ScopeSource } from './dispatch.js';
import { compensationGraph, taskGraph, type PhaseGraph } from './graph.js';
import { runServices, type RunKeeper } from './keeper.js';
import type { RunEnd } from './run-end.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import type { CompletionStore, JoinStore, MapStore, RunStore, TaskStore } from './ports.js';
import { isItemTaskId, itemTaskId, prefixAttempt } from './map-items.js';
import type { MapRuns } from './maps.js';
import type { FinalTaskStatus, RunRecord, TaskRecord } from './records.js';
import { DEFAULT_TIMINGS, type EngineTimings } from './timing.js';

/**
 * One changed item, as a stream record shows it. `key` identifies the record (its operation tokens
 * derive from it). Changes of completion and join groups only tell what was counted already.
 */
export type StoreChange =
  | { kind: 'run'; key: string; old: RunRecord | undefined; new: RunRecord | undefined }
  | { kind: 'task'; key: string; old: TaskRecord | undefined; new: TaskRecord | undefined }
  | { kind: 'done'; key: string; runId: string; phase: number; group: string; finished: readonly string[]; failed: readonly string[] }
  | { kind: 'join'; key: string; runId: string; phase: number; taskId: string; group: string; recorded: readonly string[] }
  /** A chunk of a map's items: those it counted (`itemIdPrefix` names the map's attempt). */
  | { kind: 'mapChunk'; key: string; runId: string; itemIdPrefix: string; chunk: number; size: number; counted: readonly number[]; failed: number };

export interface SchedulerDeps {
  runs: RunStore;
  tasks: TaskStore;
  maps: MapStore;
  joins: JoinStore;
  completion: CompletionStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  now?: () => Date;
  metrics?: EngineMetrics;
  timings?: EngineTimings;
}

/** Runs of one batch handled at once. */
const RUN_CONCURRENCY = 8;

/** What the records of a batch show (their latest images), and what was read of the rest. */
interface LookAhead {
  tasks: Map<string, Pick<TaskRecord, 'status' | 'phase' | 'dependencies' | 'joinGroups' | 'lastChange'>>;
  /** `phase/taskId` of the tasks some completion group counts. */
  counted: Set<string>;
  /** By `phase/taskId/group`: the dependencies a fan-in's join group holds. */
  joins: Map<string, ReadonlySet<string>>;
  /** The latest image of each completion group of the batch, by `phase/group`. */
  groups: Map<string, { runId: string; phase: number; group: string; finished: readonly string[]; failed: readonly string[] }>;
  run: RunRecord | undefined;
}

export class Scheduler {
  private readonly runs: RunStore;
  private readonly tasks: TaskStore;
  private readonly completion: CompletionStore;
  private readonly queue: TaskQueue;
  private readonly definitions: DefinitionSource;
  private readonly now: () => Date;
  private readonly metrics: EngineMetrics;
  private readonly timings: EngineTimings;
  private readonly dispatcher: Dispatcher;
  private readonly runEnd: RunEnd;
  private readonly keeper: RunKeeper;
  private readonly maps: MapRuns;
  private readonly mapStore: MapStore;

  constructor(deps: SchedulerDeps) {
    this.runs = deps.runs;
    this.tasks = deps.tasks;
    this.completion = deps.completion;
    this.mapStore = deps.maps;
    this.queue = deps.queue;
    this.definitions = deps.definitions;
    this.now = deps.now ?? (() => new Date());
    this.metrics = deps.metrics ?? new RecordedMetrics();
    this.timings = deps.timings ?? DEFAULT_TIMINGS;
    ({ dispatcher: this.dispatcher, runEnd: this.runEnd, keeper: this.keeper, mapRuns: this.maps } = runServices({ ...deps, now: this.now, metrics: this.metrics, timings: this.timings }));
  }

  /** Brings an unfinished run up to date from its tasks (the sweeper's periodic check). */
  reconcile(runId: string): Promise<void> {
    return this.keeper.reconcile(runId);
  }

  /**
   * Handles a batch of changes. The changes of one run are handled in order, runs side by side.
   * Returns the keys of the changes that failed: every change of a run from its first one, since
   * handling them again is harmless and a run's later changes may depend on the earlier ones.
   */
  async handleBatch(changes: readonly StoreChange[]): Promise<{ failed: string[]; errors: unknown[] }> {
    const byRun = new Map<string, StoreChange[]>();
    for (const change of changes) {
      const runId = change.kind === 'done' || change.kind === 'join' || change.kind === 'mapChunk' ? change.runId : (change.new ?? change.old)?.runId;
      if (runId === undefined) continue;
      byRun.set(runId, [...(byRun.get(runId) ?? []), change]);
    }
    const failed: string[] = [];
    const errors: unknown[] = [];
    await forEachLimited([...byRun.values()], RUN_CONCURRENCY, async (runChanges) => {
      try {
        await this.handleRunChanges(runChanges);
      } catch (error) {
        failed.push(...runChanges.map((change) => change.key));
        errors.push(error);
      }
    });
    return { failed, errors };
  }

  /** Handles one change (tests, and a batch of one). */
  async handleChange(change: StoreChange): Promise<void> {
    await this.handleRunChanges([change]);
  }

  private async handleRunChanges(changes: readonly StoreChange[]): Promise<void> {
    const outbox: OutgoingMessage[] = [];
    const seen = this.lookAhead(changes);
    const finals: Array<{ task: TaskRecord; key: string }> = [];
    const endedItems: TaskRecord[] = [];
    // The items a worker counted already (it started the next one first): not done again.
    const countedItems = new Set(changes.flatMap((change) => (change.kind === 'mapChunk' ? change.counted.map((index) => itemTaskId({ ...itemAddressOf(change.itemIdPrefix), index })) : [])));
    for (const change of changes) {
      if (change.kind === 'run') {
        await this.onRunChange(change, outbox);
        continue;
      }
      if (change.kind !== 'task') continue;
      const task = change.new;
      if (task === undefined || !isFinalTaskStatus(task.status) || change.old?.status === task.status) continue;
      if (isItemTaskId(task.taskId)) {
        if (!countedItems.has(task.taskId)) endedItems.push(task);
      }
      else finals.push({ task, key: change.key });
    }
    // A map's items that ended start the next ones, and are counted by their map: those the
    // batch does not show counted are read (one read), and only those not counted are done.
    if (endedItems.length > 0) {
      const counted = await this.mapStore.readCounted(endedItems[0]?.runId ?? '', endedItems.map((item) => item.taskId));
      const uncounted = endedItems.filter((item) => !counted.has(item.taskId));
      if (uncounted.length > 0) await this.maps.afterItems(uncounted, 'scheduler');
    }
    // A chunk of a map's items that is complete is marked on its map (the map may end), in case the
    // worker that counted its last item stopped there.
    const complete = new Map<string, Extract<StoreChange, { kind: 'mapChunk' }>>();
    for (const change of changes) {
      if (change.kind === 'mapChunk' && change.counted.length >= change.size) complete.set(`${change.itemIdPrefix}${change.chunk}`, change);
    }
    for (const chunk of complete.values()) {
      await this.maps.afterChunk({ runId: chunk.runId, ...itemAddressOf(chunk.itemIdPrefix), chunk: chunk.chunk, failed: chunk.failed });
    }
    if (finals.length > 0) {
      // What the batch does not show done is read (one read for all of it) before it is written.
      await this.readUnseen(finals, seen);
      for (const { task, key } of finals) await this.dispatchAfter(task, key, seen, outbox);
      // Counted already (a worker counts its task at once) is not counted again.
      await this.runEnd.countFinished(finals.map(({ task }) => task).filter((task) => !seen.counted.has(`${task.phase}/${task.taskId}`)));
    }
    await this.endIfDone(seen);
    // Tasks are moved on before their messages are sent: a worker never sees a message for a task
    // that is not yet claimable. If the send fails, the records are replayed and send again.
    if (outbox.length > 0) await this.queue.send(outbox);
  }

  /**
   * Reads what the batch does not show of the dependents, join groups and completion groups the
   * finished tasks touch, and adds it to what is seen: most of it a worker did already.
   */
  private async readUnseen(finals: ReadonlyArray<{ task: TaskRecord }>, seen: LookAhead): Promise<void> {
    const runId = finals[0]?.task.runId ?? '';
    const tasks = new Set<string>();
    const joins: Array<{ taskId: string; phase: number; group: string }> = [];
    const groups = new Map<string, { phase: number; group: string }>();
    for (const { task } of finals) {
      const definition = await this.definitions.get(task.workflowId, task.version);
      if (!seen.counted.has(`${task.phase}/${task.taskId}`)) {
        const group = completionGroupOf(definition, task.taskId);
        groups.set(`${task.phase}/${group}`, { phase: task.phase, group });
      }
      if (compensatedTaskId(task.taskId) !== undefined) continue;
      for (const dependentId of definition.dependents.get(task.taskId) ?? []) {
        const dependsOn = definition.tasksById.get(dependentId)?.dependsOn ?? [];
        // Read unless the batch shows it moved on (a PENDING image may be older than what happened since).
        if (seen.tasks.get(dependentId)?.status === undefined || seen.tasks.get(dependentId)?.status === 'PENDING') tasks.add(dependentId);
        if (usesJoinGroups(dependsOn) && !seen.joins.has(`${task.phase}/${dependentId}/${joinGroupOf(dependsOn, task.taskId)}`)) {
          joins.push({ taskId: dependentId, phase: task.phase, group: joinGroupOf(dependsOn, task.taskId) });
        }
      }
    }
    if (tasks.size + joins.length + groups.size === 0) return;
    const progress = await this.tasks.readProgress(runId, { tasks: [...tasks], joins, groups: [...groups.values()] });
    for (const [taskId, known] of progress.tasks) seen.tasks.set(taskId, known);
    for (const [key, members] of progress.joins) seen.joins.set(key, members);
    for (const [key, members] of progress.groups) {
      const phase = key.split('/')[0] ?? '';
      for (const taskId of members) seen.counted.add(`${phase}/${taskId}`);
    }
  }

  /** What the later records of a batch show was done already (by a worker, usually). */
  private lookAhead(changes: readonly StoreChange[]): LookAhead {
    const seen: LookAhead = { tasks: new Map(), counted: new Set(), joins: new Map(), groups: new Map(), run: undefined };
    for (const change of changes) {
      if (change.kind === 'task' && change.new !== undefined) seen.tasks.set(change.new.taskId, change.new);
      if (change.kind === 'run' && change.new !== undefined) seen.run = change.new;
      if (change.kind === 'done') {
        for (const taskId of change.finished) seen.counted.add(`${change.phase}/${taskId}`);
        seen.groups.set(`${change.phase}/${change.group}`, { ...change });
      }
      if (change.kind === 'join') seen.joins.set(`${change.phase}/${change.taskId}/${change.group}`, new Set(change.recorded));
    }
    return seen;
  }

  /**
   * The steps after a count that a worker may not have got to (it died between them): a complete
   * group the run does not show done yet is marked; a run whose groups are all done is ended.
   * Each is idempotent, and skipped when a later record of the batch shows it done.
   */
  private async endIfDone(seen: LookAhead): Promise<void> {
    for (const { runId, phase, group, finished, failed: countedFailed } of seen.groups.values()) {
      if (seen.run !== undefined && seen.run.phase === phase && seen.run.doneGroups.includes(group)) continue;
      const run = seen.run ?? (await this.runs.getRun(runId));
      if (run === undefined || run.phase !== phase) continue;
      const definition = await this.definitions.get(run.workflowId, run.version);
      const size = group === COMPENSATION_GROUP ? (run.compensation?.tasks.length ?? Number.POSITIVE_INFINITY) : completionGroupSize(definition, group);
      if (finished.length < size) continue;
      // The group's item holds every critical failure it counted, whichever batch showed the task.
      const failed = group === COMPENSATION_GROUP ? [] : [...countedFailed];
      const marked = await this.runs.markGroupDone({ runId, phase, group, failed });
      if (marked !== undefined) seen.run = marked;
    }
    const run = seen.run;
    if (run !== undefined && (run.status === 'RUNNING' || run.status === 'CANCELLING' || run.status === 'COMPENSATING')) {
      await this.runEnd.ifAllFinal(run, await this.definitions.get(run.workflowId, run.version));
    }
  }

  // ---- a task finished ----------------------------------------------------------------------

  private async dispatchAfter(task: TaskRecord, key: string, seen: LookAhead, outbox: OutgoingMessage[]): Promise<void> {
    const definition = await this.definitions.get(task.workflowId, task.version);
    const graph = await this.graphOf(definition, task);
    if (graph === undefined) return;
    const run = dispatchRun(task, graph);
    const result = await this.dispatcher.afterFinish(run, { taskId: task.taskId, status: task.status as FinalTaskStatus }, this.scopeOf(task), {
      // A replay of this record makes the same changes with the same tokens, and so sends again.
      opTokenFor: (taskId) => `s:${key}:${taskId}`,
      alreadyHandled: (dependentId) => isHandled(graph, task, dependentId, seen, `s:${key}:${dependentId}`),
    });
    outbox.push(...result.messages);
    // The batch's later records see what these writes found (a fan-in another record moved on).
    for (const [taskId, record] of result.observed.tasks) seen.tasks.set(taskId, record);
    for (const [joinKey, members] of result.observed.joins) seen.joins.set(`${task.phase}/${joinKey}`, members);
    // A replay of the batch does the failed ones again (and sends again what these writes queued).
    throwFirstFailure(result);
  }

  /** The graph a task belongs to: the workflow's, or its run's compensations (undefined if none). */
  private async graphOf(definition: LoadedDefinition, task: Pick<TaskRecord, 'runId' | 'taskId'>): Promise<PhaseGraph | undefined> {
    if (compensatedTaskId(task.taskId) === undefined) return taskGraph(definition, this.timings);
    const compensated = (await this.runs.getRun(task.runId))?.compensation?.tasks;
    return compensated === undefined ? undefined : compensationGraph(definition, compensated, this.timings);
  }

  /** The scope a dependent's condition reads: the finished task's output from its image, the rest from the store. */
  private scopeOf(task: TaskRecord): ScopeSource {
    return storedScope(
      { runs: this.runs, tasks: this.tasks },
      task.runId,
      // A large output is not in the image (only its reference): the scope reads it when needed.
      task.outputRef === undefined ? { outputs: { [task.taskId]: task.output === undefined ? {} : { output: task.output } } } : {},
    );
  }

  // ---- a run changed ------------------------------------------------------------------------

  private async onRunChange(change: Extract<StoreChange, { kind: 'run' }>, outbox: OutgoingMessage[]): Promise<void> {
    const run = change.new;
    if (run === undefined) return;
    const old = change.old;
    if (run.status === 'RUNNING' && old === undefined) {
      this.metrics.count(ENGINE_METRICS.names.runStarted);
      outbox.push(...(await this.keeper.startRoots(run, `s:${change.key}`)));
    } else if (run.status === 'RUNNING' && old?.status === 'RESUMING') {
      await this.keeper.reconcile(run.runId);
    } else if (run.status === 'CANCELLING' && old?.status !== 'CANCELLING') {
      await this.keeper.cancelTasks(run);
    } else if (run.status === 'COMPENSATING' && old?.status !== 'COMPENSATING') {
      await this.runEnd.startCompensations(run, `s:${change.key}`);
    }
  }

}

/**
 * Whether what is known of `dependentId` shows the outcome of `finished` dealt with: the dependent
 * moved on, or holds the outcome and its join rule still waits. Not when the last change is this
 * record's own (a replay: its message is sent again), nor when the outcome is recorded but nothing
 * was decided although it could be (its recorder died in between).
 */
function isHandled(graph: PhaseGraph, finished: TaskRecord, dependentId: string, seen: LookAhead, ownToken: string): boolean {
  const known = seen.tasks.get(dependentId);
  if (known !== undefined && (known.lastChange === ownToken || known.phase !== finished.phase)) return false;
  if (known !== undefined && known.status !== 'PENDING') return true;
  const node = graph.node(dependentId);
  if (usesJoinGroups(node.dependsOn)) {
    const group = joinGroupOf(node.dependsOn, finished.taskId);
    const members = seen.joins.get(`${finished.phase}/${dependentId}/${group}`);
    if (members === undefined || !members.has(finished.taskId)) return false;
    if (members.size < (joinGroupSizes(node.dependsOn).get(group) ?? 0)) return true;
    // A complete group: handled once the fan-in holds its counts and its rule still waits for other groups.
    if (known?.joinGroups[group] === undefined) return false;
    return joinCounts(known, node.dependsOn) === undefined;
  }
  if (known === undefined) return false;
  const statuses = dependencyStatuses(known);
  if (!statuses.has(finished.taskId)) return false;
  return decideTask({ id: node.id, dependsOn: node.dependsOn, trigger: node.trigger }, (id) => statuses.get(id) ?? 'PENDING').decision === 'wait';
}

/** The map attempt an item id prefix names. */
function itemAddressOf(prefix: string): { mapId: string; phase: number; attempt: number } {
  const attempt = prefixAttempt(prefix);
  if (attempt === undefined) throw new Error(`"${prefix}" is not a map's item id prefix`);
  return attempt;
}
