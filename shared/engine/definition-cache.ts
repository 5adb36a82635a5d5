// Definitions are immutable per version, so each container reads a version once and keeps it,
// with the indexes the scheduler and worker need (tasks by id, dependents by task).
import { dependentsIndex } from '../model/dag.js';
import type { TaskDefinition } from '../model/definition.js';
import { NotFoundError } from '../model/errors.js';
import type { DynamoStore, StoredDefinition } from '../aws/dynamo/store.js';

export interface LoadedDefinition extends StoredDefinition {
  tasksById: ReadonlyMap<string, TaskDefinition>;
  dependents: ReadonlyMap<string, readonly string[]>;
}

export class DefinitionCache {
  private readonly loaded = new Map<string, Promise<LoadedDefinition>>();

  constructor(private readonly store: Pick<DynamoStore, 'getDefinition'>) {}

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
    return {
      ...stored,
      tasksById: new Map(stored.definition.tasks.map((task) => [task.id, task])),
      dependents: dependentsIndex(stored.definition),
    };
  }
}

export function taskOf(definition: LoadedDefinition, taskId: string): TaskDefinition {
  const task = definition.tasksById.get(taskId);
  if (task === undefined) throw new NotFoundError(`task ${taskId} in ${definition.workflowId}@${definition.version}`);
  return task;
}
