// The public entry point for workflow authors: what a team's own code may use. Everything else
// under shared/ is the engine's inside and free to change.
//
//   import { workflow, TaskFailure, type TaskHandler } from 'dagflow';
//
// - `workflow(id)`: the builder of a definition (the code form; `toJSON()` is the config form), and
//   `buildDefinitions` to check a list of them at once;
// - `DagflowApp`: the shape of a team's app module (its handlers and workflows);
// - `TaskHandler`, `TaskContext`, `HandlerRegistry`: the handler contract;
// - `TaskFailure`: how a handler fails an attempt, retryable or not;
// - the definition types, and `parseDefinition` to check a definition without registering it.
import type { WorkflowSource } from './model/builder.js';
import type { HandlerRegistry } from './tasks/context.js';

export { workflow, WorkflowBuilder, buildDefinitions, type TaskSpec, type WorkflowOptions, type WorkflowSource } from './model/builder.js';
export {
  parseDefinition,
  assertDefinition,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
  type TaskDefinition,
  type TaskDefinitionInput,
  type RetryPolicy,
  type TriggerRule,
} from './model/definition.js';
export type { Condition } from './model/condition.js';
export { ValidationError, type Problem } from './model/errors.js';
export type { TaskError } from './model/task-error.js';
export { TaskFailure, type TaskContext, type TaskHandler, type HandlerRegistry, type TaskLogger } from './tasks/context.js';

/**
 * What a team's app module exports for the local engine (`dagflow-local --app <module>`) and what
 * the CDK construct takes: its handler registry and its workflows.
 */
export interface DagflowApp {
  readonly handlers: HandlerRegistry;
  readonly workflows: readonly WorkflowSource[];
}
