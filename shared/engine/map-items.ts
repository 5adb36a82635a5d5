// A map task's items are tasks of their own run, kept apart from the workflow's tasks: each is an
// item task whose id names its map, the map's phase and attempt, and its index, so a map that runs
// again (a retry, a resumed run) gets fresh items and never meets an earlier attempt's.
// Their items sort in index order under ITEM#<mapId>#<phase>#<attempt>#, so one query lists them.

/** What an item task's id names. */
export interface ItemAddress {
  mapId: string;
  phase: number;
  /** The map task's attempt that made the item. */
  attempt: number;
  index: number;
}

/** Items per completion chunk: a chunk counts its finished items in one small item of its own. */
export const MAP_CHUNK_SIZE = 64;

const INDEX_DIGITS = 6;
const ITEM_ID = /^([A-Za-z][A-Za-z0-9_-]*)#(\d+)#(\d+)#(\d{6,})$/;

export function itemTaskId(address: ItemAddress): string {
  return `${itemIdPrefix(address)}${String(address.index).padStart(INDEX_DIGITS, '0')}`;
}

/** The id prefix shared by every item of one attempt of a map. */
export function itemIdPrefix(map: Pick<ItemAddress, 'mapId' | 'phase' | 'attempt'>): string {
  return `${map.mapId}#${map.phase}#${map.attempt}#`;
}

/** The address an item task's id names, or undefined for any other task id. */
export function itemAddress(taskId: string): ItemAddress | undefined {
  const match = ITEM_ID.exec(taskId);
  if (match === null) return undefined;
  return { mapId: match[1] ?? '', phase: Number(match[2]), attempt: Number(match[3]), index: Number(match[4]) };
}

/** The map attempt an item id prefix (itemIdPrefix) names, or undefined for any other text. */
export function prefixAttempt(prefix: string): Omit<ItemAddress, 'index'> | undefined {
  const address = itemAddress(`${prefix}${'0'.repeat(INDEX_DIGITS)}`);
  return address === undefined ? undefined : { mapId: address.mapId, phase: address.phase, attempt: address.attempt };
}

export function isItemTaskId(taskId: string): boolean {
  return ITEM_ID.test(taskId);
}

export function chunkOf(index: number): number {
  return Math.floor(index / MAP_CHUNK_SIZE);
}

export function chunkCount(items: number): number {
  return Math.ceil(items / MAP_CHUNK_SIZE);
}

/** How many items a chunk holds (the last one may be short). */
export function chunkSize(chunk: number, items: number): number {
  return Math.max(0, Math.min(MAP_CHUNK_SIZE, items - chunk * MAP_CHUNK_SIZE));
}

/** The most items of `total` that may fail before the map fails: none unless it says; the lower of the two when it gives both. */
export function toleratedFailures(map: { toleratedFailurePercentage?: number | undefined; toleratedFailureCount?: number | undefined }, total: number): number {
  const limits = [
    ...(map.toleratedFailurePercentage === undefined ? [] : [Math.floor((map.toleratedFailurePercentage / 100) * total)]),
    ...(map.toleratedFailureCount === undefined ? [] : [map.toleratedFailureCount]),
  ];
  return limits.length === 0 ? 0 : Math.min(...limits);
}
