// Content-addressed versions: the same definition always gets the same version, whatever the
// order of its keys, its tasks or a task's dependencies, and whichever defaults were written out.
import { createHash } from 'node:crypto';
import type { WorkflowDefinition } from './definition.js';

/** JSON with object keys sorted at every level; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** The version of a normalized definition: 16 hex digits of the SHA-256 of its canonical form. */
export function definitionVersion(definition: WorkflowDefinition): string {
  const tasks = [...definition.tasks]
    .map((task) => ({ ...task, dependsOn: [...task.dependsOn].sort() }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return createHash('sha256').update(canonicalJson({ ...definition, tasks })).digest('hex').slice(0, 16);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}
