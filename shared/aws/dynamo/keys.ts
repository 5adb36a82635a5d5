// The single table's keys: every item of a run lives in the run's partition (one query reads a
// run), definitions in their workflow's, idempotency keys in their own.
//
//   WORKFLOWS            / WF#<workflowId>               the catalog entry (latest version)
//   WF#<workflowId>      / V#<version>                   a definition version
//   RUN#<runId>          / RUN                           the run (small: no input)
//   RUN#<runId>          / INPUT                         its input, written once
//   RUN#<runId>          / TASK#<taskId>                 a task run (created when first touched)
//   RUN#<runId>          / ITEM#<mapId>#<phase>#<attempt>#<index>  a map task's item (an item task)
//   RUN#<runId>          / MAPDONE#<mapId>#<phase>#<attempt>#<chunk> a chunk of a map's finished items
//   RUN#<runId>          / JOIN#<phase>#<taskId>#<group> a fan-in's outcomes, one group of dependencies
//   RUN#<runId>          / DONE#<phase>#<group>          a completion group's finished tasks
//   RUN#<runId>          / ATTEMPTS#<taskId>#<attempt>   attempts moved off a task item
//   RUN#<runId>          / PHASE#<phase>                 what a resume kept of the phase it ended
//   IDEMP#<key>          / IDEMP                         the run an Idempotency-Key created
//   SCHEDULES            / SCHEDULE#<workflowId>#<id>    a workflow schedule (one query lists them all)
//   SWEEPER              / MARK                          the sweeper's mark (due times handled so far)
import { createHash } from 'node:crypto';
import { TABLE } from '../../config/table-schema.js';
import { isItemTaskId } from '../../engine/map-items.js';

export const keys = {
  workflowCatalog: () => ({ pk: 'WORKFLOWS' }),
  workflowEntry: (workflowId: string) => ({ pk: 'WORKFLOWS', sk: `WF#${workflowId}` }),
  definitionVersion: (workflowId: string, version: string) => ({ pk: `WF#${workflowId}`, sk: `V#${version}` }),
  run: (runId: string) => ({ pk: runPartition(runId), sk: 'RUN' }),
  input: (runId: string) => ({ pk: runPartition(runId), sk: 'INPUT' }),
  /** A workflow task, or (by its id) a map's item task, kept apart so the run's task list never holds them. */
  task: (runId: string, taskId: string) => ({ pk: runPartition(runId), sk: `${isItemTaskId(taskId) ? ITEM_PREFIX : TASK_PREFIX}${taskId}` }),
  /** Every item of one attempt of a map, by the prefix of its item ids. */
  mapItems: (runId: string, itemIdPrefix: string) => ({ pk: runPartition(runId), skPrefix: `${ITEM_PREFIX}${itemIdPrefix}` }),
  mapChunk: (runId: string, itemIdPrefix: string, chunk: number) => ({ pk: runPartition(runId), sk: `${MAP_CHUNK_PREFIX}${itemIdPrefix}${chunk}` }),
  join: (runId: string, phase: number, taskId: string, group: string) => ({ pk: runPartition(runId), sk: `JOIN#${phase}#${taskId}#${group}` }),
  done: (runId: string, phase: number, group: string) => ({ pk: runPartition(runId), sk: `${DONE_PREFIX}${phase}#${group}` }),
  attempts: (runId: string, taskId: string, firstAttempt: number) => ({ pk: runPartition(runId), sk: `${ATTEMPTS_PREFIX}${taskId}#${String(firstAttempt).padStart(6, '0')}` }),
  phase: (runId: string, phase: number) => ({ pk: runPartition(runId), sk: `${PHASE_PREFIX}${String(phase).padStart(6, '0')}` }),
  idempotency: (key: string) => ({ pk: `IDEMP#${key}`, sk: 'IDEMP' }),
  schedules: () => ({ pk: 'SCHEDULES' }),
  sweepMark: () => ({ pk: 'SWEEPER', sk: 'MARK' }),
  schedule: (workflowId: string, scheduleId: string) => ({ pk: 'SCHEDULES', sk: `${SCHEDULE_PREFIX}${workflowId}#${scheduleId}` }),
  runsByWorkflow: (workflowId: string) => `WF#${workflowId}`,
  runsByWorkflowSort: (createdAt: string, runId: string) => `${createdAt}#${runId}`,
  /** A run's runsByTime partition: the UTC day it was created on, and its write shard. */
  runsByTime: (createdAt: string, runId: string) => runsByTimePartition(createdAt.slice(0, 'yyyy-mm-dd'.length), runsByTimeShard(runId)),
};

/** Run ids as the API accepts them (UUIDs, or ids of at most 64 letters, digits, _ and -). */
export const RUN_ID_PATTERN = '[A-Za-z0-9][A-Za-z0-9_-]{0,63}';
/** A runs index sort key exactly as createRun writes it: `<createdAt, ISO with ms>#<runId>`. */
export const RUNS_SORT_KEY = new RegExp(`^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z#${RUN_ID_PATTERN}$`);

export const TASK_PREFIX = 'TASK#';
export const ITEM_PREFIX = 'ITEM#';
export const MAP_CHUNK_PREFIX = 'MAPDONE#';
export const DONE_PREFIX = 'DONE#';
export const ATTEMPTS_PREFIX = 'ATTEMPTS#';
export const PHASE_PREFIX = 'PHASE#';
export const SCHEDULE_PREFIX = 'SCHEDULE#';

export function runPartition(runId: string): string {
  return `RUN#${runId}`;
}

/** The run id of a run partition's key. */
export function runIdOf(pk: string): string {
  return pk.slice('RUN#'.length);
}

export function runsByTimePartition(day: string, shard: number): string {
  return `RUNS#${day}#${shard}`;
}

/** A run's write shard in the runsByTime index: a stable hash of its id, so a run stays in one. */
export function runsByTimeShard(runId: string): number {
  return createHash('sha1').update(runId).digest().readUInt32BE(0) % TABLE.indexes.runsByTime.shardCount;
}

/** The expiry index's partitions, `EXP#0` to `EXP#<shardCount - 1>`. */
export const EXPIRY_SHARDS: readonly string[] = Array.from({ length: TABLE.indexes.expiries.shardCount }, (_, i) => `EXP#${i}`);

/** The expiry-index partition of an item: a stable hash, so an item stays in one of them. */
export function expiryShard(pk: string, sk: string): string {
  const digest = createHash('sha1').update(`${pk}/${sk}`).digest();
  return EXPIRY_SHARDS[digest.readUInt32BE(0) % EXPIRY_SHARDS.length] ?? '';
}
