// `npm run chaos`: every scenario of the chaos suite, one after the other, then the table.
//   npm run chaos                      the full profile: 130 runs per scenario, 1,040 in all
//   npm run chaos -- --runs 20         fewer runs per scenario
//   npm run chaos -- --only "workers killed"
//   npm run chaos -- --json chaos.json also writes the results as JSON
// Exits non-zero when any run was lost, double-committed, stuck or ended wrong.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatTable, runScenario, SCENARIOS, type ScenarioResult } from './suite.js';

// The SDK's notice that its 2027 releases need Node 22 is noise here (and in the worker processes).
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '130' },
    only: { type: 'string' },
    json: { type: 'string' },
    workers: { type: 'string', default: '3' },
  },
});
const runs = Number(values.runs);
const workers = Number(values.workers);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, not ${values.runs}`);
if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive whole number, not ${values.workers}`);
const scenarios = values.only === undefined ? SCENARIOS : SCENARIOS.filter((scenario) => scenario.name === values.only);
if (scenarios.length === 0) throw new Error(`no scenario is called "${values.only}"; there are: ${SCENARIOS.map((s) => s.name).join(', ')}`);

const results: ScenarioResult[] = [];
for (const scenario of scenarios) {
  const began = Date.now();
  process.stdout.write(`${scenario.name}: ${runs} runs... `);
  const result = await runScenario(scenario, { runs, workers, timeLimitMs: Math.max(240_000, runs * 3_000) });
  results.push(result);
  const bad = result.lost + result.doubleCommitted + result.stuck + result.wrong;
  process.stdout.write(`${bad === 0 ? 'ok' : 'BROKEN'} in ${((Date.now() - began) / 1000).toFixed(0)} s\n`);
  for (const problem of result.problems.slice(0, 20)) process.stdout.write(`  ${problem}\n`);
  if (result.problems.length > 20) process.stdout.write(`  ... and ${result.problems.length - 20} more\n`);
}
process.stdout.write(`\n${formatTable(results)}\n`);
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
const broken = results.some((result) => result.lost + result.doubleCommitted + result.stuck + result.wrong > 0);
process.exitCode = broken ? 1 : 0;
