// Callback tasks: a task that waits, holding no worker, until an outside system answers
// `POST /callbacks/{token}` (Step Functions' .waitForTaskToken, a Temporal signal).
//
// A token names its attempt (run, task, attempt number) and carries 256 random bits; the store
// keeps only its SHA-256, recorded by the claim of the attempt that hands it out, so nobody can
// answer with a token read from the table, and a token is good for its attempt only. Every answer
// ends the attempt through the same fenced writes as a worker's result (finishAttempt,
// endFailedAttempt): the first answer moves the task on and every later one is refused, and a
// failure answer goes through the task's retry policy (the next attempt hands out a new token).
// An answer that ends the task moves its dependents on at once (eager dispatch, as a worker does
// after its commit), so the next task starts without waiting for the stream; the stream scheduler
// still sees the answer and completes whatever this did not, and counts the task for its run.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TaskError } from '../model/task-error.js';
import { endFailedAttempt, finishAttempt, type AttemptDeps, type EndOutcome } from './attempts.js';
import { compensatedTaskId } from './compensation.js';
import type { DefinitionSource, LoadedDefinition } from './definition-cache.js';
import { Dispatcher, EAGER_DISPATCH_LIMIT, dispatchRun, storedScope } from './dispatch.js';
import { executionPlan } from './execution-plan.js';
import { taskGraph } from './graph.js';
import type { JoinStore, RunStore, TaskStore } from './ports.js';
import type { FinalTaskStatus, TaskRecord } from './records.js';

/** What a token names. */
export interface CallbackAddress {
  runId: string;
  taskId: string;
  attempt: number;
}

/** Random bytes per token: as many as a 256-bit key. */
const SECRET_BYTES = 32;
/** A token is `<base64url of [runId, taskId, attempt]>.<base64url of the secret>`. */
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{4,400})\.([A-Za-z0-9_-]{43})$/;

/** A new token for an attempt, and the hash the store keeps of it. */
export function newCallbackToken(address: CallbackAddress, random: (bytes: number) => Buffer = randomBytes): { token: string; hash: string } {
  const name = Buffer.from(JSON.stringify([address.runId, address.taskId, address.attempt]), 'utf8').toString('base64url');
  const token = `${name}.${random(SECRET_BYTES).toString('base64url')}`;
  return { token, hash: callbackTokenHash(token) };
}

