// The dashboard's DAG layout (lambdas/api/graph-layout.ts): every task gets a box wide enough for
// its id, no two boxes overlap, every dependency runs left to right, and a wide fan stays legible.
import { describe, expect, it } from 'vitest';
import { LayoutCache, layoutGraph, nodeWidth } from '../../lambdas/api/graph-layout.js';
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

  it('lays out a 1,000-task fan', () => {
    const layout = layoutGraph(fan(1000));
    expect(new Set(layout.nodes.map((node) => `${node.x},${node.y}`)).size).toBe(1002);
  });

  it('computes a version once', () => {
    const cache = new LayoutCache(2);
    const definition = fan(3);
    expect(cache.get('fan/v1', definition)).toBe(cache.get('fan/v1', definition));
  });
});
