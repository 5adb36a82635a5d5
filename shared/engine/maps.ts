// Map tasks: one task run once per item of a list known only when the map starts.
//
// The map's attempt is a callback whose outside system is the engine. It makes its items PENDING
// (item tasks, map-items.ts, each holding its item), starts the first `maxConcurrency` of them and
// waits. From then on each item that ends starts the item `maxConcurrency` after it, so no counter
// of running items is needed, and is counted in its chunk of 64; a chunk that is complete is
// marked on the map task once. When every chunk is, the map's token is answered with the items'
// outputs in order; as soon as more items have failed than the map tolerates, with its failure.
// Each step is an idempotent write: the scheduler does them from the items' stream records, and
// the sweeper's periodic look at a waiting map (`check`) recounts from the items themselves.
import { isFinalTaskStatus } from '../model/states.js';
import { EngineError } from '../model/errors.js';
import type { TaskDefinition } from '../model/definition.js';
import type { TaskError } from '../model/task-error.js';
import type { CallbackOutcome, Callbacks } from './callbacks.js';
import { taskOf, type DefinitionSource } from './definition-cache.js';
import { messageFor } from './dispatch.js';
import { forEachLimited } from './concurrency.js';
import { chunkCount, chunkOf, chunkSize, itemAddress, itemTaskId, prefixAttempt, toleratedFailures, type ItemAddress } from './map-items.js';
import type { OutgoingMessage, TaskQueue } from './messages.js';
import type { MapAttempt, MapStore, NewMapItem, TaskStore } from './ports.js';
import { jsonEqual } from '../model/condition.js';
import type { TaskRecord } from './records.js';
import { deliveryDueAt, leaseMs, type EngineTimings } from './timing.js';

export type MapTaskDefinition = Extract<TaskDefinition, { type: 'map' }>;

/** Items made PENDING per write of the map's attempt. */
const CREATE_PAGE = 1_000;
/** Items started (or cancelled) at once. */
const CONCURRENCY = 16;

export interface MapRunsDeps {
  tasks: Pick<TaskStore, 'getTask' | 'advance' | 'readScope' | 'cancel' | 'requestStop'>;
  maps: MapStore;
  queue: TaskQueue;
  definitions: DefinitionSource;
  callbacks: Pick<Callbacks, 'answerFor'>;
  now: () => Date;
  timings: EngineTimings;
}

export class MapRuns {
  constructor(private readonly deps: MapRunsDeps) {}

  /**
   * The map's attempt (its task RUNNING, claimed by the caller): its items made, the first
   * `maxConcurrency` of them started. In a resumed run, an item that succeeded in the map's items
   * of the earlier phase (the same item, and not undone by a compensation) is kept, not run again.
   * Resolves with the output at once when no item is left to run (an empty list: []). Stops (with
   * the signal's reason) as soon as `signal` fires: nothing is started for an attempt that was
   * cancelled or timed out while it made its items.
   */
  async start(task: TaskRecord, map: MapTaskDefinition, items: readonly unknown[], signal: AbortSignal): Promise<{ waiting: true } | { output: unknown[] }> {
    if (items.length === 0) return { output: [] };
    const attempt = attemptOf(task);
    const kept = await this.keptItems(task, items);
    // Each item to run starts the one maxConcurrency after it among those to run (the last ones
    // name the list's length: none).
    const toRun = items.map((_, index) => index).filter((index) => !kept.has(index));
    const nextOf = new Map(toRun.map((index, position) => [index, toRun[position + map.maxConcurrency] ?? items.length]));
    for (let first = 0; first < items.length; first += CREATE_PAGE) {
      signal.throwIfAborted();
      const page = items.slice(first, first + CREATE_PAGE).map((value, offset) => {
        const index = first + offset;
        const next = nextOf.get(index);
        const keptItem = kept.get(index);
        return { index, value, ...(next === undefined ? {} : { next }), ...(keptItem === undefined ? {} : { kept: keptItem }) };
      });
      await this.deps.maps.createItems({
        ...attempt,
        workflowId: task.workflowId,
        version: task.version,
        leaseToken: task.leaseToken ?? '',
        ...(task.keyGeneration === undefined ? {} : { keyGeneration: task.keyGeneration }),
        total: items.length,
        first: first === 0,
        items: page,
      });
    }
    if (kept.size > 0) await this.countKept(task, [...kept.keys()], items.length);
    signal.throwIfAborted();
    if (toRun.length === 0) return this.outputs({ ...task, mapItems: items.length }, await this.allItems(attempt));
    const messages = await this.startItems(task, map, toRun.slice(0, map.maxConcurrency), (itemId) => `map-start:${itemId}`);
    if (messages.length > 0) await this.deps.queue.send(messages);
    return { waiting: true };
  }

