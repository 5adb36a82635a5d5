// The critical path of a finished run: the chain of tasks that set its duration, found as classic
// critical path analysis does on actual times. From the task that finished last, walk back through
// the dependency that released each task (the last to finish, for the rules that need them all),
// down to a root. Each step says how long the task ran and how long it waited, after it was
// released, to start (the queue, the scheduler, a worker to claim it): together they are the time
// it added to the run. Pure, for GET /runs/{runId}.
import type { TaskDefinition } from '../model/definition.js';
import { isFinalTaskStatus } from '../model/states.js';
import type { RunRecord, TaskRecord } from './records.js';

export interface CriticalPathStep {
  taskId: string;
  /** When its first attempt of the run's current phase started (retries and their backoffs count). */
  startedAt: string;
  completedAt: string;
  /** completedAt - startedAt: every attempt of the phase, and the backoffs between them. */
  durationMs: number;
  /** From its release (the dependency that released it finished, or the phase began) to its start. */
  waitMs: number;
}

/** A task of the current phase that finished, with the span it ran (none if it never started). */
interface Finished {
  id: string;
  status: TaskRecord['status'];
  completedAt: number;
  startedAt?: number;
}

type PathTask = Pick<TaskDefinition, 'id' | 'dependsOn' | 'trigger'>;

/**
 * The critical path of a run, first task first; empty when no task of its current phase ran.
 * Meant for a run that has ended: on a running one, it is the path of what finished so far.
 * Times of the current phase only: a resumed run's kept successes finished before it began, so a
 * task they released waits from the phase's start.
 */
export function criticalPath(
  run: Pick<RunRecord, 'phase' | 'startedAt'>,
  definition: { readonly tasks: readonly PathTask[] },
  tasks: readonly TaskRecord[],
): CriticalPathStep[] {
  const byId = new Map(definition.tasks.map((task) => [task.id, task]));
  const finished = finishedTasks(run.phase, tasks, byId);
  const kept = new Set(tasks.filter((task) => task.phase < run.phase && task.status === 'SUCCEEDED').map((task) => task.taskId));
  const phaseStart = Date.parse(run.startedAt);

  const steps: CriticalPathStep[] = [];
  const seen = new Set<string>();
  let current = lastToFinish(definition.tasks, finished);
  while (current?.startedAt !== undefined && !seen.has(current.id)) {
    seen.add(current.id);
    const released = releasedBy(current, byId, finished, kept);
    const readyAt = released?.completedAt ?? phaseStart;
    steps.push({
      taskId: current.id,
      startedAt: iso(current.startedAt),
      completedAt: iso(current.completedAt),
      // Clamped: the times come from the clocks of different Lambda instances.
      durationMs: Math.max(0, current.completedAt - current.startedAt),
      waitMs: Math.max(0, current.startedAt - readyAt),
    });
    current = released;
  }
  return steps.reverse();
}

function finishedTasks(phase: number, tasks: readonly TaskRecord[], byId: ReadonlyMap<string, PathTask>): Map<string, Finished> {
  const finished = new Map<string, Finished>();
  for (const task of tasks) {
    // Compensations (not in the definition) and kept successes of an earlier phase are not on it.
    if (!byId.has(task.taskId) || task.phase !== phase || !isFinalTaskStatus(task.status) || task.completedAt === undefined) continue;
    const startedAt = firstStart(task);
    finished.set(task.taskId, {
      id: task.taskId,
      status: task.status,
      completedAt: Date.parse(task.completedAt),
      ...(startedAt === undefined ? {} : { startedAt }),
    });
  }
  return finished;
}

/**
 * When the task first started in its phase: the item's startedAt is its last attempt's, so earlier
 * attempts (kept on the item) go further back. A task skipped or cancelled before it ran has none.
 */
function firstStart(task: TaskRecord): number | undefined {
  const starts = [
    ...(task.startedAt === undefined ? [] : [task.startedAt]),
    ...task.attempts.filter((attempt) => attempt.phase === task.phase).map((attempt) => attempt.startedAt),
  ].map((at) => Date.parse(at));
  return starts.length === 0 ? undefined : Math.min(...starts);
}

/** The task that ran and finished last (the run's end): on a tie, the later one in the definition. */
function lastToFinish(tasks: readonly PathTask[], finished: ReadonlyMap<string, Finished>): Finished | undefined {
  let last: Finished | undefined;
  for (const task of tasks) {
    const candidate = finished.get(task.id);
    if (candidate?.startedAt !== undefined && (last === undefined || candidate.completedAt >= last.completedAt)) last = candidate;
  }
  return last;
}

/**
 * The dependency that released a task, passing through dependencies that never ran (skipped or
 * cancelled): they took no time of their own, so the wait is counted from what released them.
 * Undefined when the phase's start released it (a root, or only kept dependencies).
 */
function releasedBy(task: Finished, byId: ReadonlyMap<string, PathTask>, finished: ReadonlyMap<string, Finished>, kept: ReadonlySet<string>): Finished | undefined {
  const seen = new Set<string>();
  let releaser = releasingDependency(task, byId, finished, kept);
  while (releaser !== undefined && releaser.startedAt === undefined && !seen.has(releaser.id)) {
    seen.add(releaser.id);
    releaser = releasingDependency(releaser, byId, finished, kept);
  }
  return releaser?.startedAt === undefined ? undefined : releaser;
}

/**
 * Which dependency's end let the task go on, by its join rule. one_success and one_failed fire on
 * the first success (failure), not on the last dependency; every other rule that let a task run
 * waited for all of its dependencies, so the last to finish released it, whatever the clocks say.
 * A task that never ran was skipped (or cancelled) by then: the last to finish before it did.
 */
function releasingDependency(task: Finished, byId: ReadonlyMap<string, PathTask>, finished: ReadonlyMap<string, Finished>, kept: ReadonlySet<string>): Finished | undefined {
  const definition = byId.get(task.id);
  if (definition === undefined) return undefined;
  const dependencies = definition.dependsOn.flatMap((id) => finished.get(id) ?? []);
  if (task.startedAt === undefined) return latest(dependencies.filter((dependency) => dependency.completedAt <= task.completedAt));
  if (definition.trigger === 'one_success') {
    // A success kept from an earlier phase released it when the phase began.
    if (definition.dependsOn.some((id) => kept.has(id))) return undefined;
    return earliest(dependencies.filter((dependency) => dependency.status === 'SUCCEEDED'));
  }
  if (definition.trigger === 'one_failed') return earliest(dependencies.filter((dependency) => dependency.status === 'FAILED'));
  return latest(dependencies);
}

function latest(tasks: readonly Finished[]): Finished | undefined {
  return tasks.reduce<Finished | undefined>((best, task) => (best === undefined || task.completedAt > best.completedAt ? task : best), undefined);
}

function earliest(tasks: readonly Finished[]): Finished | undefined {
  return tasks.reduce<Finished | undefined>((best, task) => (best === undefined || task.completedAt < best.completedAt ? task : best), undefined);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
