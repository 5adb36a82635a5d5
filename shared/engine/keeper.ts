// Bringing a run up to date: what the stream's run events call for, written once for every part
// that does it. The API does these at once (a new run's roots, a cancelled run's tasks, a resumed
// run's ready tasks); the scheduler does them again from the stream, and the sweeper's periodic
// check of every unfinished run (reconcile) does all of it from the tasks' actual states, so that
// a stream record AWS gave up on cannot leave a run hanging. Every write is conditional.
import { isFinalTaskStatus } from '../model/states.js';
import { compensatedTaskId } from './compensation.js';
import { forEachLimited } from './concurrency.js';
import type { DefinitionSource } from './definition-cache.js';
import { Dispatcher, dispatchRun, lazyScope, throwFirstFailure, type DispatchResult } from './dispatch.js';
import { compensationGraph, taskGraph, type PhaseGraph } from './graph.js';
import { settle } from './join-rules.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import type { EngineMetrics } from './metrics.js';
import type { CompletionStore, JoinStore, MapStore, RunStore, TaskStore } from './ports.js';
import type { RunRecord, TaskRecord } from './records.js';
import { RunEnd, readAllTasks } from './run-end.js';
import { Callbacks } from './callbacks.js';
import { ChildRuns } from './children.js';
import { MapRuns } from './maps.js';
import type { EngineTimings } from './timing.js';

/** Tasks of one run handled at once. */
const TASK_CONCURRENCY = 16;
/** Tries at cancelling one task that keeps changing under the cancel (queued, claimed, retried). */
const CANCEL_TRIES = 4;

export interface KeeperDeps {
  runs: RunStore;
  tasks: TaskStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  dispatcher: Dispatcher;
  runEnd: RunEnd;
  timings: EngineTimings;
  /** Cancels the child run of a workflow task the cancel reaches. */
  children?: Pick<ChildRuns, 'cancel'>;
  /** Cancels the items of a map task the cancel reaches. */
  mapRuns?: Pick<MapRuns, 'cancel'>;
}

export class RunKeeper {
  constructor(private readonly deps: KeeperDeps) {}

  /**
   * A new run's roots: queued, waiting or skipped by their condition (`key` makes the changes'
   * tokens). The API moved most of them on already: they are read first (a read costs a fifth of
   * a refused write), and only those still PENDING, or last changed by this same key (a replay,
   * whose messages are sent again), are written.
   */
  async startRoots(run: RunRecord, key: string): Promise<OutgoingMessage[]> {
    const definition = await this.deps.definitions.get(run.workflowId, run.version);
    const opTokenFor = (taskId: string) => `${key}:${taskId}`;
    const known = (await this.deps.tasks.readProgress(run.runId, { tasks: definition.roots, joins: [], groups: [] })).tasks;
    const open = definition.roots.filter((taskId) => {
      const task = known.get(taskId);
      return task === undefined || task.status === 'PENDING' || task.lastChange === opTokenFor(taskId);
    });
    if (open.length === 0) return [];
    const result = await this.deps.dispatcher.start(
      dispatchRun(run, taskGraph(definition, this.deps.timings)),
      open.map((taskId) => ({ taskId, decision: 'ready' as const })),
      lazyScope({}, { input: () => this.deps.runs.getRunInput(run.runId), outputs: () => Promise.resolve({}) }),
      { opTokenFor },
    );
    // The scheduler sends nothing of a batch that fails: its replay recognizes these writes and sends them.
    throwFirstFailure(result);
    return result.messages;
  }

  /**
   * A cancelled run: tasks not yet started end CANCELLED (created so, when they have no item yet);
   * running ones are asked to stop (their worker fires ctx.signal and records CANCELLED). A task
   * that moves meanwhile (claimed, retried) is looked at again as it now is. Stops when `budgetMs`
   * is spent (the rest is done from the stream); returns whether it saw every task.
   */
  async cancelTasks(run: RunRecord, budgetMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const started = Date.now();
    const definition = await this.deps.definitions.get(run.workflowId, run.version);
    const byId = new Map((await readAllTasks(this.deps.tasks, run.runId)).map((task) => [task.taskId, task]));
    let complete = true;
    await forEachLimited(definition.definition.tasks, TASK_CONCURRENCY, async ({ id }) => {
      if (Date.now() - started > budgetMs) {
        complete = false;
        return;
      }
      let task = byId.get(id);
      for (let i = 0; i < CANCEL_TRIES; i++) {
        if (task !== undefined && (isFinalTaskStatus(task.status) || task.phase > run.phase)) return;
        const result =
          task?.status === 'RUNNING'
            ? await this.deps.tasks.requestStop({ runId: run.runId, taskId: id, phase: run.phase })
            : await this.deps.tasks.cancel({
                runId: run.runId,
                taskId: id,
                workflowId: run.workflowId,
                version: run.version,
                phase: run.phase,
                reason: run.cancel?.reason ?? 'run cancelled',
                opToken: `cancel:${run.runId}:${run.phase}:${id}`,
              });
        if (result.outcome === 'ok') {
          // A workflow task's child run is cancelled with it.
          if (task?.childRunId !== undefined) await this.deps.children?.cancel(task, `its parent run ${run.runId} was cancelled`);
          // A map task's items too.
          if (task?.mapItems !== undefined) await this.deps.mapRuns?.cancel(task, `run ${run.runId} was cancelled`);
          return;
        }
        task = result.current ?? (await this.deps.tasks.getTask(run.runId, id));
      }
    });
    return complete;
  }

