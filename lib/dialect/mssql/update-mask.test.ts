import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UpdateMaskDecoder } from './update-mask.js';

const cols = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `c${i + 1}`, ordinal: i + 1 }));

describe('UpdateMaskDecoder', () => {
  it('reads ordinal 1 from the least-significant bit of the last byte', () => {
    const d = new UpdateMaskDecoder(cols(3));
    expect(d.decode(Buffer.from([0x01]))).toEqual(['c1']);
    expect(d.decode(Buffer.from([0x06]))).toEqual(['c2', 'c3']);
    expect(d.decode(Buffer.from([0x00]))).toEqual([]);
  });

  it('decodes masks wider than one byte big-endian (10 and 20 columns)', () => {
    const ten = new UpdateMaskDecoder(cols(10));
    // As SQL Server returns it for an update of columns 1, 9 and 10 of a 10-column table.
    expect(ten.decode(Buffer.from([0x03, 0x01]))).toEqual(['c1', 'c9', 'c10']);
    expect(ten.decode(Buffer.from([0x02, 0x80]))).toEqual(['c8', 'c10']);
    const twenty = new UpdateMaskDecoder(cols(20));
    expect(twenty.decode(Buffer.from([0x08, 0x00, 0x01]))).toEqual(['c1', 'c20']);
  });

  it('follows capture ordinals, not list position, and ignores bits of uncaptured ordinals', () => {
    const d = new UpdateMaskDecoder([{ name: 'b', ordinal: 9 }, { name: 'a', ordinal: 2 }]);
    expect(d.decode(Buffer.from([0x01, 0x03]))).toEqual(['a', 'b']);
  });

  it('reads bits beyond a short mask as not set', () => {
    expect(UpdateMaskDecoder.isSet(Buffer.from([0xff]), 9)).toBe(false);
    expect(UpdateMaskDecoder.isSet(Buffer.alloc(0), 1)).toBe(false);
  });

  it('round-trips any set of ordinals for any width (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.array(fc.nat(), { maxLength: 30 }), (n, picks) => {
      const ordinals = [...new Set(picks.map((p) => (p % n) + 1))].sort((a, b) => a - b);
      const mask = UpdateMaskDecoder.encode(ordinals, Math.ceil(n / 8));
      expect(new UpdateMaskDecoder(cols(n)).decode(mask)).toEqual(ordinals.map((o) => `c${o}`));
    }));
  });

  it('rejects invalid ordinals', () => {
    expect(() => new UpdateMaskDecoder([{ name: 'x', ordinal: 0 }])).toThrow(/invalid ordinal/);
  });
});
