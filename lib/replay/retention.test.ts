import { describe, expect, it } from 'vitest';
import { decideStart } from './retention.js';

const p = { topic: 't', partition: 0 };

describe('replay retention check', () => {
  it('starts from 0 when the topic still has everything', () => {
    expect(decideStart({ ...p, low: 0n, high: 10n }, { kind: 'earliest' })).toEqual({ offset: 0n });
  });
  it('refuses a replay from the beginning once retention deleted events', () => {
    const d = decideStart({ ...p, low: 4n, high: 10n }, { kind: 'earliest' });
    expect(d.problem).toMatch(/t\[0\].*needs offset 0.*starts at 4/);
  });
  it('continues at the stored offset, and refuses when that offset is gone', () => {
    expect(decideStart({ ...p, low: 4n, high: 10n, stored: 6n }, { kind: 'earliest' })).toEqual({ offset: 6n });
    expect(decideStart({ ...p, low: 4n, high: 10n, stored: 2n }, { kind: 'earliest' }).problem).toMatch(/continues at offset 2.*starts at 4/);
  });
  it('accepts a time whose first event is retained with older events before it', () => {
    expect(decideStart({ ...p, low: 4n, high: 10n, atTime: 7n }, { kind: 'timestamp', timestampMs: 1 })).toEqual({ offset: 7n });
    expect(decideStart({ ...p, low: 0n, high: 10n, atTime: 0n }, { kind: 'timestamp', timestampMs: 1 })).toEqual({ offset: 0n });
  });
  it('refuses a time older than the oldest retained event', () => {
    expect(decideStart({ ...p, low: 4n, high: 10n, atTime: 4n }, { kind: 'timestamp', timestampMs: 1 }).problem).toMatch(/newer than --from/);
  });
  it('has nothing to apply when no event is at or after the time', () => {
    expect(decideStart({ ...p, low: 4n, high: 10n, atTime: -1n }, { kind: 'timestamp', timestampMs: 1 })).toEqual({ offset: 10n });
  });
});
