// The layout of a workflow's DAG for the dashboard, computed by dagre (a layered, Sugiyama-style
// layout: ranks left to right, crossings reduced, edges routed between the boxes). It depends
// only on the definition, so it is computed once per version and kept for the container's life.
// A wide fan of parallel siblings is one box, so a run of 10,000 tasks stays a readable picture.
import dagre from '@dagrejs/dagre';
import { Graph } from '@dagrejs/graphlib';
import type { WorkflowDefinition } from '../../shared/model/definition.js';

export interface GraphLayout {
  width: number;
  height: number;
  /**
   * Top-left corner and size of each box: a task's, or a group's (`group:<first member>`, with
   * its `members`) standing for COLLAPSE_AT or more parallel siblings.
   */
  nodes: Array<{ taskId: string; x: number; y: number; width: number; height: number; members?: string[] }>;
  /** Each dependency as a polyline from the dependency's box to the dependent's. */
  edges: Array<{ from: string; to: string; points: Array<{ x: number; y: number }> }>;
}

/** What the layout reads and writes: dagre's own typings leave `layout` unresolved for the linter. */
interface NodeBox { x: number; y: number; width: number; height: number }
interface EdgeRoute { points?: Array<{ x: number; y: number }> }
const runLayout = (dagre as unknown as { layout: (graph: Graph<{ width?: number; height?: number }, NodeBox, EdgeRoute>) => void }).layout;

export const NODE_HEIGHT = 44;
const MIN_NODE_WIDTH = 150;
const MAX_NODE_WIDTH = 280;
/** Roughly the width of one character of the page's 12 px label font. */
const CHAR_WIDTH = 7;
const MARGIN = 16;

/** Wide enough for the whole id up to MAX_NODE_WIDTH; longer ids are cut with an ellipsis on the page. */
export function nodeWidth(taskId: string): number {
  return Math.min(MAX_NODE_WIDTH, Math.max(MIN_NODE_WIDTH, taskId.length * CHAR_WIDTH + 24));
}

/** Siblings (same dependencies, same dependents) from this many up are drawn as one box. */
export const COLLAPSE_AT = 25;

/**
 * Groups of parallel siblings worth one box each: a fan-out of 1,000 tasks is one box ("1,000
 * tasks"), which the page opens into its members. Keyed by the group's node id.
 */
export function siblingGroups(tasks: Pick<WorkflowDefinition, 'tasks'>['tasks']): Map<string, string[]> {
  const dependents = new Map<string, string[]>();
  for (const task of tasks) for (const dependency of task.dependsOn) dependents.set(dependency, [...(dependents.get(dependency) ?? []), task.id]);
  const bySignature = new Map<string, string[]>();
  for (const task of tasks) {
    const signature = JSON.stringify([[...task.dependsOn].sort(), [...(dependents.get(task.id) ?? [])].sort()]);
    bySignature.set(signature, [...(bySignature.get(signature) ?? []), task.id]);
  }
  const groups = new Map<string, string[]>();
  for (const members of bySignature.values()) {
    if (members.length >= COLLAPSE_AT) groups.set(`group:${members[0] ?? ''}`, members);
  }
  return groups;
}

export function layoutGraph(definition: Pick<WorkflowDefinition, 'tasks'>): GraphLayout {
  const groups = siblingGroups(definition.tasks);
  const boxOf = new Map<string, string>();
  for (const [groupId, members] of groups) for (const member of members) boxOf.set(member, groupId);
  const box = (taskId: string) => boxOf.get(taskId) ?? taskId;

  const graph = new Graph<{ width?: number; height?: number; rankdir?: string; nodesep?: number; ranksep?: number; marginx?: number; marginy?: number }, NodeBox, EdgeRoute>();
  graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  graph.setDefaultEdgeLabel(() => ({}));
  const boxes = [...new Set(definition.tasks.map((task) => box(task.id)))];
  for (const id of boxes) graph.setNode(id, { x: 0, y: 0, width: groups.has(id) ? MAX_NODE_WIDTH : nodeWidth(id), height: NODE_HEIGHT });
  const links = new Map<string, { from: string; to: string }>();
  for (const task of definition.tasks) {
    for (const dependency of task.dependsOn) links.set(`${box(dependency)}>${box(task.id)}`, { from: box(dependency), to: box(task.id) });
  }
  for (const { from, to } of links.values()) graph.setEdge(from, to);
  runLayout(graph);

  const nodes = boxes.map((id) => {
    const node = graph.node(id);
    const members = groups.get(id);
    return {
      taskId: id,
      x: round(node.x - node.width / 2),
      y: round(node.y - node.height / 2),
      width: node.width,
      height: node.height,
      ...(members === undefined ? {} : { members }),
    };
  });
  const edges = [...links.values()].map(({ from, to }) => ({
    from,
    to,
    points: (graph.edge(from, to).points ?? []).map((point) => ({ x: round(point.x), y: round(point.y) })),
  }));
  const { width = 0, height = 0 } = graph.graph();
  return { width: Math.ceil(width), height: Math.ceil(height), nodes, edges };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Layouts by workflow version: a version's content never changes. */
export class LayoutCache {
  private readonly layouts = new Map<string, GraphLayout>();

  constructor(private readonly maxEntries = 200) {}

  get(key: string, definition: Pick<WorkflowDefinition, 'tasks'>): GraphLayout {
    const cached = this.layouts.get(key);
    if (cached !== undefined) return cached;
    const layout = layoutGraph(definition);
    if (this.layouts.size >= this.maxEntries) this.layouts.delete(this.layouts.keys().next().value as string);
    this.layouts.set(key, layout);
    return layout;
  }
}
