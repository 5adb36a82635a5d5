// A team's app module for the local engine (`dagflow-local --app <module>`): a TypeScript or
// JavaScript file exporting `handlers` (a Map of handler name to function) and `workflows`
// (builders or JSON definitions), the DagflowApp shape of the public entry point. Every definition
// is checked against the app's handler names before the engine starts.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildDefinitions, type WorkflowSource } from '../shared/model/builder.js';
import type { WorkflowDefinition } from '../shared/model/definition.js';
import { ValidationError } from '../shared/model/errors.js';
import type { HandlerRegistry } from '../shared/tasks/context.js';

export interface LoadedApp {
  readonly handlers: HandlerRegistry;
  readonly definitions: WorkflowDefinition[];
}

/** Loads and checks the app module at `file` (relative to `baseDir`); throws a ValidationError naming what is wrong. */
export async function loadAppModule(file: string, baseDir: string): Promise<LoadedApp> {
  const absolute = resolve(baseDir, file);
  if (!existsSync(absolute)) throw appError(file, `no such file (looked for ${absolute})`);
  const exports = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  return checkApp(file, exports);
}

/** The app's handlers and checked definitions from a module's exports. */
export function checkApp(file: string, exports: Record<string, unknown>): LoadedApp {
  const { handlers, workflows } = exports;
  if (!(handlers instanceof Map) || [...handlers.values()].some((handler) => typeof handler !== 'function')) {
    throw appError(file, 'must export `handlers`, a Map from handler name to an async function (an empty Map if it has none)');
  }
  if (!Array.isArray(workflows)) {
    throw appError(file, 'must export `workflows`, an array of workflow(...) builders or JSON definitions');
  }
  const registry = handlers as HandlerRegistry;
  const definitions = buildDefinitions(workflows as WorkflowSource[], { knownHandlers: new Set(registry.keys()) });
  return { handlers: registry, definitions };
}

function appError(file: string, message: string): ValidationError {
  return new ValidationError([{ path: file, message }]);
}
