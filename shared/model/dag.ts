// The task graph: registration checks (duplicates, unknown or repeated dependencies, cycles), a
// deterministic topological order, and the dependents index the scheduler walks so that each event
// costs O(out-degree of the task). It knows tasks only as ids and dependencies.
// Everything here is iterative and O(V+E): a workflow may have thousands of tasks in a chain.
import { ValidationError, type Problem } from './errors.js';

/** The part of a task the graph functions need. */
export interface TaskNode {
  readonly id: string;
  readonly dependsOn: readonly string[];
}

export interface TaskGraph {
  readonly tasks: readonly TaskNode[];
}

/**
 * Every graph problem of a list of tasks, each naming its task. Cycles are printed in
 * execution order (`a -> b` means b depends on a), one cycle per strongly connected component,
 * starting from the task that comes first in the definition.
 */
export function graphProblems(tasks: readonly TaskNode[]): Problem[] {
  const problems: Problem[] = [];
  const occurrences = new Map<string, number>();
  for (const task of tasks) occurrences.set(task.id, (occurrences.get(task.id) ?? 0) + 1);
  for (const [id, count] of occurrences) {
    if (count > 1) problems.push({ path: `tasks.${id}.id`, message: `task id "${id}" is used by ${count} tasks` });
  }

  for (const task of tasks) {
    const seen = new Set<string>();
    const reported = new Set<string>();
    for (const dependency of task.dependsOn) {
      const path = `tasks.${task.id}.dependsOn`;
      if (seen.has(dependency)) {
        if (!reported.has(dependency)) {
          reported.add(dependency);
          problems.push({ path, message: `task "${task.id}" lists dependency "${dependency}" more than once` });
        }
        continue;
      }
      seen.add(dependency);
      if (dependency === task.id) {
        problems.push({ path, message: `task "${task.id}" depends on itself` });
      } else if (!occurrences.has(dependency)) {
        problems.push({ path, message: `task "${task.id}" depends on unknown task "${dependency}"` });
      }
    }
  }

  problems.push(...findCycles(tasks).map((cycle) => cycleProblem(cycle)));
  return problems;
}

function cycleProblem(cycle: readonly string[]): Problem {
  const first = cycle[0] ?? '';
  return { path: `tasks.${first}.dependsOn`, message: `cycle: ${[...cycle, first].join(' -> ')}` };
}

/**
 * Ids of all tasks in dependency order. Of the tasks whose dependencies are all placed, the one
 * that comes first in `tasks` goes next, so the order is stable for a given definition.
 * Throws a ValidationError on a cycle, an unknown dependency or a duplicate id.
 */
export function topologicalOrder(tasks: readonly TaskNode[]): string[] {
  const graph = buildGraph(tasks);
  if (graph.duplicate !== undefined) {
    const taskId = graph.duplicate;
    throw new ValidationError([{ path: `tasks.${taskId}.id`, message: `task id "${taskId}" is used more than once` }]);
  }
  if (graph.unknown !== undefined) {
    const { taskId, dependency } = graph.unknown;
    throw new ValidationError([
      { path: `tasks.${taskId}.dependsOn`, message: `task "${taskId}" depends on unknown task "${dependency}"` },
    ]);
  }
  if (graph.selfDependent !== undefined) {
    const taskId = graph.selfDependent;
    throw new ValidationError([{ path: `tasks.${taskId}.dependsOn`, message: `task "${taskId}" depends on itself` }]);
  }
  const n = graph.ids.length;
  const remaining = new Int32Array(n);
  for (let i = 0; i < n; i++) remaining[i] = graph.inEdges[i]?.length ?? 0;
  const available = new MinHeap();
  for (let i = 0; i < n; i++) if (remaining[i] === 0) available.push(i);
  const order: string[] = [];
  while (available.size > 0) {
    const next = available.pop();
    order.push(graph.ids[next] ?? '');
    for (const dependent of graph.outEdges[next] ?? []) {
      const left = (remaining[dependent] ?? 0) - 1;
      remaining[dependent] = left;
      if (left === 0) available.push(dependent);
    }
  }
  if (order.length < n) {
    const [cycle] = findCycles(tasks);
    throw new ValidationError([cycleProblem(cycle ?? [])]);
  }
  return order;
}

/** taskId -> ids of the tasks that depend on it, in definition order; every task has an entry. */
export function dependentsIndex(definition: TaskGraph): ReadonlyMap<string, readonly string[]> {
  const index = new Map<string, string[]>();
  for (const task of definition.tasks) if (!index.has(task.id)) index.set(task.id, []);
  for (const task of definition.tasks) {
    for (const dependency of new Set(task.dependsOn)) index.get(dependency)?.push(task.id);
  }
  return index;
}

/** Ids of the tasks with no dependencies: what a new run starts with. */
export function rootTasks(definition: TaskGraph): string[] {
  return definition.tasks.filter((task) => task.dependsOn.length === 0).map((task) => task.id);
}

