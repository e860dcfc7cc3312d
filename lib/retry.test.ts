import { describe, expect, it } from 'vitest';
import { FieldsyncError } from './errors.js';
import { backoffDelay, retry } from './retry.js';

describe('retry', () => {
  it('retries retriable errors with growing, jittered, capped delays', async () => {
    const delays: number[] = [];
    let calls = 0;
    const out = await retry(async () => {
      calls++;
      if (calls < 4) throw new FieldsyncError('flaky', { retriable: true });
      return 'done';
    }, { initialDelayMs: 1, maxDelayMs: 4, onRetry: (_e, _a, d) => delays.push(d) });
    expect(out).toBe('done');
    expect(calls).toBe(4);
    expect(delays.every((d) => d >= 0 && d <= 4)).toBe(true);
    expect(backoffDelay(10, 100, 5000, () => 1)).toBe(5000);
    expect(backoffDelay(0, 100, 5000, () => 0)).toBe(50);
  });

  it('never retries non-retriable errors or programming errors', async () => {
    let calls = 0;
    await expect(retry(async () => { calls++; throw new TypeError('bug'); }, { initialDelayMs: 1 })).rejects.toThrow('bug');
    expect(calls).toBe(1);
  });

  it('stops at once on bail()', async () => {
    let calls = 0;
    await expect(retry(async (bail) => { calls++; bail(new Error('fatal')); }, { initialDelayMs: 1 })).rejects.toThrow('fatal');
    expect(calls).toBe(1);
  });
});
