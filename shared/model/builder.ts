// The code form of a definition. The builder only assembles the JSON config form, so both forms
// go through the same schema and checks, and `toJSON()` of a builder is a valid config file.
//
//   workflow('order_processing')
//     .task('validate_payment', { handler: 'check_payment' })
//     .task('charge_payment', { handler: 'run_charge', dependsOn: ['validate_payment'] })
//     .build();
import {
  assertDefinition,
  type ParseOptions,
  type TaskDefinitionInput,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
} from './definition.js';

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