  /**
   * Items that ended (the scheduler, from their stream records): each starts the item
   * `maxConcurrency` after it and is counted in its chunk; the map ends when every item has, or
   * at once when more have failed than it tolerates. The items started are sent their messages
   * before anything is counted (a count that fails must not hold them back). Items of a map
   * attempt that is over change nothing.
   */
  async afterItems(ended: readonly TaskRecord[], by: 'worker' | 'scheduler'): Promise<void> {
    const byMap = new Map<string, Array<{ item: TaskRecord; address: ItemAddress }>>();
    for (const item of ended) {
      const address = itemAddress(item.taskId);
      if (address === undefined || !isFinalTaskStatus(item.status)) continue;
      const key = `${address.mapId}#${address.phase}#${address.attempt}`;
      byMap.set(key, [...(byMap.get(key) ?? []), { item, address }]);
    }
    // Each part starts an item with a token of its own, the same on every try: a part recognizes
    // its own start (and sends the message again), never the other's (which sent it already).
    for (const group of byMap.values()) await this.afterItemsOfMap(group, by === 'worker' ? 'map-next' : 'map-next-s');
  }

  /**
   * The sweeper's look at a waiting map: its items recounted from the items themselves, an item
   * that should have started started, and the map ended if it is over. Returns whether its wait
   * is over (ended now, or already). A map that marked a chunk done within the last reconcile
   * interval is making progress: it is not recounted (a recount reads its whole list).
   */
  async check(task: TaskRecord): Promise<boolean> {
    const found = await this.current(task.runId, task.taskId, attemptOf(task));
    if (found === undefined) return true;
    const { map, mapTask } = found;
    const progressedAt = Date.parse(mapTask.updatedAt);
    if (progressedAt > this.deps.now().getTime() - this.deps.timings.reconcileIntervalSeconds * 1000) return false;
    const total = mapTask.mapItems ?? 0;
    const items = await this.allItems(attemptOf(mapTask), true);
    const finals = items.filter((item) => isFinalTaskStatus(item.status));
    const failed = finals.filter((item) => item.status !== 'SUCCEEDED');
    if (failed.length > toleratedFailures(map, total)) {
      await this.fail(mapTask, toleranceError(failed.length, total, map, failed[0]));
      return true;
    }
    if (finals.length >= total) {
      await this.end(mapTask, await this.outputs(mapTask, await this.allItems(attemptOf(mapTask))));
      return true;
    }
    // Each ended item starts the one maxConcurrency after it: one not started yet is started now.
    const byIndex = new Map(items.map((item) => [itemAddress(item.taskId)?.index ?? -1, item]));
    const missed = finals.map((item) => nextIndexOf(item, map)).filter((next) => next < total && byIndex.get(next)?.status === 'PENDING');
    const messages = await this.startItems(mapTask, map, missed, (itemId) => `map-check:${itemId}`);
    if (messages.length > 0) await this.deps.queue.send(messages);
    return false;
  }

  /**
   * The map task's attempt ended without its items (cancelled, timed out, failed): those started
   * and not finished are cancelled, or asked to stop. (Those never started never will be: each is
   * started by an item of the same attempt, only while the attempt waits.)
   */
  async cancel(task: Pick<TaskRecord, 'runId' | 'taskId' | 'phase' | 'attempt'>, reason: string): Promise<void> {
    const items = await this.allItems(attemptOf(task), true);
    const open = items.filter((item) => !isFinalTaskStatus(item.status) && item.status !== 'PENDING');
    await forEachLimited(open, CONCURRENCY, async (item) => {
      if (item.status === 'RUNNING') {
        await this.deps.tasks.requestStop({ runId: item.runId, taskId: item.taskId, phase: item.phase });
        return;
      }
      await this.deps.tasks.cancel({
        runId: item.runId,
        taskId: item.taskId,
        workflowId: item.workflowId,
        version: item.version,
        phase: item.phase,
        reason,
        opToken: `map-cancel:${item.taskId}`,
      });
    });
  }

