// Workflow definitions in the table: each version under its content hash, and a catalog entry per
// workflow pointing at its latest version (one query lists every workflow).
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { gzipSync } from 'node:zlib';
import type { WorkflowDefinition } from '../../model/definition.js';
import { PayloadTooLargeError } from '../../model/errors.js';
import { definitionVersion } from '../../model/version.js';
import type { DefinitionStore } from '../../engine/ports.js';
import type { StoredDefinition, WorkflowSummary } from '../../engine/records.js';
import { keys } from './keys.js';
import { DefinitionItemSchema, parseItem, toStoredDefinition, toWorkflowSummary } from './items.js';
import type { Table } from './table.js';

export class DynamoDefinitionStore implements DefinitionStore {
  constructor(
    private readonly table: Table,
    private readonly now: () => Date,
  ) {}

  /**
   * Saves a normalized definition under its content version and makes it the workflow's latest.
   * Idempotent on content: `created` is false when the version already existed.
   */
  async saveDefinition(definition: WorkflowDefinition, options: { makeLatest?: 'always' | 'if-created' } = {}): Promise<{ version: string; created: boolean }> {
    const version = definitionVersion(definition);
    const now = this.now().toISOString();
    const pointToLatest = this.latestPointerUpdate(definition, version, now);
    try {
      await this.table.transact({
          // No request token needed: an SDK retry of an applied write finds the version there,
          // which is the same answer as registering the same content again.
          TransactItems: [
            {
              Put: {
                TableName: this.table.name,
                Item: {
                  ...keys.definitionVersion(definition.id, version),
                  kind: 'definition',
                  workflowId: definition.id,
                  version,
                  ...storedForm(JSON.stringify(definition)),
                  taskCount: definition.tasks.length,
                  createdAt: now,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Update: pointToLatest },
          ],
      });
      return { version, created: true };
    } catch (error) {
      const alreadyThere = error instanceof TransactionCanceledException && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed';
      if (!alreadyThere) throw error;
      // Same content registered again: it becomes the latest again, as a redeploy of it would
      // (unless the caller asks to leave latest where it is).
      if ((options.makeLatest ?? 'always') === 'always') await this.table.update(pointToLatest);
      return { version, created: false };
    }
  }

  async getDefinition(workflowId: string, version: string): Promise<StoredDefinition | undefined> {
    const item = await this.table.get(keys.definitionVersion(workflowId, version), { consistent: false });
    return item === undefined ? undefined : toStoredDefinition(item);
  }

  async getWorkflow(workflowId: string): Promise<WorkflowSummary | undefined> {
    const item = await this.table.get(keys.workflowEntry(workflowId));
    return item === undefined ? undefined : toWorkflowSummary(item);
  }

  async listWorkflows(): Promise<WorkflowSummary[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.workflowCatalog().pk },
    });
    return items.map(toWorkflowSummary);
  }

  /** Every version of a workflow, oldest first. */
  async listVersions(workflowId: string): Promise<Array<{ version: string; createdAt: string; taskCount: number }>> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
      ExpressionAttributeValues: { ':pk': `WF#${workflowId}`, ':v': 'V#' },
      ProjectionExpression: 'version, createdAt, taskCount',
    });
    return items
      .map((item) => parseItem(DefinitionItemSchema.pick({ version: true, createdAt: true, taskCount: true }), item, 'definition'))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private latestPointerUpdate(definition: WorkflowDefinition, version: string, now: string) {
    return {
      TableName: this.table.name,
      Key: keys.workflowEntry(definition.id),
      UpdateExpression:
        definition.description === undefined
          ? 'SET workflowId = :id, latestVersion = :version, updatedAt = :now, createdAt = if_not_exists(createdAt, :now) REMOVE description'
          : 'SET workflowId = :id, latestVersion = :version, updatedAt = :now, createdAt = if_not_exists(createdAt, :now), description = :description',
      ExpressionAttributeValues: {
        ':id': definition.id,
        ':version': version,
        ':now': now,
        ...(definition.description === undefined ? {} : { ':description': definition.description }),
      },
    };
  }
}

/** Definitions larger than this are stored gzipped (a big one is very repetitive JSON). */
const COMPRESS_FROM_BYTES = 32 * 1024;
/** What one item may hold of a definition, its other attributes aside. */
const MAX_STORED_BYTES = 350 * 1024;

/** The definition's JSON as stored: as it is, or gzipped; refused when even that cannot fit one item. */
function storedForm(json: string): { definitionJson: string } | { definitionGz: Uint8Array } {
  if (Buffer.byteLength(json, 'utf8') <= COMPRESS_FROM_BYTES) return { definitionJson: json };
  const compressed = gzipSync(json);
  if (compressed.length > MAX_STORED_BYTES) throw new PayloadTooLargeError('definition (compressed)', compressed.length, MAX_STORED_BYTES);
  return { definitionGz: new Uint8Array(compressed) };
}
