// Runs one attempt of a task (or of an inline compensation) by its kind: handler, http, lambda,
// and the built-ins pass, fail and wait. The worker owns everything around the attempt (claim,
// lease, timeout, commit); this module only turns an action and a context into an output or a
// thrown error that `toTaskError` (errors.ts) classifies.
import { renderTemplate, type ValueScope } from '../model/condition.js';
import type { Compensation, TaskDefinition } from '../model/definition.js';
import { TaskFailure, type HandlerRegistry, type TaskContext } from './context.js';
import { executeHttp, type HttpTaskEnv } from './http-task.js';
import { untilAborted } from './until-aborted.js';

/** An inline compensation (`compensate: { type: ... }`); a bare handler name is turned into one by `compensationAction`. */
export type InlineCompensation = Exclude<Compensation, string>;

/** What `executeAction` can run: a task of any kind, or an inline compensation. */
export type ExecutableAction = TaskDefinition | InlineCompensation;

/**
 * Invokes a Lambda function synchronously and resolves with its result. The AWS implementation
 * lives with the worker; it should throw a TaskFailure for a function error (FunctionError set)
 * and let SDK errors through (they are retryable).
 */
export type LambdaInvoker = (functionName: string, payload: unknown, signal: AbortSignal) => Promise<unknown>;

/** What a `workflow` task runs: another workflow, as a child run. */
export type ChildWorkflowSpec = Extract<TaskDefinition, { type: 'workflow' }>['workflow'];

export interface ExecutorEnv extends HttpTaskEnv {
  handlers: HandlerRegistry;
  /**
   * Starts a workflow task's child run, whose end answers `callback` (the worker provides it);
   * resolves once the run exists. Undefined where no child can be started.
   */
  startChild?: (spec: ChildWorkflowSpec, ctx: TaskContext, callback: { token: string }) => Promise<void>;
  /** Undefined where there is no AWS (the local runtime): lambda tasks then fail, not retried. */
  lambdaInvoker?: LambdaInvoker;
}

/** A task's `compensate` as an action: a bare handler name becomes a handler action. */
export function compensationAction(compensation: Compensation): InlineCompensation {
  return typeof compensation === 'string' ? { type: 'handler', handler: compensation } : compensation;
}

/**
 * Runs one attempt and resolves with its output (undefined becomes null, so an output is always
 * JSON-shaped). Rejects with a TaskFailure for a classified failure, with the signal's reason once
 * `ctx.signal` fires (even if a handler ignores the signal: its late result is dropped), or with
 * whatever a handler threw.
 */
export async function executeAction(action: ExecutableAction, ctx: TaskContext, env: ExecutorEnv, callback?: { token: string }): Promise<unknown> {
  ctx.signal.throwIfAborted();
  const output = await run(action, ctx, env, callback);
  return output === undefined ? null : output;
}

function run(action: ExecutableAction, ctx: TaskContext, env: ExecutorEnv, callback: { token: string } | undefined): Promise<unknown> {
  switch (action.type) {
    case 'handler':
      return runHandler(action.handler, action.params === undefined ? ctx : { ...ctx, params: action.params }, env.handlers);
    case 'http':
      return executeHttp(action.http, ctx, env);
    case 'lambda':
      return invokeLambda(action.lambda, ctx, env.lambdaInvoker);
    case 'pass':
      // In a map's task, a pass gives its item, or its output rendered for the item.
      if (ctx.item !== undefined) return Promise.resolve(action.output === undefined ? ctx.item.value : renderTemplate(action.output, valueScope(ctx), { where: 'output' }));
      return Promise.resolve(action.output === undefined ? ctx.input : action.output);
    case 'fail':
      return Promise.reject(new TaskFailure(action.error, action.message ?? action.error, { retryable: false }));
    case 'wait':
      // The scheduler only queues a wait task once it is due, so running it is immediate.
      return Promise.resolve(null);
    case 'callback':
      // Its attempt only begins the wait: the request that hands the token out, if it has one.
      // The answer, later, is the task's output.
      if (callback === undefined) return Promise.reject(new Error('a callback task needs its token to begin'));
      return action.http === undefined ? Promise.resolve(null) : executeHttp(action.http, ctx, env, callback);
    case 'workflow':
      // Like a callback: the attempt starts the child run, whose end is the answer.
      if (callback === undefined || env.startChild === undefined) return Promise.reject(new Error('a workflow task needs its token and a way to start runs'));
      return env.startChild(action.workflow, ctx, callback).then(() => null);
    case 'map':
      // The worker begins a map itself (its items are tasks of the run), never through an executor.
      return Promise.reject(new Error('a map task is begun by the worker'));
  }
}

function runHandler(name: string, ctx: TaskContext, handlers: HandlerRegistry): Promise<unknown> {
  const handler = handlers.get(name);
  if (handler === undefined) {
    return Promise.reject(
      new TaskFailure('UnknownHandler', `no handler named "${name}" is registered in this worker`, { retryable: false }),
    );
  }
  // The executor calls user code: a synchronous throw becomes a rejection like any other.
  return untilAborted(
    new Promise<unknown>((resolve) => resolve(handler(ctx))),
    ctx.signal,
  );
}

type LambdaSpec = Extract<TaskDefinition, { type: 'lambda' }>['lambda'];

function invokeLambda(spec: LambdaSpec, ctx: TaskContext, invoker: LambdaInvoker | undefined): Promise<unknown> {
  if (invoker === undefined) {
    return Promise.reject(
      new TaskFailure('LambdaNotAvailable', 'lambda tasks need the AWS deployment; they are not available locally', {
        retryable: false,
      }),
    );
  }
  const scope = valueScope(ctx);
  const payload =
    spec.payload === undefined
      ? {
          input: ctx.input,
          upstream: ctx.upstream,
          ...(ctx.item === undefined ? {} : { item: ctx.item.value, index: ctx.item.index }),
          runId: ctx.runId,
          taskId: ctx.taskId,
          attempt: ctx.attempt,
          idempotencyKey: ctx.idempotencyKey,
        }
      : renderTemplate(spec.payload, scope, { where: 'lambda.payload' });
  return untilAborted(
    new Promise<unknown>((resolve) => resolve(invoker(spec.functionName, payload, ctx.signal))),
    ctx.signal,
  );
}

/** What a task's templates see: the input, its upstream outputs and, in a map's task, its item. */
export function valueScope(ctx: Pick<TaskContext, 'input' | 'upstream' | 'item'>): ValueScope {
  return { input: ctx.input, upstream: ctx.upstream, ...(ctx.item === undefined ? {} : { item: ctx.item }) };
}
