// `npm run bench`: throughput and latency of the engine on the local stack (DynamoDB Local, the
// SQS server, the pollers), plus the DynamoDB and SQS requests it makes per task. Local figures
// measure the engine's own overhead on one machine, not AWS's latencies.
//
//   npm run bench [-- --runs 20 --width 50]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startLocalRuntime } from '../local/runtime.js';
import { assertDefinition } from '../shared/model/definition.js';
import type { RecordedMetrics } from '../shared/engine/metrics.js';
import { handlers } from '../workflows/index.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, width: { type: 'string', default: '50' } },
});
const runs = Number(values.runs);
const width = Number(values.width);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const runtime = await startLocalRuntime({ port: 0, handlers, logLevel: 'SILENT', workerConcurrency: 8, sweepIntervalMs: 5_000 });
  const counts = new Map<string, number>();
  const counter = (service: string) => (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
    const key = `${service}:${context.commandName ?? '?'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return next(args);
  };
  runtime.clients.dynamo.middlewareStack.add(counter('dynamodb'), { step: 'initialize', name: 'bench-count-dynamodb' });
  runtime.clients.sqs.middlewareStack.add(counter('sqs'), { step: 'initialize', name: 'bench-count-sqs' });
  try {
    // root -> `width` parallel pass tasks -> sink
    const middle = Array.from({ length: width }, (_, i) => `t${i}`);
    const definition = assertDefinition({
      id: 'bench_fan_out',
      tasks: [
        { id: 'root', type: 'pass' },
        ...middle.map((id) => ({ id, type: 'pass' as const, dependsOn: ['root'] })),
        { id: 'sink', type: 'pass', dependsOn: middle },
      ],
    });
    const { version } = await runtime.engine.store.definitions.saveDefinition(definition);
    const stored = await runtime.engine.store.definitions.getDefinition(definition.id, version);
    if (stored === undefined) throw new Error('definition not saved');
    const tasksPerRun = definition.tasks.length;
    const metrics = runtime.engine.metrics as RecordedMetrics;
    metrics.values.length = 0;
    counts.clear();

    const started = Date.now();
    const runIds = await Promise.all(
      Array.from({ length: runs }, async () => {
        const { runId } = await runtime.engine.runControl.start({ runId: randomUUID(), definition: stored, input: {} });
        return runId;
      }),
    );
    const durations: number[] = [];
    const pending = new Set(runIds);
    while (pending.size > 0) {
      for (const runId of [...pending]) {
        const run = await runtime.engine.store.runs.getRun(runId);
        if (run?.status === 'COMPLETED' || run?.status === 'FAILED') {
          pending.delete(runId);
          if (run.completedAt !== undefined) durations.push(Date.parse(run.completedAt) - Date.parse(run.createdAt));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const elapsedMs = Date.now() - started;
    const totalTasks = runs * tasksPerRun;
    const latencies = metrics.values.filter((m) => m.name === 'SchedulingLatency').map((m) => m.value).sort((a, b) => a - b);
    const runDurations = durations.sort((a, b) => a - b);
    const dynamodb = [...counts].filter(([k]) => k.startsWith('dynamodb:')).reduce((sum, [, n]) => sum + n, 0);
    const sqsSends = [...counts].filter(([k]) => k.startsWith('sqs:Send')).reduce((sum, [, n]) => sum + n, 0);

    console.log(`\n${runs} runs x ${tasksPerRun} tasks (root -> ${width} parallel -> sink), local stack, ${new Date().toISOString()}`);
    console.log(`  throughput            ${(totalTasks / (elapsedMs / 1000)).toFixed(1)} tasks/s (${totalTasks} tasks in ${(elapsedMs / 1000).toFixed(1)} s)`);
    console.log(`  run duration          p50 ${percentile(runDurations, 50)} ms, p95 ${percentile(runDurations, 95)} ms`);
    console.log(
      `  scheduling latency    p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms, p99 ${percentile(latencies, 99)} ms (queued -> started)`,
    );
    console.log(`  DynamoDB requests     ${(dynamodb / totalTasks).toFixed(2)} per task`);
    console.log(`  SQS sends             ${(sqsSends / totalTasks).toFixed(2)} per task (batches of up to 10)`);
  } finally {
    await runtime.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
