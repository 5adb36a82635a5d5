import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { untilAborted } from '../../shared/tasks/until-aborted.js';

describe('untilAborted', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  it('rejects at once with the reason of a signal that already fired, and leaves the work handled', async () => {
    const controller = new AbortController();
    controller.abort(new Error('run cancelled'));
    // Work that fails after the attempt was given up on: the case that ended the local engine.
    const work = new Promise((_resolve, reject) => setTimeout(() => reject(new Error('late failure')), 5));
    await expect(untilAborted(work, controller.signal)).rejects.toThrow('run cancelled');
    await settle();
    expect(unhandled).toEqual([]);
  });

  it('rejects when the signal fires mid-work, and a later failure of the work is dropped', async () => {
    const controller = new AbortController();
    const work = new Promise((_resolve, reject) => setTimeout(() => reject(new Error('late failure')), 10));
    const racing = untilAborted(work, controller.signal);
    controller.abort(new Error('timed out'));
    await expect(racing).rejects.toThrow('timed out');
    await settle();
    expect(unhandled).toEqual([]);
  });

  it('settles with the work when the signal never fires', async () => {
    await expect(untilAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(new Error('boom')), new AbortController().signal)).rejects.toThrow('boom');
  });
});
