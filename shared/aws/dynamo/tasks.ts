// Task runs in the table. A task's item is created when it is first touched (a dependency's
// outcome, its queueing, its cancellation), so creating a run costs the same for 5 tasks or 5,000.
// Every move is one conditional UpdateItem whose condition comes from TASK_MOVES; a move that
// records a finished attempt is fenced (by the lease token, or by the lease having run out). The
// item stays bounded whatever happens: output and checkpoint have their limits, the error is
// abridged, the attempt list is kept short (older attempts move to an archive item first), and a
// fan-in's outcomes live in join items of their own.
import { TABLE } from '../../config/table-schema.js';
import { TIMINGS } from '../../config/settings.js';
import type { AdvanceOutcome, AdvanceParams, AttemptEnd, AttemptResult, Fence, Outcome, Progress, TaskStore } from '../../engine/ports.js';
import type { AttemptRecord, DependencyCounts, TaskRecord } from '../../engine/records.js';
import { PayloadTooLargeError } from '../../model/errors.js';
import { LIMITS } from '../../model/limits.js';
import type { TaskError } from '../../model/task-error.js';
import { TASK_MOVES } from '../../model/transitions.js';
import { PAYLOAD_KEYS, payloadLimits, type PayloadRef, type PayloadStore } from '../../engine/payloads.js';
import { parseItem, toArchivedAttempts, toTaskRecord, AttemptsItemSchema } from './items.js';
import { ATTEMPTS_PREFIX, TASK_PREFIX, expiryShard, keys, runPartition } from './keys.js';
import { statusIn } from './runs.js';
import type { Item, Table, WriteResult } from './table.js';

const DAY_SECONDS = 86_400;

/** The attribute a dependency's final state is recorded in. */
export const DEPENDENCY_SET = {
  SUCCEEDED: 'depsSucceeded',
  FAILED: 'depsFailed',
  SKIPPED: 'depsSkipped',
  CANCELLED: 'depsCancelled',
} as const;

/** A fan-in's complete join groups are top-level attributes `join_<group>` (a nested path needs its map to exist). */
export const JOIN_GROUP_PREFIX = 'join_';

export interface TaskStoreOptions {
  now: () => Date;
  newToken: () => string;
  retentionDays?: number;
  /** Where outputs over the inline limit go (without it, an output must fit in its item). */
  payloads?: PayloadStore;
}

export class DynamoTaskStore implements TaskStore {
  private readonly ttlSeconds: number;

  constructor(
    private readonly table: Table,
    private readonly options: TaskStoreOptions,
  ) {
    // Task items outlive the latest a run could end by its deadline (30 days), then the retention.
    this.ttlSeconds = ((options.retentionDays ?? TIMINGS.retentionDays) + 30) * DAY_SECONDS;
  }

  async getTask(runId: string, taskId: string): Promise<TaskRecord | undefined> {
    const item = await this.table.get(keys.task(runId, taskId));
    return item === undefined ? undefined : taskRecord(item);
  }

  async readScope(runId: string, taskIds: readonly string[], withInput: boolean): Promise<{ input?: unknown; tasks: Record<string, { status: TaskRecord['status']; output?: unknown }> }> {
    const wanted = [...(withInput ? [keys.input(runId)] : []), ...taskIds.map((taskId) => keys.task(runId, taskId))];
    if (wanted.length === 0) return { tasks: {} };
    const items = await this.table.batchGet(wanted, { projection: 'sk, taskId, #status, outputJson, outputRef, inputJson, inputRef', names: { '#status': 'status' } });
    const result: { input?: unknown; tasks: Record<string, { status: TaskRecord['status']; output?: unknown }> } = { tasks: {} };
    // A large payload is read from its own object, all of them at once.
    await Promise.all(
      items.map(async (item) => {
        if (item['sk'] === 'INPUT') result.input = await this.payloadValue(item['inputJson'], item['inputRef']);
        else if (typeof item['taskId'] === 'string') {
          const output = await this.payloadValue(item['outputJson'], item['outputRef']);
          result.tasks[item['taskId']] = { status: item['status'] as TaskRecord['status'], ...(output === undefined ? {} : { output }) };
        }
      }),
    );
    if (withInput && !('input' in result)) result.input = null;
    return result;
  }