  /**
   * A chunk's count that is complete (the scheduler, from its stream record): marked on the map,
   * and the map ended if it was the last, in case the worker that counted its last item did not
   * get that far. A map that is over already costs one read.
   */
  async afterChunk(map: MapAttempt & { chunk: number; failed: number }): Promise<void> {
    const found = await this.current(map.runId, map.mapId, map);
    if (found === undefined) return;
    let mapTask = found.mapTask;
    if (!(mapTask.mapChunksDone ?? []).includes(String(map.chunk))) {
      const marked = await this.deps.maps.markChunkDone(map);
      if (marked === undefined || !isOpen(marked)) return;
      mapTask = marked;
    }
    if ((mapTask.mapChunksDone ?? []).length >= chunkCount(mapTask.mapItems ?? 0)) {
      await this.end(mapTask, await this.outputs(mapTask, await this.allItems(map)));
    }
  }

  private async afterItemsOfMap(ended: ReadonlyArray<{ item: TaskRecord; address: ItemAddress }>, tokenPrefix: string): Promise<void> {
    const first = ended[0];
    if (first === undefined) return;
    const { item: anItem, address } = first;
    const found = await this.current(anItem.runId, address.mapId, { runId: anItem.runId, mapId: address.mapId, phase: address.phase, attempt: address.attempt });
    if (found === undefined) return;
    const { map } = found;
    let mapTask = found.mapTask;
    const total = mapTask.mapItems ?? 0;
    const attempt = attemptOf(mapTask);

    const next = ended.map((end) => nextIndexOf(end.item, map)).filter((index) => index < total);
    const messages = await this.startItems(mapTask, map, next, (itemId) => `${tokenPrefix}:${itemId}`);
    if (messages.length > 0) await this.deps.queue.send(messages);

    // Counted by chunk; a chunk complete is marked on the map task.
    const byChunk = new Map<number, Array<{ index: number; failed: boolean }>>();
    for (const { item, address: at } of ended) {
      const chunk = chunkOf(at.index);
      byChunk.set(chunk, [...(byChunk.get(chunk) ?? []), { index: at.index, failed: item.status !== 'SUCCEEDED' }]);
    }
    const openFailures = new Map<number, number>();
    for (const [chunk, members] of byChunk) {
      const counted = await this.deps.maps.recordFinished({
        ...attempt,
        chunk,
        size: chunkSize(chunk, total),
        indexes: members.map((member) => member.index),
        failed: members.filter((member) => member.failed).map((member) => member.index),
      });
      if (counted.finished >= chunkSize(chunk, total)) {
        const marked = await this.deps.maps.markChunkDone({ ...attempt, chunk, failed: counted.failed });
        // Ended meanwhile (by another item's end, the sweeper, a cancel): nothing more to do.
        if (marked === undefined || !isOpen(marked)) return;
        mapTask = marked;
      } else {
        openFailures.set(chunk, counted.failed);
      }
    }
    const done = new Set(mapTask.mapChunksDone ?? []);
    // Failures known: those of the chunks done, and those counted so far in the chunks touched here.
    const failures = (mapTask.mapFailed ?? 0) + [...openFailures].reduce((sum, [chunk, failed]) => sum + (done.has(String(chunk)) ? 0 : failed), 0);
    if (failures > toleratedFailures(map, total)) {
      const failedItem = ended.find(({ item }) => item.status !== 'SUCCEEDED')?.item;
      await this.fail(mapTask, toleranceError(failures, total, map, failedItem));
      return;
    }
    if (done.size >= chunkCount(total)) await this.end(mapTask, await this.outputs(mapTask, await this.allItems(attempt)));
  }

