// The layout of a workflow's DAG for the dashboard, computed by dagre (a layered, Sugiyama-style
// layout: ranks left to right, crossings reduced, edges routed between the boxes). It depends
// only on the definition, so it is computed once per version and kept for the container's life.
import dagre from '@dagrejs/dagre';
import { Graph } from '@dagrejs/graphlib';
import type { WorkflowDefinition } from '../../shared/model/definition.js';

export interface GraphLayout {
  width: number;
  height: number;
  /** Top-left corner and size of each task's box. */
  nodes: Array<{ taskId: string; x: number; y: number; width: number; height: number }>;
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

export function layoutGraph(definition: Pick<WorkflowDefinition, 'tasks'>): GraphLayout {
  const graph = new Graph<{ width?: number; height?: number; rankdir?: string; nodesep?: number; ranksep?: number; marginx?: number; marginy?: number }, NodeBox, EdgeRoute>();
  graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const task of definition.tasks) graph.setNode(task.id, { x: 0, y: 0, width: nodeWidth(task.id), height: NODE_HEIGHT });
  for (const task of definition.tasks) for (const dependency of task.dependsOn) graph.setEdge(dependency, task.id);
  runLayout(graph);

  const nodes = definition.tasks.map((task) => {
    const node = graph.node(task.id);
    return { taskId: task.id, x: round(node.x - node.width / 2), y: round(node.y - node.height / 2), width: node.width, height: node.height };
  });
  const edges = definition.tasks.flatMap((task) =>
    task.dependsOn.map((dependency) => ({
      from: dependency,
      to: task.id,
      points: (graph.edge(dependency, task.id).points ?? []).map((point) => ({ x: round(point.x), y: round(point.y) })),
    })),
  );
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