  async readProgress(
    runId: string,
    query: { tasks: readonly string[]; joins: ReadonlyArray<{ taskId: string; phase: number; group: string }>; groups: ReadonlyArray<{ phase: number; group: string }> },
  ): Promise<Progress> {
    const progress: Progress = { tasks: new Map(), joins: new Map(), groups: new Map() };
    const wanted = [
      ...new Set(query.tasks),
    ].map((taskId) => keys.task(runId, taskId));
    const joinKeys = new Map(query.joins.map((join) => [keys.join(runId, join.phase, join.taskId, join.group).sk, `${join.phase}/${join.taskId}/${join.group}`]));
    const groupKeys = new Map(query.groups.map((group) => [keys.done(runId, group.phase, group.group).sk, `${group.phase}/${group.group}`]));
    const all = [...wanted, ...[...joinKeys.keys()].map((sk) => ({ pk: runPartition(runId), sk })), ...[...groupKeys.keys()].map((sk) => ({ pk: runPartition(runId), sk }))];
    if (all.length === 0) return progress;
    // The complete join groups a fan-in holds, for the groups asked about.
    const joinGroupNames = Object.fromEntries([...new Set(query.joins.map((join) => join.group))].map((group, i) => [`#j${i}`, `${JOIN_GROUP_PREFIX}${group}`]));
    const items = await this.table.batchGet(all, {
      projection: ['sk, taskId, #status, phase, opToken, depsSucceeded, depsFailed, depsSkipped, depsCancelled, #s, #f, #k, #c, #finished', ...Object.keys(joinGroupNames)].join(', '),
      names: { '#status': 'status', '#s': 'SUCCEEDED', '#f': 'FAILED', '#k': 'SKIPPED', '#c': 'CANCELLED', '#finished': 'finished', ...joinGroupNames },
    });
    const ids = (value: unknown): string[] => (value instanceof Set ? [...(value as Set<string>)] : []);
    for (const item of items) {
      const sk = String(item['sk']);
      if (sk.startsWith(TASK_PREFIX)) {
        progress.tasks.set(sk.slice(TASK_PREFIX.length), {
          status: item['status'] as TaskRecord['status'],
          phase: Number(item['phase'] ?? 0),
          dependencies: { succeeded: ids(item['depsSucceeded']), failed: ids(item['depsFailed']), skipped: ids(item['depsSkipped']), cancelled: ids(item['depsCancelled']) },
          joinGroups: taskRecord({ ...item, runId: '', workflowId: '', version: '', attempt: 0, updatedAt: '' }).joinGroups,
          ...(typeof item['opToken'] === 'string' ? { lastChange: item['opToken'] } : {}),
        });
      } else if (joinKeys.has(sk)) {
        progress.joins.set(joinKeys.get(sk) ?? '', new Set([...ids(item['SUCCEEDED']), ...ids(item['FAILED']), ...ids(item['SKIPPED']), ...ids(item['CANCELLED'])]));
      } else if (groupKeys.has(sk)) {
        progress.groups.set(groupKeys.get(sk) ?? '', new Set(ids(item['finished'])));
      }
    }
    return progress;
  }

