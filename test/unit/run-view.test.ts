// GET /runs/{runId}'s view: `why` on the tasks that are not final, and an ended run's critical path.
import { describe, expect, it } from 'vitest';
import type { RunView } from '../../client/index.js';
import { runView } from '../../lambdas/api/routes.js';
import type { RunRecord, StoredDefinition, TaskRecord } from '../../shared/engine/records.js';
import { assertDefinition } from '../../shared/model/definition.js';
import { at, runRecord, T0, taskRecord } from './support/records.js';

const stored: StoredDefinition = {
  workflowId: 'w',
  version: '0123456789abcdef',
  createdAt: at(0),
  definition: assertDefinition({
    id: 'w',
    tasks: [
      { id: 'a', type: 'pass' },
      { id: 'side', type: 'pass' },
      { id: 'b', type: 'pass', dependsOn: ['a'] },
    ],
  }),
};

function run(status: RunRecord['status']): RunRecord {
  return runRecord(status, { version: stored.version, taskCount: 3, ...(status === 'COMPLETED' ? { completedAt: at(500) } : {}) });
}

function task(taskId: string, status: TaskRecord['status'], start: number, end?: number): TaskRecord {
  return taskRecord(taskId, status, {
    version: stored.version,
    startedAt: at(start),
    ...(end === undefined ? { leaseExpiresAt: T0 + 330_000 } : { completedAt: at(end), durationMs: end - start }),
  });
}

describe('runView', () => {
  it('explains the tasks that are not final, and shows no critical path while the run goes on', () => {
    // Typed as the client's RunView: the client's types must keep up with the view.
    const view: RunView = runView(run('RUNNING'), {}, [task('a', 'RUNNING', 10), task('side', 'SUCCEEDED', 0, 50)], stored, T0 + 1_000);
    const [a, side, b] = view.tasks;
    expect(a).toMatchObject({ taskId: 'a', status: 'RUNNING', attempt: 1, why: { code: 'running', attempt: 1, since: at(10), leaseUntil: at(330_000) } });
    expect(side).not.toHaveProperty('why');
    expect(b).toEqual({ taskId: 'b', type: 'pass', status: 'PENDING', attempt: 0, dependsOn: ['a'], why: { code: 'waiting_for_dependencies', message: 'waiting for a (RUNNING) (0 of 1 done)', waitingFor: ['a'] } });
    expect(view).not.toHaveProperty('criticalPath');
  });

  it('shows an ended run\'s critical path and marks its tasks', () => {
    const view: RunView = runView(run('COMPLETED'), {}, [task('a', 'SUCCEEDED', 10, 100), task('side', 'SUCCEEDED', 0, 50), task('b', 'SUCCEEDED', 120, 500)], stored, T0 + 1_000);
    expect(view.criticalPath).toEqual([
      { taskId: 'a', startedAt: at(10), completedAt: at(100), durationMs: 90, waitMs: 10 },
      { taskId: 'b', startedAt: at(120), completedAt: at(500), durationMs: 380, waitMs: 20 },
    ]);
    expect(view.tasks.map((t) => [t.taskId, t.onCriticalPath])).toEqual([
      ['a', true],
      ['side', undefined],
      ['b', true],
    ]);
    expect(view.tasks.some((t) => 'why' in t)).toBe(false);
  });

  it("carries outputs up to its budget and links the rest, and links an output or input stored apart", () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const tasks = [
      { ...task('a', 'SUCCEEDED', 10, 100), output: { big } },
      { ...task('side', 'SUCCEEDED', 0, 50), outputRef: { key: 'runs/r/tasks/side/1-t.json', bytes: 9_000_000 } },
      { ...task('b', 'SUCCEEDED', 120, 500), output: { big } },
    ];
    const view: RunView = runView(run('COMPLETED'), undefined, tasks, stored, T0 + 1_000, { inputRef: { key: 'runs/r/input.json', bytes: 7_000_000 } });
    const runId = view.runId;
    const [a, side, b] = view.tasks;
    // The first 2 MB output fits the 2.5 MB budget; the second does not, and is a link like the one stored apart.
    expect(a?.output).toEqual({ big });
    expect(side).toMatchObject({ outputRef: { bytes: 9_000_000, href: `/runs/${runId}/tasks/side/output` } });
    expect(side).not.toHaveProperty('output');
    expect(b).toMatchObject({ outputRef: { bytes: big.length + 10, href: `/runs/${runId}/tasks/b/output` } });
    expect(b).not.toHaveProperty('output');
    expect(view).toMatchObject({ inputRef: { bytes: 7_000_000, href: `/runs/${runId}/input` } });
    expect(view).not.toHaveProperty('input');
    // The run's output leaves the linked leaves out.
    expect(view.output).toEqual({});
    expect(JSON.stringify(view).length).toBeLessThan(3 * 1024 * 1024);
  });
});
