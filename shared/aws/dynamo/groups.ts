// The items that count: a fan-in's join groups (the outcomes of up to 32 of its dependencies each)
// and a phase's completion groups (the finished tasks of up to 64 tasks each). Both are string sets
// grown by idempotent ADDs, so a replayed record counts once; both are keyed by the run's phase,
// so a record of an earlier phase never counts in a later one.
import { TABLE } from '../../config/table-schema.js';
import { TIMINGS } from '../../config/settings.js';
import type { CompletionStore, JoinStore } from '../../engine/ports.js';
import type { DependencyCounts, FinalTaskStatus, TaskRecord } from '../../engine/records.js';
import { DoneItemSchema, OutcomeSetsSchema, parseItem } from './items.js';
import { keys } from './keys.js';
import { JOIN_GROUP_PREFIX, taskRecord } from './tasks.js';
import type { Table } from './table.js';

const DAY_SECONDS = 86_400;

function ttlOf(now: Date, retentionDays: number): number {
  // As task items: they outlive the latest a run could end (30 days), then the retention.
  return Math.floor(now.getTime() / 1000) + (retentionDays + 30) * DAY_SECONDS;
}

export class DynamoJoinStore implements JoinStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => Date,
    private readonly retentionDays: number = TIMINGS.retentionDays,
  ) {}

  async recordInGroup(params: { runId: string; taskId: string; phase: number; group: string; dependencyId: string; status: FinalTaskStatus }): Promise<Record<FinalTaskStatus, string[]>> {
    const result = await this.table.update({
      Key: keys.join(params.runId, params.phase, params.taskId, params.group),
      UpdateExpression: 'SET #ttl = if_not_exists(#ttl, :ttl) ADD #outcome :dependency',
      ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute, '#outcome': params.status },
      ExpressionAttributeValues: { ':ttl': ttlOf(this.now(), this.retentionDays), ':dependency': new Set([params.dependencyId]) },
      ReturnValues: 'ALL_NEW',
    });
    return parseItem(OutcomeSetsSchema, result.item ?? {}, 'join group');
  }

  async seedGroup(params: { runId: string; taskId: string; phase: number; group: string; succeeded: readonly string[] }): Promise<void> {
    if (params.succeeded.length === 0) return;
    await this.table.update({
      Key: keys.join(params.runId, params.phase, params.taskId, params.group),
      UpdateExpression: 'SET #ttl = if_not_exists(#ttl, :ttl) ADD SUCCEEDED :succeeded',
      ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute },
      ExpressionAttributeValues: { ':ttl': ttlOf(this.now(), this.retentionDays), ':succeeded': new Set(params.succeeded) },
    });
  }

  async completeGroup(params: {
    runId: string;
    taskId: string;
    workflowId: string;
    version: string;
    phase: number;
    group: string;
    counts: DependencyCounts;
  }): Promise<TaskRecord | undefined> {
    const result = await this.table.update({
      Key: keys.task(params.runId, params.taskId),
      // The fan-in's own item may not exist yet: its outcomes are in its join groups.
      UpdateExpression:
        'SET #group = :counts, runId = :runId, taskId = :taskId, workflowId = :workflowId, version = :version, phase = if_not_exists(phase, :phase), ' +
        '#status = if_not_exists(#status, :pending), attempt = if_not_exists(attempt, :zero), updatedAt = :now, #ttl = if_not_exists(#ttl, :ttl)',
      ConditionExpression: 'attribute_not_exists(pk) OR phase = :phase',
      ExpressionAttributeNames: { '#group': `${JOIN_GROUP_PREFIX}${params.group}`, '#status': 'status', '#ttl': TABLE.ttlAttribute },
      ExpressionAttributeValues: {
        ':counts': params.counts,
        ':runId': params.runId,
        ':taskId': params.taskId,
        ':workflowId': params.workflowId,
        ':version': params.version,
        ':phase': params.phase,
        ':pending': 'PENDING',
        ':zero': 0,
        ':now': this.now().toISOString(),
        ':ttl': ttlOf(this.now(), this.retentionDays),
      },
      ReturnValues: 'ALL_NEW',
    });
    return result.applied && result.item !== undefined ? taskRecord(result.item) : undefined;
  }
}

export class DynamoCompletionStore implements CompletionStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => Date,
    private readonly retentionDays: number = TIMINGS.retentionDays,
  ) {}

  async recordFinished(params: { runId: string; phase: number; group: string; taskIds: readonly string[]; failed: readonly string[] }): Promise<{ finished: string[]; failed: string[] }> {
    const result = await this.table.update({
      Key: keys.done(params.runId, params.phase, params.group),
      UpdateExpression: `SET #ttl = if_not_exists(#ttl, :ttl) ADD finished :finished${params.failed.length === 0 ? '' : ', failed :failed'}`,
      ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute },
      ExpressionAttributeValues: {
        ':ttl': ttlOf(this.now(), this.retentionDays),
        ':finished': new Set(params.taskIds),
        ...(params.failed.length === 0 ? {} : { ':failed': new Set(params.failed) }),
      },
      ReturnValues: 'ALL_NEW',
    });
    return parseItem(DoneItemSchema, result.item ?? {}, 'completion group');
  }

  async seedGroup(params: { runId: string; phase: number; group: string; taskIds: readonly string[] }): Promise<void> {
    if (params.taskIds.length === 0) return;
    await this.table.update({
      Key: keys.done(params.runId, params.phase, params.group),
      UpdateExpression: 'SET #ttl = if_not_exists(#ttl, :ttl) ADD finished :finished',
      ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute },
      ExpressionAttributeValues: { ':ttl': ttlOf(this.now(), this.retentionDays), ':finished': new Set(params.taskIds) },
    });
  }
}
