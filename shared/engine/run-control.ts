// What a client does to runs: start one, cancel it, resume it after a failure. The API calls these;
// the scheduler and the workers do the rest (a cancelled run's tasks are stopped, a resumed run's
// ready tasks are queued).
//
// Starting a run writes the run and its input, then queues its roots at once (the stream scheduler
// only completes it if this call dies half-way). Resuming is durable work with an owner: the run
// goes RESUMING with a lease, its tasks are moved into the next phase (each move conditional, so
// doing it twice changes nothing), and the run goes RUNNING; if the owner dies or runs out of
// time, the sweeper takes the resume over once the lease has run out and finishes it.
import { ConflictError, EngineError, NotFoundError } from '../model/errors.js';
import { compensatedTaskId } from './compensation.js';
import { completionGroupCount, completionGroupOf, completionGroupSize, completionGroups } from './completion.js';
import { forEachLimited } from './concurrency.js';
import type { DefinitionSource } from './definition-cache.js';
import { EAGER_DISPATCH_LIMIT, lazyScope, throwFirstFailure, type Dispatcher } from './dispatch.js';
import { runServices, type RunKeeper } from './keeper.js';
import { RecordedMetrics, type EngineMetrics } from './metrics.js';
import { taskGraph } from './graph.js';
import { INLINE_JOIN_LIMIT, completeGroupCounts, joinGroupSizes, usesJoinGroups } from './join.js';
import type { TaskQueue } from './messages.js';
import type { CompletionStore, JoinStore, MapStore, RunStore, TaskStore } from './ports.js';
import type { DependencyCounts, ParentLink, PhaseSummary, RunRecord, RunTrigger, StoredDefinition, TaskRecord } from './records.js';
import { DEFAULT_TIMINGS, runDueAt, type EngineTimings } from './timing.js';
import { readAllTasks } from './run-end.js';

export interface RunControlDeps {
  runs: RunStore;
  tasks: TaskStore;
  maps: MapStore;
  joins: JoinStore;
  completion: CompletionStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  now?: () => Date;
  timings?: EngineTimings;
  newToken?: () => string;
  metrics?: EngineMetrics;
}

/** Task moves of a resume made at once. */
const RESUME_CONCURRENCY = 16;
/** How much of its time a resume spends before it leaves the rest to the sweeper. */
const DEFAULT_RESUME_BUDGET_MS = 20_000;
/** How much of its time a cancel spends on the run's tasks before it leaves the rest to the scheduler. */
const DEFAULT_CANCEL_BUDGET_MS = 10_000;

export class RunControl {
  private readonly deps: Required<RunControlDeps>;
  private readonly dispatcher: Dispatcher;
  private readonly keeper: RunKeeper;

  constructor(deps: RunControlDeps) {
    this.deps = {
      ...deps,
      now: deps.now ?? (() => new Date()),
      timings: deps.timings ?? DEFAULT_TIMINGS,
      newToken: deps.newToken ?? (() => crypto.randomUUID()),
      metrics: deps.metrics ?? new RecordedMetrics(),
    };
    ({ dispatcher: this.dispatcher, keeper: this.keeper } = runServices(this.deps));
  }

  /** Starts a run of `definition` and queues its roots; a repeated Idempotency-Key gives the first run. */
  async start(params: {
    runId: string;
    definition: StoredDefinition;
    input: unknown;
    idempotency?: { key: string; requestFingerprint: string };
    handlerBuild?: string;
    trigger?: RunTrigger;
    parent?: ParentLink;
  }): Promise<{ runId: string; created: boolean }> {
    const now = this.deps.now().getTime();
    const timeoutSeconds = params.definition.definition.timeoutSeconds;
    const deadlineAt = timeoutSeconds === undefined ? undefined : now + timeoutSeconds * 1000;
    const created = await this.deps.runs.createRun({
      runId: params.runId,
      definition: params.definition,
      input: params.input,
      ...(params.idempotency === undefined ? {} : { idempotency: params.idempotency }),
      dueAt: runDueAt(now, deadlineAt, this.deps.timings),
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
      groupCount: completionGroupCount(params.definition.definition.tasks.length),
      ...(params.handlerBuild === undefined ? {} : { handlerBuild: params.handlerBuild }),
      ...(params.trigger === undefined ? {} : { trigger: params.trigger }),
      ...(params.parent === undefined ? {} : { parent: params.parent }),
    });
    if (!created.created) return created;
    const definition = await this.deps.definitions.get(params.definition.workflowId, params.definition.version);
    const run = { runId: created.runId, workflowId: definition.workflowId, version: definition.version, phase: 0, graph: taskGraph(definition, this.deps.timings) };
    await afterAccepted(async () => {
      const result = await this.dispatcher.start(
        run,
        definition.roots.map((taskId) => ({ taskId, decision: 'ready' as const })),
        lazyScope({ input: { value: params.input } }, { input: () => Promise.resolve(params.input), outputs: () => Promise.resolve({}) }),
        { opTokenFor: () => this.deps.newToken(), eagerLimit: EAGER_DISPATCH_LIMIT },
      );
      if (result.messages.length > 0) await this.deps.queue.send(result.messages);
      throwFirstFailure(result);
    });
    return created;
  }

