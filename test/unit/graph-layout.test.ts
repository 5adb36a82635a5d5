// The dashboard's DAG layout (lambdas/api/graph-layout.ts): every task gets a box wide enough for
// its id, no two boxes overlap, every dependency runs left to right, and a wide fan stays legible.
import { describe, expect, it } from 'vitest';
import { COLLAPSE_AT, LayoutCache, layoutGraph, nodeWidth, siblingGroups } from '../../lambdas/api/graph-layout.js';
import { assertDefinition } from '../../shared/model/definition.js';

const overlaps = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

function fan(width: number) {
  return assertDefinition({
    id: 'fan',
    tasks: [
      { id: 'split', type: 'pass' },
      ...Array.from({ length: width }, (_, i) => ({ id: `transform_partition_${i}`, type: 'pass' as const, dependsOn: ['split'] })),
      { id: 'join', type: 'pass', dependsOn: Array.from({ length: width }, (_, i) => `transform_partition_${i}`) },
    ],
  });
}

describe('layoutGraph', () => {
  it('places every task, without overlaps, each dependency left of its dependent', () => {
    const layout = layoutGraph(fan(20));
    expect(layout.nodes).toHaveLength(22);
    for (const [i, a] of layout.nodes.entries()) for (const b of layout.nodes.slice(i + 1)) expect(overlaps(a, b), `${a.taskId} / ${b.taskId}`).toBe(false);
    const at = new Map(layout.nodes.map((node) => [node.taskId, node]));
    for (const edge of layout.edges) {
      expect(at.get(edge.from)!.x + at.get(edge.from)!.width).toBeLessThanOrEqual(at.get(edge.to)!.x);
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
    }
    expect(layout.edges).toHaveLength(40);
    for (const node of layout.nodes) {
      expect(node.x + node.width).toBeLessThanOrEqual(layout.width);
      expect(node.y + node.height).toBeLessThanOrEqual(layout.height);
    }
  });

  it('sizes a box to its id (20 ids differing at the end stay distinguishable), up to a maximum', () => {
    expect(nodeWidth('transform_partition_19')).toBeGreaterThanOrEqual('transform_partition_19'.length * 7);
    expect(nodeWidth('a')).toBe(150);
    expect(nodeWidth('x'.repeat(200))).toBe(280);
  });

  it('draws a fan of 25 or more parallel siblings as one box with its members, so 1,000 tasks stay three boxes', () => {
    const layout = layoutGraph(fan(1000));
    expect(layout.nodes.map((node) => node.taskId)).toEqual(['split', 'group:transform_partition_0', 'join']);
    expect(layout.nodes[1]!.members).toHaveLength(1000);
    expect(layout.edges.map((edge) => `${edge.from}>${edge.to}`)).toEqual(['split>group:transform_partition_0', 'group:transform_partition_0>join']);
    expect(layoutGraph(fan(COLLAPSE_AT - 1)).nodes).toHaveLength(COLLAPSE_AT + 1);
    expect(layoutGraph(fan(COLLAPSE_AT)).nodes).toHaveLength(3);
  });

  it('keeps siblings apart when their dependents differ', () => {
    const definition = assertDefinition({
      id: 'split_ends',
      tasks: [
        { id: 'root', type: 'pass' },
        ...Array.from({ length: 30 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const, dependsOn: ['root'] })),
        { id: 'only_t0', type: 'pass', dependsOn: ['t0'] },
      ],
    });
    const groups = siblingGroups(definition.tasks);
    expect([...groups.values()].map((members) => members.length)).toEqual([29]);
    expect([...groups.values()][0]).not.toContain('t0');
  });

  it('computes a version once', () => {
    const cache = new LayoutCache(2);
    const definition = fan(3);
    expect(cache.get('fan/v1', definition)).toBe(cache.get('fan/v1', definition));
  });
});