  /** Starts items (PENDING -> QUEUED) by index; returns their messages. */
  private async startItems(mapTask: TaskRecord, map: MapTaskDefinition, indexes: readonly number[], opToken: (itemId: string) => string): Promise<OutgoingMessage[]> {
    const messages: OutgoingMessage[] = [];
    const now = this.deps.now().getTime();
    const dueAt = deliveryDueAt(now, 0, leaseMs(map.task.type === 'pass' ? {} : map.task, this.deps.timings), this.deps.timings);
    await forEachLimited(indexes, CONCURRENCY, async (index) => {
      const taskId = itemTaskId({ mapId: mapTask.taskId, phase: mapTask.phase, attempt: mapTask.attempt, index });
      const advanced = await this.deps.tasks.advance({
        runId: mapTask.runId,
        taskId,
        workflowId: mapTask.workflowId,
        version: mapTask.version,
        phase: mapTask.phase,
        next: { kind: 'queue', dueAt },
        opToken: opToken(taskId),
      });
      if (advanced.outcome === 'ok' && advanced.task.status === 'QUEUED') messages.push(messageFor(mapTask, advanced.task, now));
    });
    return messages;
  }

  /** The map task and its definition, if it still runs or waits in this attempt. */
  private async current(runId: string, mapId: string, attempt: MapAttempt): Promise<{ mapTask: TaskRecord; map: MapTaskDefinition } | undefined> {
    const mapTask = await this.deps.tasks.getTask(runId, mapId);
    if (mapTask === undefined || mapTask.phase !== attempt.phase || mapTask.attempt !== attempt.attempt || mapTask.mapItems === undefined) return undefined;
    if (!isOpen(mapTask)) return undefined;
    const definition = await this.deps.definitions.get(mapTask.workflowId, mapTask.version);
    const map = taskOf(definition, mapId);
    if (map.type !== 'map') return undefined;
    return { mapTask, map };
  }

  /**
   * The items that succeeded in the map's latest items of an earlier phase (the run was resumed),
   * by index: the same item at the same place, and not undone by a compensation since (its key
   * generation is the map's). A retry in the same phase runs every item again.
   */
  private async keptItems(task: TaskRecord, items: readonly unknown[]): Promise<Map<number, NonNullable<NewMapItem['kept']>>> {
    const kept = new Map<number, NonNullable<NewMapItem['kept']>>();
    const previous = task.mapItemsOf === undefined ? undefined : prefixAttempt(task.mapItemsOf);
    if (previous === undefined || previous.mapId !== task.taskId || previous.phase >= task.phase) return kept;
    for (const item of await this.allItems({ runId: task.runId, mapId: previous.mapId, phase: previous.phase, attempt: previous.attempt })) {
      const index = itemAddress(item.taskId)?.index ?? -1;
      if (item.status !== 'SUCCEEDED' || index < 0 || index >= items.length || item.keyGeneration !== task.keyGeneration) continue;
      if (!jsonEqual(item.item, items[index])) continue;
      kept.set(index, {
        attempt: item.attempt,
        phase: item.phase,
        ...(item.outputRef === undefined ? { output: item.output ?? null } : { outputRef: item.outputRef }),
        ...(item.startedAt === undefined ? {} : { startedAt: item.startedAt }),
        ...(item.completedAt === undefined ? {} : { completedAt: item.completedAt }),
        ...(item.durationMs === undefined ? {} : { durationMs: item.durationMs }),
      });
    }
    return kept;
  }

  /** Kept items are counted in their chunks at once; a chunk they complete is marked on the map. */
  private async countKept(task: TaskRecord, indexes: readonly number[], total: number): Promise<void> {
    const attempt = attemptOf(task);
    const byChunk = new Map<number, number[]>();
    for (const index of indexes) byChunk.set(chunkOf(index), [...(byChunk.get(chunkOf(index)) ?? []), index]);
    for (const [chunk, members] of byChunk) {
      const counted = await this.deps.maps.recordFinished({ ...attempt, chunk, size: chunkSize(chunk, total), indexes: members, failed: [] });
      if (counted.finished >= chunkSize(chunk, total)) await this.deps.maps.markChunkDone({ ...attempt, chunk, failed: counted.failed });
    }
  }

