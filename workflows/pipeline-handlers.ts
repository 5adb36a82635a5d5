// Handlers of the data_pipeline example: extract splits the input into partitions, one
// transform task per partition cleans its rows, load writes them all and aggregate summarizes.
//
// Tasks carry no per-task parameters, so the four transform tasks share one handler,
// `transform_partition`, which reads its partition number from its own task id (`transform_2` ->
// partition 2). That keeps one handler for any fan-out width; the alternative, one handler name
// per partition, would tie the registry to the width of the DAG.
//
// The run input is `{ partitions?: Array<Array<{ key, value }>>, table?, simulate?: { delayMs } }`;
// without partitions, extract makes PIPELINE_PARTITIONS partitions of sample rows.
import * as z from 'zod';
import { TaskFailure, type TaskHandler } from 'dagflow';
import { parseOrFail, simulateWork, upstreamOutput, workDuration } from './handler-support.js';

/** Width of the fan-out: the workflow has one transform task per partition. */
export const PIPELINE_PARTITIONS = 4;
const SAMPLE_ROWS_PER_PARTITION = 5;

const RowSchema = z.object({ key: z.string().min(1), value: z.number() });
type Row = z.output<typeof RowSchema>;

const PipelineInputSchema = z.object({
  source: z.string().min(1).default('sample'),
  table: z.string().min(1).default('analytics.events'),
  partitions: z
    .array(z.array(RowSchema))
    .min(1)
    .max(PIPELINE_PARTITIONS, `at most ${PIPELINE_PARTITIONS} partitions (one transform task each)`)
    .optional(),
});

const ExtractOutputSchema = z.object({ source: z.string(), partitions: z.array(z.array(RowSchema)) });
const PartitionResultSchema = z.object({
  partition: z.int(),
  rows: z.array(RowSchema),
  count: z.int(),
  sum: z.number(),
});
const PartitionSummarySchema = PartitionResultSchema.omit({ rows: true });
const LoadOutputSchema = z.object({
  table: z.string(),
  rowsLoaded: z.int(),
  partitions: z.array(PartitionSummarySchema),
});

/** The id of the transform task of partition `index`. */
export function transformTaskId(index: number): string {
  return `transform_${index}`;
}

const TRANSFORM_TASK_ID = /^transform_(0|[1-9][0-9]*)$/;

export const extract: TaskHandler = async (ctx) => {
  const input = parseOrFail(PipelineInputSchema, ctx.input ?? {}, 'run input');
  await simulateWork(workDuration(ctx, 100), ctx.signal);
  return { source: input.source, partitions: input.partitions ?? samplePartitions() };
};

export const transformPartition: TaskHandler = async (ctx) => {
  const match = TRANSFORM_TASK_ID.exec(ctx.taskId);
  if (match?.[1] === undefined) {
    throw new TaskFailure('NotAPartitionTask', `transform_partition runs as task transform_<n>, not ${ctx.taskId}`, {
      retryable: false,
    });
  }
  const partition = Number(match[1]);
  const extracted = upstreamOutput(ctx, 'extract', ExtractOutputSchema);
  const rows = extracted.partitions[partition];
  if (rows === undefined) {
    throw new TaskFailure('MissingPartition', `extract produced no partition ${partition}`, { retryable: false });
  }
  await simulateWork(workDuration(ctx, 120), ctx.signal);
  const cleaned: Row[] = rows.map((row) => ({ key: row.key.trim().toLowerCase(), value: Math.round(row.value * 100) / 100 }));
  return { partition, rows: cleaned, count: cleaned.length, sum: round(cleaned.reduce((total, row) => total + row.value, 0)) };
};

/** Reads every transform that ran (a skipped one, for a partition that does not exist, has no output). */
export const load: TaskHandler = async (ctx) => {
  const input = parseOrFail(PipelineInputSchema, ctx.input ?? {}, 'run input');
  const results = Object.entries(ctx.upstream)
    .filter(([taskId, upstream]) => TRANSFORM_TASK_ID.test(taskId) && upstream.output !== undefined)
    .map(([taskId]) => upstreamOutput(ctx, taskId, PartitionResultSchema))
    .sort((a, b) => a.partition - b.partition);
  await simulateWork(workDuration(ctx, 80), ctx.signal);
  return {
    table: input.table,
    rowsLoaded: results.reduce((total, result) => total + result.count, 0),
    partitions: results.map(({ partition, count, sum }) => ({ partition, count, sum })),
  };
};

export const aggregate: TaskHandler = async (ctx) => {
  const loaded = upstreamOutput(ctx, 'load', LoadOutputSchema);
  await simulateWork(workDuration(ctx, 50), ctx.signal);
  const sum = round(loaded.partitions.reduce((total, partition) => total + partition.sum, 0));
  return {
    table: loaded.table,
    partitions: loaded.partitions.length,
    rows: loaded.rowsLoaded,
    sum,
    mean: loaded.rowsLoaded === 0 ? null : round(sum / loaded.rowsLoaded),
  };
};

/** PIPELINE_PARTITIONS partitions of sample rows: `p<i>-r<j>` with value 10 i + j. */
function samplePartitions(): Row[][] {
  return Array.from({ length: PIPELINE_PARTITIONS }, (_, p) =>
    Array.from({ length: SAMPLE_ROWS_PER_PARTITION }, (_, r) => ({ key: `P${p}-R${r}`, value: 10 * p + r })),
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
