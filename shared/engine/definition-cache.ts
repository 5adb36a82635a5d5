// Definitions are immutable per version, so each container reads a version once and keeps it,
// with the indexes the services need: tasks by id and by place, dependents by task, the roots.
import { dependentsIndex, rootTasks } from '../model/dag.js';
import type { TaskDefinition } from '../model/definition.js';
import { NotFoundError } from '../model/errors.js';
import type { DefinitionStore } from './ports.js';
import type { StoredDefinition } from './records.js';

export interface LoadedDefinition extends StoredDefinition {
  tasksById: ReadonlyMap<string, TaskDefinition>;
  /** A task's place in the definition (what its completion group is counted by). */
  indexOf: ReadonlyMap<string, number>;
  dependents: ReadonlyMap<string, readonly string[]>;
  roots: readonly string[];
}

/** Where the services get definitions from. */
export interface DefinitionSource {
  get(workflowId: string, version: string): Promise<LoadedDefinition>;
}

export function loadDefinition(stored: StoredDefinition): LoadedDefinition {
  const tasks = stored.definition.tasks;
  return {
    ...stored,
    tasksById: new Map(tasks.map((task) => [task.id, task])),
    indexOf: new Map(tasks.map((task, i) => [task.id, i])),
    dependents: dependentsIndex(stored.definition),
    roots: rootTasks(stored.definition),
  };
}

export class DefinitionCache implements DefinitionSource {
  private readonly loaded = new Map<string, Promise<LoadedDefinition>>();

  constructor(private readonly store: Pick<DefinitionStore, 'getDefinition'>) {}

  get(workflowId: string, version: string): Promise<LoadedDefinition> {
    const key = `${workflowId}@${version}`;
    let entry = this.loaded.get(key);
    if (entry === undefined) {
      entry = this.load(workflowId, version);
      this.loaded.set(key, entry);
      // A failed read is not cached: the next call tries again.
      entry.catch(() => this.loaded.delete(key));
    }
    return entry;
  }

  private async load(workflowId: string, version: string): Promise<LoadedDefinition> {
    const stored = await this.store.getDefinition(workflowId, version);
    if (stored === undefined) throw new NotFoundError(`workflow ${workflowId} version ${version}`);
    return loadDefinition(stored);
  }
}

/**
 * How long an API instance takes a workflow's latest version for known. A version registered
 * through the same instance is used at once; one registered elsewhere (another instance, a
 * deploy) by runs started up to this long after. (Step Functions, likewise, may start executions
 * on the previous definition for a few seconds after an update.)
 */
export const LATEST_VERSION_TTL_MS = 1_000;
/** Workflows whose latest version is kept at most (the map is emptied past it). */
const LATEST_VERSIONS_KEPT = 1_000;

/** The latest version of each workflow, read once per LATEST_VERSION_TTL_MS: one read per run was a fifth of a small run's reads. */
export class LatestVersions {
  private readonly known = new Map<string, { version: Promise<string | undefined>; at: number }>();

  constructor(
    private readonly catalog: Pick<DefinitionStore, 'getWorkflow'>,
    private readonly now: () => number = Date.now,
    private readonly ttlMs: number = LATEST_VERSION_TTL_MS,
  ) {}

  get(workflowId: string): Promise<string | undefined> {
    const now = this.now();
    const entry = this.known.get(workflowId);
    if (entry !== undefined && now - entry.at < this.ttlMs) return entry.version;
    if (this.known.size >= LATEST_VERSIONS_KEPT) this.known.clear();
    const version = this.catalog.getWorkflow(workflowId).then((found) => found?.latestVersion);
    const fresh = { version, at: now };
    this.known.set(workflowId, fresh);
    // Neither a failed read nor an unknown workflow is kept: the next call reads again.
    version.then(
      (found) => {
        if (found === undefined) this.forgetEntry(workflowId, fresh);
      },
      () => this.forgetEntry(workflowId, fresh),
    );
    return version;
  }

  /** A version was registered here: the next run reads the latest again. */
  forget(workflowId: string): void {
    this.known.delete(workflowId);
  }

  private forgetEntry(workflowId: string, entry: { version: Promise<string | undefined>; at: number }): void {
    if (this.known.get(workflowId) === entry) this.known.delete(workflowId);
  }
}

export function taskOf(definition: LoadedDefinition, taskId: string): TaskDefinition {
  const task = definition.tasksById.get(taskId);
  if (task === undefined) throw new NotFoundError(`task ${taskId} in ${definition.workflowId}@${definition.version}`);
  return task;
}