  /**
   * Cancels a run: it goes CANCELLING, and its tasks are cancelled (or asked to stop) at once,
   * within `budgetMs`; the scheduler does the rest from the stream.
   */
  async cancel(runId: string, reason = 'cancelled by request', budgetMs = DEFAULT_CANCEL_BUDGET_MS): Promise<{ runId: string; status: 'CANCELLING' }> {
    const result = await this.deps.runs.requestCancel({ runId, reason, outcome: 'CANCELLED' });
    if (result.outcome === 'cancelling') {
      await afterAccepted(() => this.keeper.cancelTasks(result.run, budgetMs));
      return { runId, status: 'CANCELLING' };
    }
    if (result.run === undefined) throw new NotFoundError(`run "${runId}"`);
    const status = result.run.status === 'RESUMING' ? 'RUNNING' : result.run.status;
    throw new ConflictError(`run "${runId}" is ${status} and cannot be cancelled`, { status });
  }

  /**
   * Resumes a FAILED or CANCELLED run: failed, skipped and cancelled tasks run again; SUCCEEDED
   * tasks keep their outputs and are not run again, unless a compensation undid them. Does what it
   * can within `budgetMs`; the sweeper finishes a resume that did not complete.
   */
  async resume(runId: string, budgetMs = DEFAULT_RESUME_BUDGET_MS): Promise<{ runId: string; status: 'RUNNING' }> {
    const owner = this.deps.newToken();
    const begun = await this.deps.runs.beginResume({ runId, owner, expiresAt: this.leaseEnd() });
    if (begun.outcome === 'refused') {
      if (begun.run === undefined) throw new NotFoundError(`run "${runId}"`);
      const status = begun.run.status === 'RESUMING' ? 'RUNNING' : begun.run.status;
      throw new ConflictError(`run "${runId}" is ${status}; only FAILED or CANCELLED runs can be retried`, { status });
    }
    await afterAccepted(() => this.continueResume(begun.run, owner, budgetMs));
    return { runId, status: 'RUNNING' };
  }

  /** A resume whose owner went quiet past its lease: taken over and finished (the sweeper calls this). */
  async takeOverResume(runId: string, budgetMs = DEFAULT_RESUME_BUDGET_MS): Promise<void> {
    const owner = this.deps.newToken();
    const begun = await this.deps.runs.beginResume({ runId, owner, expiresAt: this.leaseEnd() });
    if (begun.outcome === 'resuming') await this.continueResume(begun.run, owner, budgetMs);
  }

  private leaseEnd(): number {
    return this.deps.now().getTime() + this.deps.timings.resumeLeaseSeconds * 1000;
  }

