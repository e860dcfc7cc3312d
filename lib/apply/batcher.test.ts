import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

function recorder(maxItems: number, maxWaitMs: number, gate?: Promise<void>) {
  const flushes: number[][] = [];
  const batcher = new Batcher<number>({
    maxItems, maxWaitMs,
    flush: async (items) => { if (gate) await gate; flushes.push(items); },
  });
  return { flushes, batcher };
}

describe('Batcher', () => {
  it('flushes at once when every active producer is waiting', async () => {
    const { flushes, batcher } = recorder(1000, 60_000);
    const a = batcher.enter();
    const b = batcher.enter();
    const pa = batcher.submit([1, 2]);
    expect(flushes).toEqual([]);
    const pb = batcher.submit([3]);
    await Promise.all([pa, pb]);
    a(); b();
    expect(flushes).toEqual([[1, 2, 3]]);
  });

  it('flushes on count even while other producers are still busy', async () => {
    const { flushes, batcher } = recorder(3, 60_000);
    batcher.enter();
    const leave = batcher.enter();
    await batcher.submit([1, 2, 3, 4]);
    expect(flushes).toEqual([[1, 2, 3, 4]]);
    leave();
  });

  it('flushes on time when a producer never delivers', async () => {
    const { flushes, batcher } = recorder(1000, 30);
    batcher.enter();
    batcher.enter();
    const started = Date.now();
    await batcher.submit([7]);
    expect(flushes).toEqual([[7]]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('runs one flush at a time and puts later items into the next flush', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const { flushes, batcher } = recorder(1, 60_000, gate);
    const p1 = batcher.submit([1]);
    const p2 = batcher.submit([2]);
    const p3 = batcher.submit([3]);
    expect(flushes).toEqual([]);
    open();
    await Promise.all([p1, p2, p3]);
    expect(flushes).toEqual([[1], [2, 3]]);
  });

  it('idle() waits for the flush in flight', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const { flushes, batcher } = recorder(1, 60_000, gate);
    const p = batcher.submit([1]);
    let idle = false;
    const waiting = batcher.idle().then(() => { idle = true; });
    await Promise.resolve();
    expect(idle).toBe(false);
    open();
    await Promise.all([p, waiting]);
    expect(idle).toBe(true);
    expect(flushes).toEqual([[1]]);
  });

  it('rejects every submitter of a failed flush with its error', async () => {
    const err = new Error('target refused');
    const batcher = new Batcher<number>({ maxItems: 2, maxWaitMs: 60_000, flush: () => Promise.reject(err) });
    const results = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(results.every((r) => r.status === 'rejected' && r.reason === err)).toBe(true);
  });

  it('abort rejects what is not flushed yet and keeps nothing', async () => {
    const { flushes, batcher } = recorder(1000, 60_000);
    batcher.enter();
    batcher.enter();
    const p = batcher.submit([1]);
    batcher.abort(new Error('stopping'));
    await expect(p).rejects.toThrow('stopping');
    expect(batcher.pendingCount).toBe(0);
    expect(flushes).toEqual([]);
  });
});
