import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CdcOffset, CdcOffsetCodec } from './cdc-offset.js';
import { lsnFromHex } from './lsn.js';

const L = (hex: string) => lsnFromHex(hex);

describe('CdcOffsetCodec', () => {
  it('round-trips stream and snapshot offsets with typed key values', () => {
    const offsets: CdcOffset[] = [
      { phase: 'stream', instance: 'dbo_clients', commitLsn: L('0000002a000001200003'), seqval: L('0000002a000001200002'), serial: 1, complete: false },
      { phase: 'stream', instance: null, commitLsn: null, seqval: null, serial: 0, complete: false },
      {
        phase: 'snapshot', instance: 'dbo_clients', reason: 'gap', snapshotLsn: L('00000030000000100001'), minLsnAtStart: L('00000020000000100001'),
        stampMicros: 1_740_000_000_123_456n, run: 'abc', chunk: 3, lastKey: [9007199254740993n, 'ü', Buffer.from([0, 255]), 4, true, null],
      },
    ];
    for (const o of offsets) expect(CdcOffsetCodec.parse(CdcOffsetCodec.serialize(o))).toEqual(o);
  });

  it('round-trips any stream position (property)', () => {
    const lsn = fc.uint8Array({ minLength: 10, maxLength: 10 }).map((a) => Buffer.from(a));
    fc.assert(fc.property(lsn, fc.option(lsn, { nil: null }), fc.nat(5), fc.boolean(), (commitLsn, seqval, serial, complete) => {
      const o: CdcOffset = { phase: 'stream', instance: 'i', commitLsn, seqval, serial, complete };
      expect(CdcOffsetCodec.parse(CdcOffsetCodec.serialize(o))).toEqual(o);
    }));
  });

  it('loads a bare LSN (0x hex, JSON string or colon form) as complete through that LSN', () => {
    for (const text of ['0x0000002A000001200003', '"0000002a000001200003"', '0000002a:00000120:0003']) {
      expect(CdcOffsetCodec.parse(text)).toEqual({ phase: 'stream', instance: null, commitLsn: L('0000002a000001200003'), seqval: null, serial: 0, complete: true });
    }
  });

  it('loads the v1 layout {lsn, seqval, index} as a resume inside the transaction', () => {
    expect(CdcOffsetCodec.parse('{"lsn":"0x0000002A000001200003","seqval":"0x0000002A000001200002","index":2}')).toEqual({
      phase: 'stream', instance: null, commitLsn: L('0000002a000001200003'), seqval: L('0000002a000001200002'), serial: 2, complete: false,
    });
  });

  it("loads Debezium's SQL Server offset (1-based event_serial_no)", () => {
    expect(CdcOffsetCodec.parse('{"commit_lsn":"0000002a:00000120:0003","change_lsn":"0000002a:00000120:0002","event_serial_no":1}')).toEqual({
      phase: 'stream', instance: null, commitLsn: L('0000002a000001200003'), seqval: L('0000002a000001200002'), serial: 0, complete: false,
    });
  });

  it('refuses an unknown format instead of restarting from scratch', () => {
    expect(() => CdcOffsetCodec.parse('{"position":42}')).toThrow(/unknown CDC offset format/);
    expect(() => CdcOffsetCodec.parse('not an lsn')).toThrow(/not an LSN/);
  });
});