// ---- graph internals ----------------------------------------------------------------------

interface IndexedGraph {
  ids: string[];
  /** Edges in execution order: dependency -> dependents, deduplicated, self-loops dropped. */
  outEdges: number[][];
  inEdges: number[][];
  duplicate: string | undefined;
  unknown: { taskId: string; dependency: string } | undefined;
  selfDependent: string | undefined;
}

/** Tasks sharing an id are merged into one node, so a cycle through either is still found. */
function buildGraph(tasks: readonly TaskNode[]): IndexedGraph {
  const indexOf = new Map<string, number>();
  const ids: string[] = [];
  let duplicate: string | undefined;
  for (const task of tasks) {
    if (indexOf.has(task.id)) {
      duplicate ??= task.id;
      continue;
    }
    indexOf.set(task.id, ids.length);
    ids.push(task.id);
  }
  const outEdges: number[][] = ids.map(() => []);
  const inEdges: number[][] = ids.map(() => []);
  let unknown: IndexedGraph['unknown'];
  let selfDependent: string | undefined;
  for (const task of tasks) {
    const to = indexOf.get(task.id) ?? 0;
    const seen = new Set<number>(inEdges[to]);
    for (const dependency of task.dependsOn) {
      const from = indexOf.get(dependency);
      if (from === undefined) {
        unknown ??= { taskId: task.id, dependency };
        continue;
      }
      if (from === to) selfDependent ??= task.id;
      if (from === to || seen.has(from)) continue;
      seen.add(from);
      outEdges[from]?.push(to);
      inEdges[to]?.push(from);
    }
  }
  return { ids, outEdges, inEdges, duplicate, unknown, selfDependent };
}

/**
 * One cycle (as task ids in execution order, first task not repeated) per strongly connected
 * component with more than one task. Self-dependencies are reported by checkGraph on their own.
 */
function findCycles(tasks: readonly TaskNode[]): string[][] {
  const graph = buildGraph(tasks);
  const componentOf = new Int32Array(graph.ids.length);
  const starts: number[] = [];
  stronglyConnectedComponents(graph.outEdges).forEach((component, c) => {
    for (const node of component) componentOf[node] = c;
    if (component.length > 1) starts.push(component.reduce((a, b) => Math.min(a, b)));
  });
  return starts
    .sort((a, b) => a - b)
    .map((start) => shortestCycleThrough(start, componentOf, graph.outEdges).map((i) => graph.ids[i] ?? ''));
}

/** Tarjan's algorithm with an explicit stack, so a 5,000-task chain cannot overflow the call stack. */
function stronglyConnectedComponents(outEdges: readonly (readonly number[])[]): number[][] {
  const n = outEdges.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const components: number[][] = [];
  let counter = 0;
  // Each frame is a node and the position of the next out-edge to look at.
  const frames: Array<{ node: number; edge: number }> = [];
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    frames.push({ node: root, edge: 0 });
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as { node: number; edge: number };
      const { node } = frame;
      const edges = outEdges[node] ?? [];
      if (frame.edge < edges.length) {
        const next = edges[frame.edge++] ?? 0;
        if (index[next] === -1) {
          index[next] = low[next] = counter++;
          stack.push(next);
          onStack[next] = 1;
          frames.push({ node: next, edge: 0 });
        } else if (onStack[next] === 1) {
          low[node] = Math.min(low[node] ?? 0, index[next] ?? 0);
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low[parent.node] = Math.min(low[parent.node] ?? 0, low[node] ?? 0);
      if (low[node] === index[node]) {
        const component: number[] = [];
        let member: number;
        do {
          member = stack.pop() ?? node;
          onStack[member] = 0;
          component.push(member);
        } while (member !== node);
        components.push(component);
      }
    }
  }
  return components;
}

/** Breadth-first from `start` inside its component until an edge leads back to it. */
function shortestCycleThrough(
  start: number,
  componentOf: Int32Array,
  outEdges: readonly (readonly number[])[],
): number[] {
  const previous = new Map<number, number>([[start, -1]]);
  const queue: number[] = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] ?? start;
    for (const next of outEdges[node] ?? []) {
      if (next === start) {
        const cycle: number[] = [];
        for (let at = node; at !== -1; at = previous.get(at) ?? -1) cycle.push(at);
        return cycle.reverse();
      }
      if (componentOf[next] === componentOf[start] && !previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start]; // unreachable for a component of two or more tasks
}

/** A binary min-heap of task positions: Kahn's "first available in definition order". */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const items = this.items;
    items.push(value);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] ?? 0) <= value) break;
      items[i] = items[parent] ?? 0;
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0] ?? 0;
    const last = items.pop() ?? 0;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && (items[right] ?? 0) < (items[left] ?? 0) ? right : left;
        if ((items[child] ?? 0) >= last) break;
        items[i] = items[child] ?? 0;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
}
