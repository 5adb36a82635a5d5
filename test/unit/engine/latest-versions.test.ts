// LatestVersions: the API's brief memory of each workflow's latest version.
import { describe, expect, it } from 'vitest';
import { LatestVersions } from '../../../shared/engine/definition-cache.js';
import type { WorkflowSummary } from '../../../shared/engine/records.js';

function catalog(entries: Record<string, string>) {
  const reads: string[] = [];
  return {
    reads,
    entries,
    getWorkflow: (workflowId: string): Promise<WorkflowSummary | undefined> => {
      reads.push(workflowId);
      const latestVersion = entries[workflowId];
      return Promise.resolve(latestVersion === undefined ? undefined : ({ workflowId, latestVersion } as WorkflowSummary));
    },
  };
}

describe('LatestVersions', () => {
  it('reads a workflow once per TTL, and again after it', async () => {
    let now = 0;
    const store = catalog({ wf: 'v1' });
    const latest = new LatestVersions(store, () => now, 1_000);
    expect(await Promise.all([latest.get('wf'), latest.get('wf')])).toEqual(['v1', 'v1']);
    store.entries['wf'] = 'v2';
    now = 999;
    expect(await latest.get('wf')).toBe('v1');
    now = 1_000;
    expect(await latest.get('wf')).toBe('v2');
    expect(store.reads).toEqual(['wf', 'wf']);
  });

  it('reads again at once after a version was registered here (forget)', async () => {
    const store = catalog({ wf: 'v1' });
    const latest = new LatestVersions(store, () => 0, 1_000);
    expect(await latest.get('wf')).toBe('v1');
    store.entries['wf'] = 'v2';
    latest.forget('wf');
    expect(await latest.get('wf')).toBe('v2');
  });

  it('keeps neither an unknown workflow nor a failed read', async () => {
    const store = catalog({});
    const latest = new LatestVersions(store, () => 0, 1_000);
    expect(await latest.get('later')).toBeUndefined();
    store.entries['later'] = 'v1';
    expect(await latest.get('later')).toBe('v1');

    let fail = true;
    const flaky = new LatestVersions(
      { getWorkflow: () => (fail ? Promise.reject(new Error('unavailable')) : Promise.resolve({ workflowId: 'wf', latestVersion: 'v1' } as WorkflowSummary)) },
      () => 0,
      1_000,
    );
    await expect(flaky.get('wf')).rejects.toThrow('unavailable');
    fail = false;
    expect(await flaky.get('wf')).toBe('v1');
  });
});