export function callbackTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What a token names, or undefined for anything that is not a token. */
export function parseCallbackToken(token: string): CallbackAddress | undefined {
  const match = TOKEN_PATTERN.exec(token);
  if (match?.[1] === undefined) return undefined;
  let named: unknown;
  try {
    named = JSON.parse(Buffer.from(match[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(named) || named.length !== 3) return undefined;
  const [runId, taskId, attempt] = named as unknown[];
  if (typeof runId !== 'string' || typeof taskId !== 'string' || typeof attempt !== 'number' || !Number.isSafeInteger(attempt) || attempt < 1) return undefined;
  return { runId, taskId, attempt };
}

/** An answer: the task's output, or its failure. */
export type CallbackAnswer = { output: unknown } | { error: TaskError };

export type CallbackOutcome =
  /** Taken: the attempt ended with it (or, for a heartbeat, its deadline moved on). */
  | { outcome: 'accepted'; task: Pick<TaskRecord, 'runId' | 'taskId' | 'attempt'> }
  /** No such token: malformed, or not handed out by the task it names. */
  | { outcome: 'unknown' }
  /** The attempt it was for is over: answered already, timed out, cancelled or retried. */
  | { outcome: 'over'; task: Pick<TaskRecord, 'runId' | 'taskId' | 'status' | 'attempt'> };

export interface CallbackDeps extends AttemptDeps {
  tasks: Pick<TaskStore, 'getTask' | 'finish' | 'retry' | 'archiveAttempts' | 'heartbeatCallback' | 'advance' | 'readScope'>;
  runs: Pick<RunStore, 'getRunInput'>;
  joins: JoinStore;
  definitions: DefinitionSource;
}

/** The final status of a task whose attempt ended so; undefined when the task goes on (a retry) or the answer was refused. */
const FINAL_STATUS: Partial<Record<EndOutcome, FinalTaskStatus>> = { succeeded: 'SUCCEEDED', failed: 'FAILED', cancelled: 'CANCELLED' };

export class Callbacks {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly deps: CallbackDeps) {
    this.dispatcher = new Dispatcher({ tasks: deps.tasks, joins: deps.joins, now: deps.now, timings: deps.timings });
  }

  /** The outside system's answer: ends the attempt the token names, once. */
  async answer(token: string, answer: CallbackAnswer): Promise<CallbackOutcome> {
    const address = parseCallbackToken(token);
    if (address === undefined) return { outcome: 'unknown' };
    return this.answerFor(address, callbackTokenHash(token), answer);
  }

  /**
   * The engine's own answer, by what the token names and its hash: a child run keeps only the
   * hash of its parent's token, never the token.
   */
  async answerFor(address: CallbackAddress, tokenHash: string, answer: CallbackAnswer): Promise<CallbackOutcome> {
    const found = await this.find(address, tokenHash);
    if (found.outcome !== 'found') return found;
    const { task, hash } = found;
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const plan = executionPlan(definition, task.taskId, this.deps.timings);
    const ending = { task, plan, fence: { kind: 'callback' as const, tokenHash: hash } };
    // One operation token for the answer's write, so that it can be recognized on the item after.
    const opToken = this.deps.newToken();
    const deps = { ...this.deps, newToken: () => opToken };
    let ended: Awaited<ReturnType<typeof finishAttempt>>;
    try {
      ended = 'error' in answer ? await endFailedAttempt(deps, ending, answer.error) : await finishAttempt(deps, ending, { status: 'SUCCEEDED', output: answer.output });
    } catch (error) {
      // Applied, and only a step after it failed (the next attempt's message, which the sweeper
      // sends again): the answer was taken, and saying otherwise would have it sent again for a 409.
      const now = await this.deps.tasks.getTask(task.runId, task.taskId).catch(() => undefined);
      if (now?.lastChange === opToken) return { outcome: 'accepted', task };
      throw error;
    }
    // Refused: another answer, the timeout or a cancellation came first.
    if (ended === 'stale') return this.over(task);
    const status = FINAL_STATUS[ended];
    // The answer is taken whatever happens here: a dependent this could not move on is the stream
    // scheduler's, which sees the answer too (every step is a conditional write, done once).
    if (status !== undefined) await this.dispatchAfter(definition, task, status, answer).catch(() => undefined);
    return { outcome: 'accepted', task };
  }

  /** Eager dispatch of the answered task's dependents: queued (their messages sent) or skipped here and now. */
  private async dispatchAfter(definition: LoadedDefinition, task: TaskRecord, status: FinalTaskStatus, answer: CallbackAnswer): Promise<void> {
    // A compensation's dependents are in its run's compensation graph: left to the scheduler.
    if (compensatedTaskId(task.taskId) !== undefined) return;
    const run = dispatchRun(task, taskGraph(definition, this.deps.timings));
    const scope = storedScope(this.deps, task.runId, { outputs: { [task.taskId]: status === 'SUCCEEDED' && 'output' in answer ? { output: answer.output } : {} } });
    const result = await this.dispatcher.afterFinish(run, { taskId: task.taskId, status }, scope, { opTokenFor: () => this.deps.newToken(), eagerLimit: EAGER_DISPATCH_LIMIT });
    if (result.messages.length > 0) await this.deps.queue.send(result.messages);
  }

  /** The outside system is still at work: the wait's heartbeat deadline moves on. */
  async heartbeat(token: string): Promise<CallbackOutcome> {
    const address = parseCallbackToken(token);
    if (address === undefined) return { outcome: 'unknown' };
    const found = await this.find(address, callbackTokenHash(token));
    if (found.outcome !== 'found') return found;
    const { task, hash } = found;
    // Still making its request: the wait (and its heartbeat deadline) has not begun yet.
    if (task.status === 'RUNNING') return { outcome: 'accepted', task };
    const definition = await this.deps.definitions.get(task.workflowId, task.version);
    const heartbeatSeconds = executionPlan(definition, task.taskId, this.deps.timings).callback?.heartbeatSeconds;
    const waitEndsAt = task.wakeAt ?? 0;
    const deadline = heartbeatSeconds === undefined ? waitEndsAt : Math.min(waitEndsAt, this.deps.now().getTime() + heartbeatSeconds * 1000);
    const beat = await this.deps.tasks.heartbeatCallback({ runId: task.runId, taskId: task.taskId, attempt: task.attempt, tokenHash: hash, deadline });
    if (beat.outcome !== 'ok') return this.over(task);
    return { outcome: 'accepted', task };
  }

  /** The task a token names, if the token (by its hash) is one it handed out and its attempt is not over. */
  private async find(address: CallbackAddress, hash: string): Promise<CallbackOutcome | { outcome: 'found'; task: TaskRecord; hash: string }> {
    const task = await this.deps.tasks.getTask(address.runId, address.taskId);
    if (task === undefined || !handedOut(task, hash)) return { outcome: 'unknown' };
    const waiting = task.status === 'WAITING' && task.callbackAttempt === task.attempt;
    if (task.attempt !== address.attempt || !(task.status === 'RUNNING' || waiting)) return overFor(task);
    return { outcome: 'found', task, hash };
  }

  /** A write refused: the task as it now is says why. */
  private async over(task: TaskRecord): Promise<CallbackOutcome> {
    return overFor((await this.deps.tasks.getTask(task.runId, task.taskId)) ?? task);
  }
}

function overFor(task: TaskRecord): CallbackOutcome {
  return { outcome: 'over', task: { runId: task.runId, taskId: task.taskId, status: task.status, attempt: task.attempt } };
}

function handedOut(task: TaskRecord, hash: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(hash)) return false;
  const wanted = Buffer.from(hash, 'hex');
  return (task.callbackTokens ?? []).some((kept) => {
    const candidate = Buffer.from(kept, 'hex');
    return candidate.length === wanted.length && timingSafeEqual(candidate, wanted);
  });
}
