// The code form of a definition. The builder only assembles the JSON config form, so both forms
// go through the same schema and checks, and `toJSON()` of a builder is a valid config file.
//
//   workflow('order_processing')
//     .task('validate_payment', { handler: 'check_payment' })
//     .task('charge_payment', { handler: 'run_charge', dependsOn: ['validate_payment'] })
//     .build();
import {
  assertDefinition,
  parseDefinition,
  type ParseOptions,
  type TaskDefinitionInput,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
} from './definition.js';
import { ValidationError, type Problem } from './errors.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A task's fields without its id; `type` may be left out for a handler task. */
export type TaskSpec =
  | DistributiveOmit<Exclude<TaskDefinitionInput, { type: 'handler' }>, 'id'>
  | (Omit<Extract<TaskDefinitionInput, { type: 'handler' }>, 'id' | 'type'> & { type?: 'handler' });

export interface WorkflowOptions {
  description?: string;
  timeoutSeconds?: number;
}

export class WorkflowBuilder {
  private readonly tasks: Array<TaskSpec & { id: string }> = [];

  constructor(
    private readonly id: string,
    private readonly options: WorkflowOptions = {},
  ) {}

  task(id: string, spec: TaskSpec): this {
    this.tasks.push({ id, ...spec });
    return this;
  }

  /** The JSON config form, exactly as a user would write it. */
  toJSON(): WorkflowDefinitionInput {
    return { id: this.id, ...this.options, tasks: this.tasks.map((task) => ({ ...task })) };
  }

  /** Validates and normalizes; throws a ValidationError naming every problem. */
  build(options: ParseOptions = {}): WorkflowDefinition {
    return assertDefinition(this.toJSON(), options);
  }
}

export function workflow(id: string, options: WorkflowOptions = {}): WorkflowBuilder {
  return new WorkflowBuilder(id, options);
}

/** A workflow as a team's code gives it: a builder, or the JSON config form. */
export type WorkflowSource = WorkflowBuilder | WorkflowDefinitionInput;

/**
 * Checks every source and returns its definition; throws one ValidationError naming every
 * problem of every workflow (each path prefixed with the workflow's id), and a duplicate id.
 */
export function buildDefinitions(sources: readonly WorkflowSource[], options: ParseOptions = {}): WorkflowDefinition[] {
  const definitions: WorkflowDefinition[] = [];
  const problems: Problem[] = [];
  const seen = new Set<string>();
  sources.forEach((source, index) => {
    const input = source instanceof WorkflowBuilder ? source.toJSON() : source;
    const label = typeof input.id === 'string' && input.id !== '' ? input.id : `workflows[${index}]`;
    if (seen.has(label)) problems.push({ path: label, message: `workflow "${label}" is given twice` });
    seen.add(label);
    const parsed = parseDefinition(input, options);
    if (parsed.ok) definitions.push(parsed.definition);
    else problems.push(...parsed.problems.map((problem) => ({ path: problem.path === '' ? label : `${label}.${problem.path}`, message: problem.message })));
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return definitions;
}
