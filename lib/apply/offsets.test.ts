import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SEEKS, decideBatch, nextOffsets, tpKey } from './offsets.js';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(from + i));

describe('decideBatch', () => {
  it('applies a batch that starts exactly at the target position', () => {
    expect(decideBatch(10n, range(10, 5), 0)).toEqual({ action: 'apply', fromIndex: 0 });
  });

  it('drops messages the target already has (duplicates after a crash)', () => {
    expect(decideBatch(12n, range(10, 5), 0)).toEqual({ action: 'apply', fromIndex: 2 });
    expect(decideBatch(15n, range(10, 5), 0)).toEqual({ action: 'skip' });
  });

  it('seeks back when the fetch is ahead of the target, and calls it a gap only after repeated seeks', () => {
    expect(decideBatch(3n, range(10, 5), 0)).toEqual({ action: 'seek', offset: 3n });
    expect(decideBatch(3n, range(10, 5), MAX_SEEKS - 1)).toEqual({ action: 'seek', offset: 3n });
    expect(decideBatch(3n, range(10, 5), MAX_SEEKS)).toEqual({ action: 'gap', expected: 3n, firstOffset: 10n });
  });

  it('never applies a message below the target position, never skips one at or above it', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 200n }), fc.nat(100), fc.nat(50), fc.nat(MAX_SEEKS + 1), (expected, start, len, seeks) => {
      const offsets = range(start, len);
      const d = decideBatch(expected, offsets, seeks);
      if (d.action === 'apply') {
        const applied = offsets.slice(d.fromIndex);
        expect(applied.every((o) => o >= expected)).toBe(true);
        expect(offsets.slice(0, d.fromIndex).every((o) => o < expected)).toBe(true);
      } else if (d.action === 'skip') {
        expect(offsets.every((o) => o < expected)).toBe(true);
      } else {
        expect(offsets[0]! > expected).toBe(true);
        expect(d.action).toBe(seeks >= MAX_SEEKS ? 'gap' : 'seek');
      }
    }));
  });
});

describe('nextOffsets', () => {
  it('stores one past the greatest flushed offset per partition', () => {
    const out = nextOffsets([
      { topic: 'a', partition: 0, offset: 5n }, { topic: 'a', partition: 0, offset: 7n }, { topic: 'a', partition: 1, offset: 2n }, { topic: 'b', partition: 0, offset: 0n },
    ]);
    expect([...out.values()]).toEqual([
      { topic: 'a', partition: 0, nextOffset: 8n }, { topic: 'a', partition: 1, nextOffset: 3n }, { topic: 'b', partition: 0, nextOffset: 1n },
    ]);
  });

  it('never moves an offset backwards', () => {
    const known = new Map([[tpKey('a', 0), 100n]]);
    const out = nextOffsets([{ topic: 'a', partition: 0, offset: 5n }], known);
    expect(out.get(tpKey('a', 0))!.nextOffset).toBe(100n);
  });
});
