// `npm run size`: each Lambda bundle built as `cdk deploy` builds it (esbuild, ESM, minified, the
// AWS SDK bundled), its size from esbuild's metafile with the largest inputs, and its cold start
// cost: the time to import the bundle in a fresh node process (module init: the SDK clients, the
// config, the handler's wiring), the median of 5. Budgets: worker 300 KB, the others 200 KB, init
// 150 ms; bundling the AWS SDK (as the stack does, for the locked versions and a faster init than
// the runtime's unbundled copy) keeps every bundle above them for now: see the README.
//   npm run size               the table, and what is over budget
//   npm run size -- --check    exits non-zero when something is over budget
//   npm run size -- --json F   also writes the figures as JSON
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { ENGINE_FUNCTION_NAMES, type EngineFunctionName } from '../infra/constructs/functions.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The budgets: the worker carries the team's handlers and the task executors. */
const BUDGET_KB: Record<EngineFunctionName, number> = { api: 200, scheduler: 200, worker: 300, sweeper: 200, dlq: 200, register: 200, trigger: 200 };
const INIT_BUDGET_MS = 150;
const IMPORTS = 5;
/** What a deployed function finds in its environment (values made up; nothing is called at import). */
const DEPLOYED_ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'size',
  AWS_SECRET_ACCESS_KEY: 'size',
  TABLE_NAME: 'dagflow',
  TASK_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/tasks',
  TASK_DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/tasks-dlq',
  HANDLER_NAMES: 'validate_payment,reserve_inventory',
  HTTP_ALLOWED_HOSTS: '',
  POWERTOOLS_SERVICE_NAME: 'dagflow',
  POWERTOOLS_METRICS_NAMESPACE: 'Dagflow',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export interface BundleFigures {
  function: EngineFunctionName;
  bytes: number;
  budgetBytes: number;
  /** Median time to import the bundle in a fresh process, ms. */
  initMs: number;
  /** The largest inputs (by bytes in the output), grouped by package. */
  largest: Array<{ input: string; bytes: number }>;
}

async function bundle(name: EngineFunctionName, outDir: string): Promise<{ file: string; metafile: Metafile }> {
  const file = path.join(outDir, `${name}.mjs`);
  const result = await build({
    entryPoints: [path.join(ROOT, 'lambdas', name, 'index.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // The stack builds for node24; node20 here so that the bundle also imports on older machines.
    target: 'node20',
    mainFields: ['module', 'main'],
    minify: true,
    keepNames: true,
    metafile: true,
    logLevel: 'silent',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  return { file, metafile: result.metafile };
}

/** Bytes in the output by package (node_modules/<name>) or by project folder. */
function largestInputs(metafile: Metafile): Array<{ input: string; bytes: number }> {
  const byGroup = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const group = match?.[1] ?? input.split('/').slice(0, 2).join('/');
      byGroup.set(group, (byGroup.get(group) ?? 0) + bytesInOutput);
    }
  }
  return [...byGroup.entries()]
    .map(([input, bytes]) => ({ input, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 5);
}

function importMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t));`;
  const times: number[] = [];
  for (let i = 0; i < IMPORTS; i++) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...DEPLOYED_ENV }, encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`importing the ${path.basename(file)} bundle failed:\n${child.stderr}`);
    times.push(Number(child.stdout));
  }
  return times.sort((a, b) => a - b)[Math.floor(IMPORTS / 2)] ?? Number.NaN;
}

export async function measureBundles(): Promise<BundleFigures[]> {
  const outDir = mkdtempSync(path.join(tmpdir(), 'dagflow-size-'));
  try {
    const figures: BundleFigures[] = [];
    for (const name of ENGINE_FUNCTION_NAMES) {
      const { file, metafile } = await bundle(name, outDir);
      figures.push({ function: name, bytes: statSync(file).size, budgetBytes: BUDGET_KB[name] * 1024, initMs: importMs(file), largest: largestInputs(metafile) });
    }
    return figures;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { json: { type: 'string' }, check: { type: 'boolean', default: false } } });
  const figures = await measureBundles();
  const rows = figures.map((f) => [
    f.function,
    kb(f.bytes),
    kb(f.budgetBytes),
    `${f.initMs.toFixed(0)} ms`,
    f.largest.map((input) => `${input.input} ${kb(input.bytes)}`).join(', '),
  ]);
  const header = ['function', 'bundle (minified)', 'budget', `cold import (median of ${IMPORTS})`, 'largest parts'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(`${[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')}\n`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(figures, null, 2)}\n`);
  const over = figures.filter((f) => f.bytes > f.budgetBytes || f.initMs > INIT_BUDGET_MS);
  for (const f of over) process.stdout.write(`over budget: ${f.function} (${kb(f.bytes)} of ${kb(f.budgetBytes)}, ${f.initMs.toFixed(0)} ms of ${INIT_BUDGET_MS} ms)\n`);
  process.exitCode = values.check && over.length > 0 ? 1 : 0;
}