  async readTasks(runId: string, cursor?: string): Promise<{ tasks: TaskRecord[]; cursor?: string }> {
    const page = await this.table.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':prefix': TASK_PREFIX },
      ConsistentRead: true,
      ...(cursor === undefined ? {} : { ExclusiveStartKey: JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Item }),
    });
    return {
      tasks: page.items.map(taskRecord),
      ...(page.lastKey === undefined ? {} : { cursor: Buffer.from(JSON.stringify(page.lastKey)).toString('base64url') }),
    };
  }

  async advance(params: AdvanceParams): Promise<AdvanceOutcome> {
    const now = this.options.now();
    const iso = now.toISOString();
    const key = keys.task(params.runId, params.taskId);
    const sets = [
      ...this.identity(),
      'phase = if_not_exists(phase, :phase)',
      'updatedAt = :now',
    ];
    const values: Record<string, unknown> = { ...this.identityValues(params, now), ':phase': params.phase, ':now': iso };
    const adds: string[] = [];
    if (params.outcome !== undefined) {
      adds.push(`${DEPENDENCY_SET[params.outcome.status]} :dependency`);
      values[':dependency'] = new Set([params.outcome.dependencyId]);
    }
    const next = params.next;
    if (next === undefined) {
      sets.push('#status = if_not_exists(#status, :pending)', 'attempt = if_not_exists(attempt, :zero)');
      values[':pending'] = 'PENDING';
      values[':zero'] = 0;
    } else if (next.kind === 'skip') {
      sets.push('#status = :to', 'attempt = if_not_exists(attempt, :zero)', 'reason = :reason', 'completedAt = :now');
      Object.assign(values, { ':to': TASK_MOVES.skip.to, ':zero': 0, ':reason': next.reason });
    } else {
      const to = next.kind === 'queue' ? TASK_MOVES.queue.to : next.kind === 'wait' ? TASK_MOVES.startWait.to : TASK_MOVES.claimReady.to;
      sets.push('#status = :to', 'attempt = if_not_exists(attempt, :zero) + :one', 'queuedAt = :now', 'dueAt = :dueAt', 'expiryShard = :shard');
      Object.assign(values, { ':to': to, ':zero': 0, ':one': 1, ':shard': expiryShard(key.pk, key.sk) });
      if (next.kind === 'queue') values[':dueAt'] = next.dueAt;
      if (next.kind === 'wait') {
        sets.push('startedAt = :now', 'wakeAt = :wakeAt');
        Object.assign(values, { ':dueAt': next.dueAt, ':wakeAt': next.wakeAt });
      }
      if (next.kind === 'claim') {
        sets.push('startedAt = :now', 'leaseToken = :leaseToken', 'leaseExpiresAt = :leaseExpiresAt');
        // A task claimed at once has no delivery to wait for: the sweeper looks at it when its lease runs out.
        Object.assign(values, { ':dueAt': next.leaseExpiresAt, ':leaseToken': next.leaseToken, ':leaseExpiresAt': next.leaseExpiresAt });
      }
    }
    // Only a task of this phase moves; a decision moves only a PENDING task (every move of a
    // decision starts from PENDING: queue, startWait, claimReady, skip).
    const condition =
      next === undefined ? 'attribute_not_exists(pk) OR phase = :phase' : 'attribute_not_exists(pk) OR (phase = :phase AND #status = :pendingStatus)';
    if (next !== undefined) values[':pendingStatus'] = TASK_MOVES.queue.from[0];
    const result = await this.table.update(
      {
        Key: key,
        UpdateExpression: `SET ${sets.join(', ')}${adds.length === 0 ? '' : ` ADD ${adds.join(', ')}`}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#status': 'status', '#ttl': TABLE.ttlAttribute },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      },
      params.opToken,
    );
    if (result.applied && result.item !== undefined) return { outcome: 'ok', task: taskRecord(result.item) };
    return { outcome: 'conflict', current: result.item === undefined ? undefined : taskRecord(result.item) };
  }

  async claim(params: { runId: string; taskId: string; attempt: number; leaseToken: string; leaseExpiresAt: number; opToken: string; callbackTokenHash?: string; childRunId?: string }): Promise<
    { outcome: 'claimed'; task: TaskRecord } | { outcome: 'not-claimable'; current: TaskRecord | undefined }
  > {
    const move = statusIn(TASK_MOVES.claim.from);
    const callback = params.callbackTokenHash === undefined ? {} : { ':callbackToken': new Set([params.callbackTokenHash]) };
    const result = await this.table.update(
      {
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression:
          'SET #status = :to, leaseToken = :leaseToken, leaseExpiresAt = :leaseExpiresAt, startedAt = :now, updatedAt = :now' +
          (params.childRunId === undefined ? '' : ', childRunId = :childRunId') +
          (params.callbackTokenHash === undefined ? '' : ' ADD callbackTokens :callbackToken'),
        ConditionExpression: `${move.condition} AND attempt = :attempt`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ...move.values,
          ':to': TASK_MOVES.claim.to,
          ':attempt': params.attempt,
          ':leaseToken': params.leaseToken,
          ':leaseExpiresAt': params.leaseExpiresAt,
          ':now': this.options.now().toISOString(),
          ...callback,
          ...(params.childRunId === undefined ? {} : { ':childRunId': params.childRunId }),
        },
        ReturnValues: 'ALL_NEW',
      },
      params.opToken,
    );
    const task = result.item === undefined ? undefined : taskRecord(result.item);
    if (result.applied && task !== undefined) return { outcome: 'claimed', task };
    return { outcome: 'not-claimable', current: task };
  }

  async finish(params: AttemptEnd & { result: AttemptResult }): Promise<Outcome> {
    const { result } = params;
    const move = result.status === 'SUCCEEDED' ? TASK_MOVES.succeed : result.status === 'CANCELLED' ? TASK_MOVES.cancelRunning : TASK_MOVES.fail;
    const fenced = fence(params.fence, params.attempt, move.from);
    const sets = ['#status = :to', 'completedAt = :now', 'updatedAt = :now', 'durationMs = :duration', 'attempts = :attempts'];
    const values: Record<string, unknown> = {
      ...fenced.values,
      ':to': result.status,
      ':now': this.options.now().toISOString(),
      ':duration': params.record.durationMs,
      ':attempts': [...params.keptAttempts, params.record],
    };
    // The due entry stays (see DueStore): its removal would be a second index write per task.
    const removes = ['leaseExpiresAt', 'wakeAt'];
    if (result.status === 'SUCCEEDED') {
      const stored = await this.storedOutput(params, result.output);
      if ('json' in stored) {
        sets.push('outputJson = :output');
        values[':output'] = stored.json;
        removes.push('outputRef');
      } else {
        sets.push('outputRef = :outputRef');
        values[':outputRef'] = stored.ref;
        removes.push('outputJson');
      }
      // The last attempt's error stays in the attempt list, abridged.
      removes.push('#error');
    } else {
      sets.push('#error = :error');
      values[':error'] = result.error;
    }
    return this.outcome(
      await this.table.update(
        {
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
          ConditionExpression: fenced.condition,
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: values,
        },
        params.opToken,
      ),
    );
  }

  async retry(params: AttemptEnd & { error: TaskError; next: { status: 'QUEUED' | 'WAITING'; dueAt: number } }): Promise<Outcome> {
    const move = params.next.status === 'QUEUED' ? TASK_MOVES.retry : TASK_MOVES.park;
    const fenced = fence(params.fence, params.attempt, move.from);
    const key = keys.task(params.runId, params.taskId);
    return this.outcome(
      await this.table.update(
        {
          Key: key,
          UpdateExpression:
            'SET #status = :to, attempt = :nextAttempt, #error = :error, queuedAt = :now, updatedAt = :now, attempts = :attempts, dueAt = :dueAt, expiryShard = :shard' +
            (params.next.status === 'WAITING' ? ', wakeAt = :dueAt' : '') +
            ' REMOVE leaseToken, leaseExpiresAt' +
            (params.next.status === 'QUEUED' ? ', wakeAt' : ''),
          // No retry once the run is being cancelled: the caller records CANCELLED instead.
          ConditionExpression: `${fenced.condition} AND attribute_not_exists(cancelRequested)`,
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ...fenced.values,
            ':to': move.to,
            ':nextAttempt': params.attempt + 1,
            ':error': params.error,
            ':now': this.options.now().toISOString(),
            ':attempts': [...params.keptAttempts, params.record],
            ':dueAt': params.next.dueAt,
            ':shard': expiryShard(key.pk, key.sk),
          },
        },
        params.opToken,
      ),
    );
  }

  async endWait(params: { runId: string; taskId: string; attempt: number; record: AttemptRecord; opToken: string }): Promise<Outcome> {
    const move = statusIn(TASK_MOVES.endWait.from);
    return this.outcome(
      await this.table.update(
        {
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression:
            'SET #status = :to, outputJson = :null, completedAt = :now, updatedAt = :now, durationMs = :duration, ' +
            'attempts = list_append(if_not_exists(attempts, :none), :record) REMOVE wakeAt',
          ConditionExpression: `${move.condition} AND attempt = :attempt`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ...move.values,
            ':to': TASK_MOVES.endWait.to,
            ':attempt': params.attempt,
            ':null': 'null',
            ':now': this.options.now().toISOString(),
            ':duration': params.record.durationMs,
            ':none': [],
            ':record': [params.record],
          },
        },
        params.opToken,
      ),
    );
  }

  async awaitCallback(params: { runId: string; taskId: string; attempt: number; leaseToken: string; waitEndsAt: number; deadline: number; checkAt?: number; opToken: string }): Promise<Outcome> {
    const fenced = fence({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, TASK_MOVES.awaitCallback.from);
    const key = keys.task(params.runId, params.taskId);
    return this.outcome(
      await this.table.update(
        {
          Key: key,
          UpdateExpression:
            'SET #status = :to, callbackAttempt = :attempt, wakeAt = :waitEndsAt, leaseExpiresAt = :deadline, dueAt = :dueAt, expiryShard = :shard, updatedAt = :now REMOVE leaseToken',
          // A run being cancelled meanwhile: the worker records CANCELLED instead.
          ConditionExpression: `${fenced.condition} AND attribute_not_exists(cancelRequested)`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ...fenced.values,
            ':to': TASK_MOVES.awaitCallback.to,
            ':waitEndsAt': params.waitEndsAt,
            ':deadline': params.deadline,
            ':dueAt': Math.min(params.deadline, params.checkAt ?? params.deadline),
            ':shard': expiryShard(key.pk, key.sk),
            ':now': this.options.now().toISOString(),
          },
        },
        params.opToken,
      ),
    );
  }

  async heartbeatCallback(params: { runId: string; taskId: string; attempt: number; tokenHash: string; deadline: number }): Promise<Outcome> {
    return this.outcome(
      await this.table.update({
        Key: keys.task(params.runId, params.taskId),
        // Due no earlier than now: a heartbeat after the wait's end must not leave a due time the sweeper's mark passed.
        UpdateExpression: 'SET leaseExpiresAt = :deadline, dueAt = :dueAt, updatedAt = :now',
        ConditionExpression: '#status = :waiting AND callbackAttempt = :attempt AND attempt = :attempt AND contains(callbackTokens, :tokenHash) AND wakeAt >= :deadline',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':waiting': TASK_MOVES.awaitCallback.to,
          ':attempt': params.attempt,
          ':tokenHash': params.tokenHash,
          ':deadline': params.deadline,
          ':dueAt': Math.max(params.deadline, this.options.now().getTime()),
          ':now': this.options.now().toISOString(),
        },
      }),
    );
  }

  async release(params: { runId: string; taskId: string; attempt: number; dueAt: number; opToken: string }): Promise<Outcome> {
    const move = statusIn(TASK_MOVES.release.from);
    return this.outcome(
      await this.table.update(
        {
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression: 'SET #status = :to, dueAt = :dueAt, queuedAt = :now, updatedAt = :now REMOVE wakeAt',
          ConditionExpression: `${move.condition} AND attempt = :attempt`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ...move.values, ':to': TASK_MOVES.release.to, ':attempt': params.attempt, ':dueAt': params.dueAt, ':now': this.options.now().toISOString() },
        },
        params.opToken,
      ),
    );
  }

  async cancel(params: { runId: string; taskId: string; workflowId: string; version: string; phase: number; reason: string; opToken: string }): Promise<Outcome> {
    const now = this.options.now();
    const move = statusIn(TASK_MOVES.cancel.from);
    return this.outcome(
      await this.table.update(
        {
          Key: keys.task(params.runId, params.taskId),
          UpdateExpression: `SET ${[...this.identity(), 'phase = if_not_exists(phase, :phase)', 'attempt = if_not_exists(attempt, :zero)', '#status = :to', 'reason = :reason', 'completedAt = :now', 'updatedAt = :now'].join(', ')} REMOVE wakeAt`,
          ConditionExpression: `attribute_not_exists(pk) OR (phase = :phase AND ${move.condition})`,
          ExpressionAttributeNames: { '#status': 'status', '#ttl': TABLE.ttlAttribute },
          ExpressionAttributeValues: {
            ...move.values,
            ...this.identityValues(params, now),
            ':phase': params.phase,
            ':zero': 0,
            ':to': TASK_MOVES.cancel.to,
            ':reason': params.reason,
            ':now': now.toISOString(),
          },
        },
        params.opToken,
      ),
    );
  }

  async requestStop(params: { runId: string; taskId: string; phase: number }): Promise<Outcome> {
    return this.outcome(
      await this.table.update({
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: 'SET cancelRequested = :true, updatedAt = :now',
        ConditionExpression: '#status = :running AND phase = :phase',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':true': true, ':running': 'RUNNING', ':phase': params.phase, ':now': this.options.now().toISOString() },
      }),
    );
  }

  async deferDue(params: { runId: string; taskId: string; status: 'QUEUED' | 'WAITING' | 'RUNNING'; attempt: number; previous: number; next: number }): Promise<Outcome> {
    return this.outcome(
      await this.table.update({
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: 'SET dueAt = :next',
        ConditionExpression: '#status = :status AND attempt = :attempt AND dueAt = :previous',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':next': params.next, ':status': params.status, ':attempt': params.attempt, ':previous': params.previous },
      }),
    );
  }

  async extendLease(params: { runId: string; taskId: string; attempt: number; leaseToken: string; leaseExpiresAt: number }): Promise<Outcome> {
    const fenced = fence({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, ['RUNNING']);
    return this.outcome(
      await this.table.update({
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: 'SET leaseExpiresAt = :leaseExpiresAt, updatedAt = :now',
        ConditionExpression: fenced.condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ...fenced.values, ':leaseExpiresAt': params.leaseExpiresAt, ':now': this.options.now().toISOString() },
      }),
    );
  }

  async saveCheckpoint(params: { runId: string; taskId: string; attempt: number; leaseToken: string; checkpoint: unknown }): Promise<Outcome> {
    const checkpointJson = JSON.stringify(params.checkpoint ?? null);
    const bytes = Buffer.byteLength(checkpointJson, 'utf8');
    if (bytes > LIMITS.maxCheckpointBytes) throw new PayloadTooLargeError('checkpoint', bytes, LIMITS.maxCheckpointBytes);
    const fenced = fence({ kind: 'lease', leaseToken: params.leaseToken }, params.attempt, ['RUNNING']);
    return this.outcome(
      await this.table.update({
        Key: keys.task(params.runId, params.taskId),
        UpdateExpression: 'SET checkpointJson = :checkpoint, updatedAt = :now',
        ConditionExpression: fenced.condition,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ...fenced.values, ':checkpoint': checkpointJson, ':now': this.options.now().toISOString() },
      }),
    );
  }

  async isStopRequested(runId: string, taskId: string): Promise<boolean> {
    const item = await this.table.get(keys.task(runId, taskId), { projection: 'cancelRequested' });
    return item?.['cancelRequested'] === true;
  }

  async archiveAttempts(runId: string, taskId: string, attempts: readonly AttemptRecord[]): Promise<void> {
    const first = attempts[0]?.attempt ?? 0;
    await this.table.put({
      Item: { ...keys.attempts(runId, taskId, first), kind: 'attempts', taskId, attempts: [...attempts], [TABLE.ttlAttribute]: this.ttl(this.options.now()) },
    });
  }

  async archivedAttempts(runId: string): Promise<Array<{ taskId: string; attempts: AttemptRecord[] }>> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': runPartition(runId), ':prefix': ATTEMPTS_PREFIX },
    });
    return items.map((item) => toArchivedAttempts(parseItem(AttemptsItemSchema, item, 'attempts')));
  }

  async resetForPhase(params: {
    runId: string;
    taskId: string;
    workflowId: string;
    version: string;
    fromPhase: number;
    phase: number;
    succeededDependencies: readonly string[];
    joinGroups: Record<string, DependencyCounts>;
    allJoinGroups: readonly string[];
    newIdempotencyKey: boolean;
  }): Promise<Outcome> {
    const now = this.options.now();
    const sets = [
      ...this.identity(),
      '#status = :pending',
      'phase = :phase',
      'attempt = if_not_exists(attempt, :zero)',
      'attemptBase = if_not_exists(attempt, :zero)',
      'updatedAt = :now',
    ];
    const values: Record<string, unknown> = { ...this.identityValues(params, now), ':pending': TASK_MOVES.reset.to, ':phase': params.phase, ':zero': 0, ':now': now.toISOString() };
    const removes = ['#error', 'reason', 'completedAt', 'durationMs', 'cancelRequested', 'leaseToken', 'leaseExpiresAt', 'dueAt', 'expiryShard', 'wakeAt', 'outputJson', 'outputRef', 'depsFailed', 'depsSkipped', 'depsCancelled'];
    if (params.succeededDependencies.length > 0) {
      sets.push('depsSucceeded = :succeeded');
      values[':succeeded'] = new Set(params.succeededDependencies);
    } else removes.push('depsSucceeded');
    for (const [group, counts] of Object.entries(params.joinGroups)) {
      sets.push(`${JOIN_GROUP_PREFIX}${group} = :join${group}`);
      values[`:join${group}`] = counts;
    }
    // The earlier phase's counts of the other groups (their failures among them) must not stay.
    for (const group of params.allJoinGroups) if (!Object.hasOwn(params.joinGroups, group)) removes.push(`${JOIN_GROUP_PREFIX}${group}`);
    if (params.newIdempotencyKey) {
      sets.push('keyGeneration = :phase');
    }
    const move = statusIn(TASK_MOVES.reset.from);
    const result = await this.table.update({
      Key: keys.task(params.runId, params.taskId),
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      // Only from an earlier phase: done twice (a resume taken over), the second changes nothing.
      ConditionExpression: `attribute_not_exists(pk) OR (phase < :phase AND ${move.condition})`,
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error', '#ttl': TABLE.ttlAttribute },
      ExpressionAttributeValues: { ...values, ...move.values },
    });
    return this.outcome(result);
  }

  /**
   * An output as its item holds it: inline, or (over the inline limit, with a payload store) an
   * object of its own and a reference. Refused over the store's limit, before anything is written.
   */
  private async storedOutput(params: { runId: string; taskId: string; attempt: number; opToken: string }, output: unknown): Promise<{ json: string } | { ref: PayloadRef }> {
    const json = JSON.stringify(output ?? null);
    const bytes = Buffer.byteLength(json, 'utf8');
    const limits = payloadLimits(this.options.payloads);
    if (bytes > limits.maxOutputBytes) throw new PayloadTooLargeError('task output', bytes, limits.maxOutputBytes);
    if (bytes <= limits.inlineBytes || this.options.payloads === undefined) return { json };
    const key = PAYLOAD_KEYS.output(params.runId, params.taskId, params.attempt, params.opToken);
    await this.options.payloads.put(key, json);
    return { ref: { key, bytes } };
  }

  /** A payload's value: inline JSON, or read from the object its reference names. */
  private async payloadValue(json: unknown, ref: unknown): Promise<unknown> {
    if (typeof json === 'string') return JSON.parse(json) as unknown;
    const key = (ref as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string') return undefined;
    if (this.options.payloads === undefined) throw new Error(`payload ${key} is stored apart, but this store has no payload store`);
    return JSON.parse(await this.options.payloads.get(key)) as unknown;
  }

  /** Identity attributes written by every write that may create a task's item. */
  private identity(): string[] {
    return ['runId = :runId', 'taskId = :taskId', 'workflowId = :workflowId', 'version = :version', '#ttl = if_not_exists(#ttl, :ttl)'];
  }

  private identityValues(params: { runId: string; taskId: string; workflowId: string; version: string }, now: Date): Record<string, unknown> {
    return {
      ':runId': params.runId,
      ':taskId': params.taskId,
      ':workflowId': params.workflowId,
      ':version': params.version,
      ':ttl': this.ttl(now),
    };
  }

  private ttl(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.ttlSeconds;
  }

  private outcome(result: WriteResult): Outcome {
    if (result.applied) return { outcome: 'ok' };
    return { outcome: 'stale', current: result.item === undefined ? undefined : taskRecord(result.item) };
  }
}

/** A task item as a record, with its fan-in's complete join groups gathered from their attributes. */
export function taskRecord(item: Item): TaskRecord {
  const joinGroups: Record<string, DependencyCounts> = {};
  const rest: Item = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(JOIN_GROUP_PREFIX)) joinGroups[name.slice(JOIN_GROUP_PREFIX.length)] = value as DependencyCounts;
    else rest[name] = value;
  }
  return toTaskRecord({ ...rest, joinGroups });
}

/** The condition a fenced write of an attempt's end carries. */
function fence(by: Fence, attempt: number, from: readonly string[]): { condition: string; values: Record<string, unknown> } {
  const move = statusIn(from);
  switch (by.kind) {
    case 'lease':
      return { condition: `${move.condition} AND attempt = :attempt AND leaseToken = :leaseToken`, values: { ...move.values, ':attempt': attempt, ':leaseToken': by.leaseToken } };
    case 'expired':
      // The sweeper's fence: only if the lease has run out by then (a heartbeat may have won).
      return { condition: `${move.condition} AND attempt = :attempt AND leaseExpiresAt <= :expiredBy`, values: { ...move.values, ':attempt': attempt, ':expiredBy': by.now } };
    case 'callback': {
      // Whatever the move, an answer ends the attempt whose token it quotes, begun or waiting.
      const answerable = statusIn(TASK_MOVES.answerCallback.from);
      return {
        condition: `${answerable.condition} AND attempt = :attempt AND contains(callbackTokens, :tokenHash)`,
        values: { ...answerable.values, ':attempt': attempt, ':tokenHash': by.tokenHash },
      };
    }
    case 'callback-expired':
      // The sweeper's: a wait whose deadline passed by then (a heartbeat may have moved it on).
      return {
        condition: '#status = :waiting AND callbackAttempt = :attempt AND attempt = :attempt AND leaseExpiresAt <= :expiredBy',
        values: { ':waiting': TASK_MOVES.awaitCallback.to, ':attempt': attempt, ':expiredBy': by.now },
      };
    case 'dead-letter': {
      // Never claimed, a wait's wake-up, or a lease that ran out: never an attempt another worker holds.
      const idle = statusIn(TASK_MOVES.deadLetter.from.filter((status) => status !== 'RUNNING'));
      return {
        condition: `attempt = :attempt AND (${idle.condition.replaceAll(':from', ':idle')} OR (#status = :running AND leaseExpiresAt <= :expiredBy))`,
        values: {
          ...Object.fromEntries(Object.entries(idle.values).map(([name, value]) => [name.replace(':from', ':idle'), value])),
          ':attempt': attempt,
          ':running': 'RUNNING',
          ':expiredBy': by.now,
        },
      };
    }
  }
}

