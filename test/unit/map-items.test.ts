import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkCount, chunkOf, chunkSize, itemAddress, itemIdPrefix, itemTaskId, isItemTaskId, MAP_CHUNK_SIZE, prefixAttempt, toleratedFailures } from '../../shared/engine/map-items.js';
import { compensationTaskId } from '../../shared/engine/compensation.js';

describe('map item ids', () => {
  it('name their map, phase, attempt and index, and sort in index order under their prefix', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/), fc.nat(1000), fc.integer({ min: 1, max: 100 }), fc.nat(99_999), fc.nat(99_999), (mapId, phase, attempt, a, b) => {
        const idA = itemTaskId({ mapId, phase, attempt, index: a });
        const idB = itemTaskId({ mapId, phase, attempt, index: b });
        expect(itemAddress(idA)).toEqual({ mapId, phase, attempt, index: a });
        expect(idA.startsWith(itemIdPrefix({ mapId, phase, attempt }))).toBe(true);
        expect(prefixAttempt(itemIdPrefix({ mapId, phase, attempt }))).toEqual({ mapId, phase, attempt });
        expect(Math.sign(idA.localeCompare(idB, 'en'))).toBe(Math.sign(a - b));
      }),
    );
  });

  it('are never a workflow task id or a compensation id', () => {
    expect(isItemTaskId('charge_payment')).toBe(false);
    expect(isItemTaskId(compensationTaskId('charge_payment'))).toBe(false);
    expect(itemAddress('each#1#2#3')).toBeUndefined();
    expect(prefixAttempt('each#1#')).toBeUndefined();
    expect(isItemTaskId(itemTaskId({ mapId: 'each', phase: 0, attempt: 1, index: 0 }))).toBe(true);
  });
});

describe('map chunks and tolerance', () => {
  it('split the items into chunks of 64, the last one short', () => {
    expect([chunkCount(1), chunkCount(64), chunkCount(65), chunkCount(100_000)]).toEqual([1, 1, 2, 1563]);
    expect([chunkOf(0), chunkOf(63), chunkOf(64)]).toEqual([0, 0, 1]);
    expect([chunkSize(0, 100), chunkSize(1, 100), chunkSize(2, 100)]).toEqual([MAP_CHUNK_SIZE, 36, 0]);
  });

  it('tolerate no failure unless told, and the lower of a count and a percentage', () => {
    expect(toleratedFailures({}, 1000)).toBe(0);
    expect(toleratedFailures({ toleratedFailurePercentage: 10 }, 1000)).toBe(100);
    expect(toleratedFailures({ toleratedFailurePercentage: 10 }, 19)).toBe(1);
    expect(toleratedFailures({ toleratedFailureCount: 5 }, 1000)).toBe(5);
    expect(toleratedFailures({ toleratedFailureCount: 5, toleratedFailurePercentage: 10 }, 1000)).toBe(5);
    expect(toleratedFailures({ toleratedFailureCount: 500, toleratedFailurePercentage: 10 }, 1000)).toBe(100);
    expect(toleratedFailures({ toleratedFailurePercentage: 100 }, 7)).toBe(7);
  });
});
