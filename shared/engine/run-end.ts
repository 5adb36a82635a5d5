// How a run ends: its finished tasks are counted in their completion groups (completion.ts); the
// group that completes is marked done on the run, once; when every group of the phase is done the
// run ends: COMPLETED, or (a critical failure, a cancel) FAILED or CANCELLED after the
// compensations of its SUCCEEDED tasks have run. The worker does this at once after its commit;
// the scheduler does it again from the stream for anything the worker did not get to: every step
// is idempotent (a set of finished ids, a group marked done once, a run ended once).
import { ENGINE_METRICS } from '../config/metrics.js';
import type { TaskError } from '../model/task-error.js';
import { compensatedTaskId, planCompensations } from './compensation.js';
import { isItemTaskId } from './map-items.js';
import { COMPENSATION_GROUP, completionGroupCount, completionGroupOf, completionGroupSize, completionGroups } from './completion.js';
import type { DefinitionSource, LoadedDefinition } from './definition-cache.js';
import { dispatchRun, storedScope, throwFirstFailure, type Dispatcher } from './dispatch.js';
import { compensationGraph } from './graph.js';
import type { TaskQueue } from './messages.js';
import type { EngineMetrics } from './metrics.js';
import type { EngineTimings } from './timing.js';
import type { CompletionStore, RunStore, TaskStore } from './ports.js';
import type { ChildRuns } from './children.js';
import type { RunRecord, TaskRecord } from './records.js';

/** Failed tasks named in a run's error; more are counted, not listed. */
const NAMED_FAILURES = 5;

export interface RunEndDeps {
  runs: RunStore;
  tasks: Pick<TaskStore, 'readTasks' | 'readScope' | 'readProgress' | 'resetForPhase'>;
  completion: CompletionStore;
  definitions: DefinitionSource;
  dispatcher: Dispatcher;
  queue: TaskQueue;
  metrics: EngineMetrics;
  timings: EngineTimings;
  now: () => Date;
  /** Answers the parent task of a child run that ends. */
  children?: Pick<ChildRuns, 'ended'>;
}

/** What counting a finished task needs of it. */
export type FinishedTask = Pick<TaskRecord, 'runId' | 'taskId' | 'workflowId' | 'version' | 'phase' | 'status'>;

export class RunEnd {
  constructor(private readonly deps: RunEndDeps) {}

  /** Counts finished tasks in their completion groups; a group that completes is marked done, and may end the run. */
  async countFinished(finals: readonly FinishedTask[]): Promise<void> {
    const groups = new Map<string, { runId: string; phase: number; group: string; definition: LoadedDefinition; taskIds: string[]; failed: string[] }>();
    for (const task of finals) {
      // A map's items are counted by their map, which is counted here when it ends.
      if (isItemTaskId(task.taskId)) continue;
      const definition = await this.deps.definitions.get(task.workflowId, task.version);
      const group = completionGroupOf(definition, task.taskId);
      const key = `${task.runId}/${task.phase}/${group}`;
      const entry = groups.get(key) ?? { runId: task.runId, phase: task.phase, group, definition, taskIds: [], failed: [] };
      entry.taskIds.push(task.taskId);
      if (task.status === 'FAILED' && definition.tasksById.get(task.taskId)?.critical === true) entry.failed.push(task.taskId);
      groups.set(key, entry);
    }
    for (const entry of groups.values()) {
      const counted = await this.deps.completion.recordFinished(entry);
      const size =
        entry.group === COMPENSATION_GROUP
          ? ((await this.deps.runs.getRun(entry.runId))?.compensation?.tasks.length ?? Number.POSITIVE_INFINITY)
          : completionGroupSize(entry.definition, entry.group);
      if (counted.finished.length < size) continue;
      // A run of one group with nothing failed ends in the same write that marks the group done.
      if (entry.group !== COMPENSATION_GROUP && counted.failed.length === 0 && completionGroupCount(entry.definition.definition.tasks.length) === 1) {
        const completed = await this.deps.runs.completeWithOnlyGroup({ runId: entry.runId, phase: entry.phase, group: entry.group });
        if (completed !== undefined) {
          await this.afterFinish(completed, 'COMPLETED');
          continue;
        }
      }
      const run = await this.deps.runs.markGroupDone({ runId: entry.runId, phase: entry.phase, group: entry.group, failed: counted.failed });
      if (run !== undefined) await this.ifAllFinal(run, entry.definition);
    }
  }

  /** When every completion group of the run's phase is done: the run ends, or compensates first. */
  async ifAllFinal(run: RunRecord, definition: LoadedDefinition): Promise<void> {
    const done = new Set(run.doneGroups);
    if (run.status === 'COMPENSATING') {
      if (!done.has(COMPENSATION_GROUP)) return;
      await this.finishRun(run, run.compensation?.outcome ?? 'FAILED', 'COMPENSATING', run.compensation?.error);
      return;
    }
    if (!completionGroups(definition).every((group) => done.has(group))) return;
    if (run.status === 'RUNNING') {
      if (run.failedCount === 0) await this.finishRun(run, 'COMPLETED', 'RUNNING');
      else await this.endRun(run, definition, 'FAILED', failureError(run));
    } else if (run.status === 'CANCELLING') {
      const outcome = run.cancel?.outcome ?? 'CANCELLED';
      const error: TaskError | undefined =
        outcome === 'FAILED' ? { name: 'RunTimedOut', message: run.cancel?.reason ?? 'the run passed its deadline', retryable: false } : undefined;
      await this.endRun(run, definition, outcome, error);
    }
  }