  /**
   * Brings an unfinished run up to date from its tasks' actual states, as if every stream record of
   * it had been handled: what is ready is queued, what can no longer run is skipped, every final
   * task is counted (which may end the run). The sweeper's periodic check, and the start of a
   * resumed run's phase.
   */
  async reconcile(runId: string): Promise<void> {
    const run = await this.deps.runs.getRun(runId);
    if (run === undefined || !['RUNNING', 'CANCELLING', 'COMPENSATING'].includes(run.status)) return;
    const definition = await this.deps.definitions.get(run.workflowId, run.version);
    const tasks = await readAllTasks(this.deps.tasks, runId);
    const started: Pick<DispatchResult, 'messages' | 'failures'> = { messages: [], failures: [] };
    const key = `reconcile:${runId}:${run.phase}:${run.updatedAt}`;
    if (run.status === 'CANCELLING') await this.cancelTasks(run);
    if (run.status === 'RUNNING' || run.status === 'COMPENSATING') {
      const graph = run.status === 'RUNNING' ? taskGraph(definition, this.deps.timings) : compensationGraph(definition, run.compensation?.tasks ?? [], this.deps.timings);
      Object.assign(started, await this.startReady(run, graph, tasks, key));
    }
    await this.deps.runEnd.countFinished(tasks.filter((task) => isFinalTaskStatus(task.status) && ofPhase(task, run.phase)).map((task) => ({ ...task, phase: run.phase })));
    if (started.messages.length > 0) await this.deps.queue.send(started.messages);
    throwFirstFailure(started);
  }

  /** The tasks of `graph` whose join rule the current states decide: queued (or waiting), or skipped. */
  private async startReady(run: RunRecord, graph: PhaseGraph, tasks: readonly TaskRecord[], key: string): Promise<DispatchResult> {
    const own = new Set(graph.ids());
    const statuses = new Map(tasks.filter((task) => own.has(task.taskId) && ofPhase(task, run.phase)).map((task) => [task.taskId, task.status]));
    const needsInput = graph.ids().some((id) => graph.node(id).when !== undefined);
    // Large outputs are stored apart: read back only those a condition may read (the upstream of a task with `when`).
    const conditioned = new Set(graph.ids().flatMap((id) => (graph.node(id).when === undefined ? [] : graph.node(id).dependsOn)));
    const stored = tasks.filter((task) => task.outputRef !== undefined && conditioned.has(task.taskId)).map((task) => task.taskId);
    const read = stored.length === 0 ? {} : (await this.deps.tasks.readScope(run.runId, stored, false)).tasks;
    const outputs = Object.fromEntries(
      tasks
        .filter((task) => task.outputRef === undefined || Object.hasOwn(read, task.taskId))
        .map((task) => [task.taskId, task.outputRef === undefined ? (task.output === undefined ? {} : { output: task.output }) : { output: read[task.taskId]?.output }]),
    );
    const input = needsInput ? await this.deps.runs.getRunInput(run.runId) : undefined;
    const settlement = settle({ tasks: graph.ids().map((id) => ({ ...graph.node(id) })) }, statuses, { input, upstream: outputs });
    return this.deps.dispatcher.start(
      dispatchRun(run, graph),
      [
        ...settlement.ready.map((taskId) => ({ taskId, decision: 'ready' as const })),
        ...settlement.skipped.map(({ taskId, reason }) => ({ taskId, decision: 'skip' as const, reason })),
      ],
      lazyScope({ ...(needsInput ? { input: { value: input } } : {}), outputs }, { input: () => this.deps.runs.getRunInput(run.runId), outputs: () => Promise.resolve({}) }),
      { opTokenFor: (taskId) => `${key}:${taskId}` },
    );
  }
}

/**
 * Whether a task's state holds in `phase`: its own, or a success of an earlier phase that a resume
 * kept. Not a compensation's: one of an earlier phase undid that phase's work, and compensating
 * the new phase runs it again (RunEnd.startCompensations).
 */
function ofPhase(task: TaskRecord, phase: number): boolean {
  return task.phase === phase || (task.status === 'SUCCEEDED' && compensatedTaskId(task.taskId) === undefined);
}

/** The dispatcher, the end of runs and the keeper, built together from the same ports. */
export function runServices(deps: {
  runs: RunStore;
  tasks: TaskStore;
  maps: MapStore;
  joins: JoinStore;
  completion: CompletionStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  metrics: EngineMetrics;
  timings: EngineTimings;
  now: () => Date;
}): { dispatcher: Dispatcher; runEnd: RunEnd; keeper: RunKeeper; callbacks: Callbacks; children: ChildRuns; mapRuns: MapRuns } {
  const dispatcher = new Dispatcher({ tasks: deps.tasks, joins: deps.joins, now: deps.now, timings: deps.timings });
  const callbacks = new Callbacks({ ...deps, random: Math.random, newToken: () => crypto.randomUUID() });
  const children = new ChildRuns({ ...deps, callbacks });
  const mapRuns = new MapRuns({ ...deps, callbacks });
  const runEnd = new RunEnd({ ...deps, dispatcher, children });
  const keeper = new RunKeeper({ ...deps, dispatcher, runEnd, children, mapRuns });
  return { dispatcher, runEnd, keeper, callbacks, children, mapRuns };
}