  /** Every item of a map attempt; `summary`: without their items and outputs (for counting them). */
  private async allItems(map: MapAttempt, summary = false): Promise<TaskRecord[]> {
    const items: TaskRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.maps.listItems(map, { summary, ...(cursor === undefined ? {} : { cursor }) });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return items;
  }

  /** The map's output: each item's output in item order, null for an item that did not succeed. */
  private async outputs(mapTask: TaskRecord, items: readonly TaskRecord[]): Promise<{ output: unknown[] }> {
    const output: unknown[] = Array.from({ length: mapTask.mapItems ?? 0 }, () => null);
    const stored: string[] = [];
    for (const item of items) {
      const index = itemAddress(item.taskId)?.index ?? -1;
      if (item.status !== 'SUCCEEDED' || index < 0 || index >= output.length) continue;
      if (item.outputRef !== undefined) stored.push(item.taskId);
      else output[index] = item.output ?? null;
    }
    // A large output is kept apart: read back, a hundred at a time.
    for (let i = 0; i < stored.length; i += 100) {
      const read = await this.deps.tasks.readScope(mapTask.runId, stored.slice(i, i + 100), false);
      for (const [taskId, value] of Object.entries(read.tasks)) output[itemAddress(taskId)?.index ?? 0] = value.output ?? null;
    }
    return { output };
  }

  /** The map fails (too many items failed): answered so, then its items still running are stopped. */
  private async fail(mapTask: TaskRecord, error: TaskError): Promise<void> {
    const answered = await this.end(mapTask, { error });
    if (answered?.outcome === 'accepted') await this.cancel(mapTask, `its map task ${mapTask.taskId} failed: ${error.name}`);
  }

  /**
   * Answers the map's attempt (the engine's own answer, by the attempt's recorded token hash). An
   * output the map cannot keep (over the payload limit) fails it instead, not retried.
   */
  private async end(mapTask: TaskRecord, answer: { output: unknown } | { error: TaskError }): Promise<CallbackOutcome | undefined> {
    const hash = mapTask.callbackTokens?.at(-1);
    if (hash === undefined) return undefined;
    const address = { runId: mapTask.runId, taskId: mapTask.taskId, attempt: mapTask.attempt };
    try {
      return await this.deps.callbacks.answerFor(address, hash, answer);
    } catch (error) {
      if (!(error instanceof EngineError) || error.retryable || !('output' in answer)) throw error;
      const refused = { name: 'MapOutputTooLarge', message: `the outputs of the map's ${mapTask.mapItems ?? 0} items could not be kept: ${error.message}`, retryable: false };
      return this.deps.callbacks.answerFor(address, hash, { error: refused });
    }
  }
}

/** A map task still at work in its attempt: making its items, or waiting for them. */
function isOpen(mapTask: TaskRecord): boolean {
  return mapTask.status === 'RUNNING' || (mapTask.status === 'WAITING' && mapTask.callbackAttempt === mapTask.attempt);
}

/** The item an item's end starts: the one it names, or (an item made before it was named) the one maxConcurrency after it. */
function nextIndexOf(item: TaskRecord, map: MapTaskDefinition): number {
  if (item.nextIndex !== undefined) return item.nextIndex;
  return (itemAddress(item.taskId)?.index ?? Number.POSITIVE_INFINITY) + map.maxConcurrency;
}

function attemptOf(task: Pick<TaskRecord, 'runId' | 'taskId' | 'phase' | 'attempt'>): MapAttempt {
  return { runId: task.runId, mapId: task.taskId, phase: task.phase, attempt: task.attempt };
}

function toleranceError(failures: number, total: number, map: MapTaskDefinition, example: TaskRecord | undefined): TaskError {
  const tolerated = toleratedFailures(map, total);
  const index = example === undefined ? undefined : itemAddress(example.taskId)?.index;
  const cause = example?.error === undefined ? '' : `; item ${index ?? '?'} failed with ${example.error.name}: ${example.error.message}`;
  return {
    name: 'MapToleratedFailureExceeded',
    message: `${failures} of ${total} items failed, more than the ${tolerated} tolerated${cause}`,
    retryable: false,
  };
}