  /** A run that failed or was cancelled: its SUCCEEDED tasks' compensations run first (the saga). */
  private async endRun(run: RunRecord, definition: LoadedDefinition, outcome: 'FAILED' | 'CANCELLED', error: TaskError | undefined): Promise<void> {
    const from = run.status === 'CANCELLING' ? 'CANCELLING' : 'RUNNING';
    const compensable = definition.definition.tasks.some((task) => task.compensate !== undefined);
    const succeeded = compensable
      ? new Set((await this.readAll(run.runId)).filter((task) => task.status === 'SUCCEEDED' && compensatedTaskId(task.taskId) === undefined).map((task) => task.taskId))
      : new Set<string>();
    const plans = planCompensations(definition, succeeded);
    if (plans.length === 0) {
      await this.finishRun(run, outcome, from, error);
      return;
    }
    const tasks = plans.map((plan) => plan.taskId);
    const begun = await this.deps.runs.beginCompensation({ runId: run.runId, phase: run.phase, from, outcome, ...(error === undefined ? {} : { error }), tasks });
    if (begun.outcome === 'ok') {
      await this.startCompensations({ ...run, status: 'COMPENSATING', compensation: { outcome, ...(error === undefined ? {} : { error }), tasks } }, `compensate:${run.runId}:${run.phase}`);
    }
  }

  /** A run that compensates: the compensations that wait for no other are queued (`key` makes the changes' tokens). */
  async startCompensations(run: RunRecord, key: string): Promise<void> {
    const definition = await this.deps.definitions.get(run.workflowId, run.version);
    const graph = compensationGraph(definition, run.compensation?.tasks ?? [], this.deps.timings);
    await this.renewEarlierCompensations(run, graph.ids());
    const result = await this.deps.dispatcher.start(
      dispatchRun(run, graph),
      graph.roots().map((taskId) => ({ taskId, decision: 'ready' as const })),
      storedScope(this.deps, run.runId),
      { opTokenFor: (taskId) => `${key}:${taskId}` },
    );
    if (result.messages.length > 0) await this.deps.queue.send(result.messages);
    throwFirstFailure(result);
  }

  /**
   * A resumed run that compensates again: a compensation item left by an earlier phase goes
   * PENDING in this one, so that it runs again (it undoes the new phase's work) under a new
   * idempotency key (a provider would take the old one for a repeat of the first undo). Each
   * move is conditional on the item's phase, so doing this twice changes nothing.
   */
  private async renewEarlierCompensations(run: RunRecord, compensationIds: readonly string[]): Promise<void> {
    if (run.phase === 0 || compensationIds.length === 0) return;
    const known = (await this.deps.tasks.readProgress(run.runId, { tasks: compensationIds, joins: [], groups: [] })).tasks;
    for (const taskId of compensationIds) {
      const earlier = known.get(taskId);
      if (earlier === undefined || earlier.phase >= run.phase) continue;
      await this.deps.tasks.resetForPhase({
        runId: run.runId,
        taskId,
        workflowId: run.workflowId,
        version: run.version,
        fromPhase: earlier.phase,
        phase: run.phase,
        succeededDependencies: [],
        joinGroups: {},
        allJoinGroups: [],
        newIdempotencyKey: true,
      });
    }
  }

  /** Ends the run (once: a repeat finds it ended) and counts how it ended. */
  private async finishRun(run: RunRecord, status: 'COMPLETED' | 'FAILED' | 'CANCELLED', from: RunRecord['status'], error?: TaskError): Promise<void> {
    const finished = await this.deps.runs.finishRun({ runId: run.runId, phase: run.phase, from, status, ...(error === undefined ? {} : { error }) });
    if (finished.outcome !== 'ok') return;
    await this.afterFinish(run, status, error);
  }

  /** What follows a run's end, by whoever ended it: its parent task's answer, and the run's metrics. */
  private async afterFinish(run: RunRecord, status: 'COMPLETED' | 'FAILED' | 'CANCELLED', error?: TaskError): Promise<void> {
    // A child run's end is its parent task's answer (the sweeper's look at the parent, if lost).
    if (run.parent !== undefined) await this.deps.children?.ended({ ...run, status, ...(error === undefined ? {} : { error }) });
    if (status === 'COMPLETED') this.deps.metrics.count(ENGINE_METRICS.names.runCompleted);
    if (status === 'FAILED') this.deps.metrics.count(ENGINE_METRICS.names.runFailed);
    this.deps.metrics.milliseconds(ENGINE_METRICS.names.runDuration, this.deps.now().getTime() - Date.parse(run.createdAt));
  }

  private async readAll(runId: string): Promise<TaskRecord[]> {
    return readAllTasks(this.deps.tasks, runId);
  }
}

/** Every task item of a run, page after page. */
export async function readAllTasks(tasks: Pick<TaskStore, 'readTasks'>, runId: string): Promise<TaskRecord[]> {
  const all: TaskRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await tasks.readTasks(runId, cursor);
    all.push(...page.tasks);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return all;
}

/** The error of a run whose critical tasks failed, naming them. */
export function failureError(run: Pick<RunRecord, 'failedCount' | 'failedTasks'>): TaskError {
  const named = run.failedTasks.slice(0, NAMED_FAILURES);
  const more = run.failedCount > named.length ? ` and ${run.failedCount - named.length} more` : '';
  const message = named.length === 0 ? `${run.failedCount} critical task(s) failed` : `${run.failedCount === 1 ? 'task' : 'tasks'} ${named.join(', ')}${more} failed`;
  return { name: 'TaskFailed', message, retryable: false, details: { failedTasks: run.failedTasks } };
}
