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

export function taskOf(definition: LoadedDefinition, taskId: string): TaskDefinition {
  const task = definition.tasksById.get(taskId);
  if (task === undefined) throw new NotFoundError(`task ${taskId} in ${definition.workflowId}@${definition.version}`);
  return task;
}