  /**
   * Moves the run's tasks from its phase into the next one. Every move is conditional on the
   * task's phase, so a resume taken over after its owner died does again only what is not done.
   * Returns whether it finished (the run is RUNNING again).
   */
  private async continueResume(run: RunRecord, owner: string, budgetMs: number): Promise<boolean> {
    const started = Date.now();
    const definition = await this.deps.definitions.get(run.workflowId, run.version);
    const fromPhase = run.phase;
    const phase = fromPhase + 1;
    const tasks = await this.readAll(run.runId);
    await this.deps.runs.archivePhase(run.runId, phaseSummary(run, tasks));

    // Tasks whose work a compensation undid in this phase run again, under a new idempotency key.
    const undone = new Set(
      tasks.flatMap((task) => {
        const compensated = compensatedTaskId(task.taskId);
        return compensated !== undefined && task.phase === fromPhase && task.status === 'SUCCEEDED' ? [compensated] : [];
      }),
    );
    const byId = new Map(tasks.map((task) => [task.taskId, task]));
    const kept = new Set(
      definition.definition.tasks.filter((task) => byId.get(task.id)?.status === 'SUCCEEDED' && !undone.has(task.id)).map((task) => task.id),
    );

    let pending = definition.definition.tasks.filter((task) => !kept.has(task.id) && (byId.get(task.id)?.phase ?? -1) < phase);
    while (pending.length > 0) {
      const slice = pending.slice(0, 200);
      pending = pending.slice(slice.length);
      await forEachLimited(slice, RESUME_CONCURRENCY, async (task) => {
        const succeededDependencies = task.dependsOn.filter((id) => kept.has(id));
        const joinGroups: Record<string, DependencyCounts> = {};
        if (usesJoinGroups(task.dependsOn)) {
          for (const [group, size] of joinGroupSizes(task.dependsOn)) {
            const members = task.dependsOn.slice(Number(group) * INLINE_JOIN_LIMIT, Number(group) * INLINE_JOIN_LIMIT + size);
            const succeeded = members.filter((id) => kept.has(id));
            if (succeeded.length === 0) continue;
            await this.deps.joins.seedGroup({ runId: run.runId, taskId: task.id, phase, group, succeeded });
            const counts = completeGroupCounts({ SUCCEEDED: succeeded, FAILED: [], SKIPPED: [], CANCELLED: [] }, size);
            if (counts !== undefined) joinGroups[group] = counts;
          }
        }
        await this.deps.tasks.resetForPhase({
          runId: run.runId,
          taskId: task.id,
          workflowId: run.workflowId,
          version: run.version,
          fromPhase,
          phase,
          succeededDependencies: usesJoinGroups(task.dependsOn) ? [] : succeededDependencies,
          joinGroups,
          allJoinGroups: usesJoinGroups(task.dependsOn) ? [...joinGroupSizes(task.dependsOn).keys()] : [],
          newIdempotencyKey: undone.has(task.id),
        });
      });
      if (Date.now() - started > budgetMs) return false;
      const saved = await this.deps.runs.saveResumeProgress({ runId: run.runId, owner, expiresAt: this.leaseEnd() });
      // Another owner took it over: it finishes the job.
      if (saved.outcome !== 'ok') return false;
    }

    // The kept successes are finished already in the new phase: their groups start with them.
    const doneGroups: string[] = [];
    for (const group of completionGroups(definition)) {
      const members = [...kept].filter((id) => completionGroupOf(definition, id) === group);
      if (members.length > 0) await this.deps.completion.seedGroup({ runId: run.runId, phase, group, taskIds: members });
      if (members.length >= completionGroupSize(definition, group)) doneGroups.push(group);
    }
    const now = this.deps.now().getTime();
    const timeoutSeconds = definition.definition.timeoutSeconds;
    const deadlineAt = timeoutSeconds === undefined ? undefined : now + timeoutSeconds * 1000;
    const finished = await this.deps.runs.finishResume({
      runId: run.runId,
      owner,
      phase,
      groupCount: completionGroupCount(definition.definition.tasks.length),
      doneGroups,
      dueAt: runDueAt(now, deadlineAt, this.deps.timings),
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
    });
    if (finished.outcome !== 'ok') return false;
    // The new phase's ready tasks go at once (the scheduler would, from the stream).
    await this.keeper.reconcile(run.runId);
    return true;
  }

  private readAll(runId: string): Promise<TaskRecord[]> {
    return readAllTasks(this.deps.tasks, runId);
  }
}

/**
 * The part of a request done at once after its change was stored (a new run, a cancel, a resume):
 * if the table or the queue cannot answer now, the request still succeeds, since the scheduler
 * (from the stream) and the sweeper finish that part. Answering 5xx instead would tell the client
 * that nothing happened, and a client that starts the run again without an Idempotency-Key gets a
 * second run. Any other error is a fault and is raised.
 */
async function afterAccepted(work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof EngineError && error.retryable)) throw error;
  }
}

/** What the history must keep of a phase a resume ends: the tasks that ended without an attempt. */
function phaseSummary(run: RunRecord, tasks: readonly TaskRecord[]): PhaseSummary {
  const ended: PhaseSummary['ended'] = [];
  for (const task of tasks) {
    if (task.phase !== run.phase || (task.status !== 'SKIPPED' && task.status !== 'CANCELLED') || task.completedAt === undefined) continue;
    if (task.attempts.some((attempt) => attempt.attempt === task.attempt && attempt.phase === run.phase)) continue;
    ended.push({ taskId: task.taskId, status: task.status, at: task.completedAt, ...(task.reason === undefined ? {} : { reason: task.reason }) });
  }
  return {
    phase: run.phase,
    startedAt: run.startedAt,
    ...(run.completedAt === undefined ? {} : { completedAt: run.completedAt }),
    status: run.resume?.from ?? run.status,
    ...(run.error === undefined ? {} : { error: run.error }),
    ...(run.cancel === undefined ? {} : { cancel: run.cancel }),
    ended,
  };
}
