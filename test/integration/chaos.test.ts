// The chaos suite's short profile: a dozen runs of every workload shape with every fault at once
// (throttling, transaction conflicts, writes whose answer is lost, workers killed and stalled past
// their lease, duplicated deliveries, replayed stream batches). `npm run chaos` runs the full profile.
import { describe, expect, it } from 'vitest';
import { runScenario, SCENARIOS } from '../chaos/suite.js';

describe('the chaos suite, short profile', () => {
  it('loses, double-commits and strands nothing with every fault at once', async () => {
    const scenario = SCENARIOS.find((candidate) => candidate.name === 'all of them together');
    if (scenario === undefined) throw new Error('the scenario with every fault is missing');
    const result = await runScenario(scenario, { runs: 12, workers: 3, timeLimitMs: 180_000 });
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ runs: 12, lost: 0, doubleCommitted: 0, stuck: 0, wrong: 0 });
    // The faults did happen: a run of this size meets hundreds of them.
    expect(result.faults).toBeGreaterThan(50);
  }, 240_000);
});
