// Child workflows: a `workflow` task starts a run of another workflow and takes its output. It is
// a callback task whose outside system is the engine itself: its attempt makes up a token (whose
// hash the claim records, as for any callback), starts the child run with that hash (never the
// token) in the run's `parent` link, and waits WAITING, holding no worker. When the child run ends,
// RunEnd answers by the hash with the child's output (or its failure), through the same fenced writes as
// `POST /callbacks/{token}`: the parent task ends once, and a failure goes through its retry policy
// (the next attempt starts a new child run). Should that answer be lost (a crash between the
// child's end and it), the sweeper looks at every waiting parent task now and then and answers
// from the child's state. Cancelling the parent run cancels the child.
import { createHash } from 'node:crypto';
import type { WorkflowDefinition } from '../model/definition.js';
import type { TaskError } from '../model/task-error.js';
import { EngineError } from '../model/errors.js';
import type { CallbackOutcome, Callbacks } from './callbacks.js';
import type { LoadedDefinition } from './definition-cache.js';
import type { RunStore, TaskStore } from './ports.js';
import type { RunRecord, TaskRecord } from './records.js';
import { isFinalRunStatus } from '../model/states.js';

/** The child run of a workflow task's attempt: always the same id, so a repeated start is recognized. */
export function childRunId(parent: { runId: string; taskId: string; attempt: number }): string {
  const hex = createHash('sha256').update(`child:${parent.runId}/${parent.taskId}/${parent.attempt}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The tasks nothing depends on: a run's output is theirs. */
export function leafTaskIds(definition: WorkflowDefinition): string[] {
  const upstream = new Set(definition.tasks.flatMap((task) => task.dependsOn));
  return definition.tasks.map((task) => task.id).filter((id) => !upstream.has(id));
}

/** A run's output: the outputs of its leaf tasks, by task id (a leaf without an output is left out). */
export function runOutput(definition: WorkflowDefinition, outputs: Readonly<Record<string, { output?: unknown } | undefined>>): Record<string, unknown> {
  const output: Record<string, unknown> = {};
  for (const id of leafTaskIds(definition)) {
    const value = outputs[id]?.output;
    if (value !== undefined) output[id] = value;
  }
  return output;
}

/** How a child run's end is its parent task's answer. */
export function childAnswer(child: Pick<RunRecord, 'runId' | 'status' | 'error'>, output: () => Promise<unknown>): Promise<{ output: unknown } | { error: TaskError }> {
  if (child.status === 'COMPLETED') return output().then((value) => ({ output: value }));
  const cause = child.error === undefined ? '' : `: ${child.error.name}: ${child.error.message}`;
  const error: TaskError =
    child.status === 'CANCELLED'
      ? { name: 'ChildWorkflowCancelled', message: `child run ${child.runId} was cancelled${cause}`, retryable: false, details: { childRunId: child.runId } }
      : { name: 'ChildWorkflowFailed', message: `child run ${child.runId} failed${cause}`, retryable: true, details: { childRunId: child.runId } };
  return Promise.resolve({ error });
}

export interface ChildRunsDeps {
  runs: Pick<RunStore, 'getRun' | 'requestCancel'>;
  tasks: Pick<TaskStore, 'readScope'>;
  definitions: { get(workflowId: string, version: string): Promise<LoadedDefinition> };
  callbacks: Pick<Callbacks, 'answerFor'>;
}

export class ChildRuns {
  constructor(private readonly deps: ChildRunsDeps) {}

  /**
   * A child run ended: its parent task's attempt ends with it (once; a repeat is refused as over).
   * An output the parent cannot take (over its limit, or its object refused) fails the parent task
   * instead, not retried: an answer that can never be written would leave the parent waiting.
   */
  async ended(child: RunRecord): Promise<CallbackOutcome | undefined> {
    const parent = child.parent;
    if (parent === undefined || !isFinalRunStatus(child.status)) return undefined;
    const address = { runId: parent.runId, taskId: parent.taskId, attempt: parent.attempt };
    try {
      return await this.deps.callbacks.answerFor(address, parent.tokenHash, await childAnswer(child, () => this.output(child)));
    } catch (error) {
      if (!(error instanceof EngineError) || error.retryable) throw error;
      const refused = { name: 'ChildWorkflowOutputRefused', message: `the output of child run ${child.runId} could not be kept: ${error.message}`, retryable: false };
      return this.deps.callbacks.answerFor(address, parent.tokenHash, { error: refused });
    }
  }

  /**
   * The sweeper's look at a parent task waiting for its child: answered from the child's state
   * if the child has ended. Returns whether the wait is over (answered now, or over already).
   */
  async check(task: Pick<TaskRecord, 'childRunId'>): Promise<boolean> {
    if (task.childRunId === undefined) return false;
    const child = await this.deps.runs.getRun(task.childRunId);
    if (child === undefined || !isFinalRunStatus(child.status)) return false;
    const answered = await this.ended(child);
    return answered !== undefined && answered.outcome !== 'unknown';
  }

  /** The parent task ended without its child (cancelled, timed out): the child is cancelled too. */
  async cancel(task: Pick<TaskRecord, 'childRunId'>, reason: string): Promise<void> {
    if (task.childRunId === undefined) return;
    await this.deps.runs.requestCancel({ runId: task.childRunId, reason, outcome: 'CANCELLED' });
  }

  private async output(child: RunRecord): Promise<Record<string, unknown>> {
    const { definition } = await this.deps.definitions.get(child.workflowId, child.version);
    return runOutput(definition, (await this.deps.tasks.readScope(child.runId, leafTaskIds(definition), false)).tasks);
  }
}
