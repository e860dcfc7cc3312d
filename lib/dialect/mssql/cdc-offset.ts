/**
 * The typed position of one captured table (the "offset context", as in Debezium).
 *
 * Two phases:
 *   stream    (instance, commitLsn, seqval, serial, complete): the last change group
 *             emitted. `complete` says every change of commitLsn's transaction was
 *             emitted, so the next window starts at sys.fn_cdc_increment_lsn(commitLsn);
 *             otherwise it starts AT commitLsn, after seqval when `groupDone`
 *             (the normal case), else skipping what is at or before (seqval, serial). commitLsn null means "from the instance's minimum LSN"
 *             (a new table without snapshot). seqval null with complete false means
 *             "from commitLsn inclusive" (used when a snapshot ends before the instance's
 *             first LSN).
 *   snapshot  (instance, snapshotLsn, stampMicros, minLsnAtStart, run, chunk, lastKey):
 *             a table being read as op = snapshot, resumable by key; when it is done the
 *             stream continues after snapshotLsn (the max LSN when the snapshot began).
 *
 * Stored as JSON. Current format: {"v":2,"phase":…}. Older formats still load:
 *   - a bare LSN string ("0x0000002A000001200003" or "0000002a:00000120:0003"):
 *     everything through that LSN was emitted (complete);
 *   - fieldsync v1: {"lsn":"…","seqval":"…","index":n}: resumed at lsn, skipping through
 *     (seqval, index) — never beyond, so at worst a duplicate;
 *   - Debezium's SQL Server connector: {"commit_lsn":"…","change_lsn":"…",
 *     "event_serial_no":n} (change_lsn is the __$seqval; its serial is 1-based).
 */
import { DataError } from '../../errors.js';
import type { Value } from '../../types.js';
import { type Lsn, lsnFromHex, lsnToHex } from './lsn.js';

export interface StreamOffset {
  phase: 'stream';
  /** Capture instance the position was read from; null when unknown (older formats). */
  instance: string | null;
  commitLsn: Lsn | null;
  seqval: Lsn | null;
  /** Index of the last emitted event within (commitLsn, seqval), from 0. */
  serial: number;
  /**
   * Every event of (commitLsn, seqval) was emitted (fieldsync never splits a row
   * group), so a resume reads from the NEXT seqval. Unset (older formats): the group is
   * read again and its events up to `serial` are skipped.
   */
  groupDone?: boolean;
  complete: boolean;
}

export interface SnapshotOffset {
  phase: 'snapshot';
  instance: string;
  /** Why: a newly configured table, or a cleanup gap with onCdcGap = resnapshot. */
  reason: 'initial' | 'gap';
  /** Max LSN when the snapshot began; the stream continues after it. */
  snapshotLsn: Lsn;
  /** The instance's minimum LSN when the snapshot began. */
  minLsnAtStart: Lsn;
  /** Commit time stamped on snapshot events (UTC server time at snapshot start). */
  stampMicros: bigint;
  run: string;
  chunk: number;
  /** Key values of the last row published, in key order; null before the first chunk. */
  lastKey: Value[] | null;
}

export type CdcOffset = StreamOffset | SnapshotOffset;

export function streamStart(instance: string | null): StreamOffset {
  return { phase: 'stream', instance, commitLsn: null, seqval: null, serial: 0, complete: false };
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function encodeValue(v: Value): Json {
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (Buffer.isBuffer(v)) return { hex: v.toString('hex') };
  return v;
}

function decodeValue(j: unknown): Value {
  if (j === null || typeof j === 'string' || typeof j === 'number' || typeof j === 'boolean') return j;
  if (typeof j === 'object' && j !== null) {
    const o = j as Record<string, unknown>;
    if (typeof o.bigint === 'string') return BigInt(o.bigint);
    if (typeof o.hex === 'string') return Buffer.from(o.hex, 'hex');
  }
  throw new DataError(`offset holds an unreadable key value: ${JSON.stringify(j)}`);
}

const str = (o: Record<string, unknown>, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string') throw new DataError(`offset field "${k}" is missing or not a string`);
  return v;
};
const optLsn = (o: Record<string, unknown>, k: string): Lsn | null => (o[k] === null || o[k] === undefined ? null : lsnFromHex(str(o, k)));
const int = (o: Record<string, unknown>, k: string, dflt?: number): number => {
  const v = o[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new DataError(`offset field "${k}" is missing or not an integer`);
  return v;
};

export class CdcOffsetCodec {
  static serialize(o: CdcOffset): string {
    if (o.phase === 'stream') {
      return JSON.stringify({
        v: 2, phase: 'stream', instance: o.instance,
        commitLsn: o.commitLsn ? lsnToHex(o.commitLsn) : null, seqval: o.seqval ? lsnToHex(o.seqval) : null,
        serial: o.serial, complete: o.complete, ...(o.groupDone ? { groupDone: true } : {}),
      });
    }
    return JSON.stringify({
      v: 2, phase: 'snapshot', instance: o.instance, reason: o.reason,
      snapshotLsn: lsnToHex(o.snapshotLsn), minLsnAtStart: lsnToHex(o.minLsnAtStart),
      stampMicros: o.stampMicros.toString(), run: o.run, chunk: o.chunk,
      lastKey: o.lastKey ? o.lastKey.map(encodeValue) : null,
    });
  }

  /** Load any known format; an unknown one is an error naming what was found (never a silent restart). */
  static parse(text: string): CdcOffset {
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      // Format 0: a bare LSN, not JSON-quoted.
      return { phase: 'stream', instance: null, commitLsn: lsnFromHex(text), seqval: null, serial: 0, complete: true };
    }
    if (typeof j === 'string') return { phase: 'stream', instance: null, commitLsn: lsnFromHex(j), seqval: null, serial: 0, complete: true };
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new DataError(`unknown CDC offset format: ${text.slice(0, 200)}`);
    const o = j as Record<string, unknown>;
    if (o.v === 2 && o.phase === 'stream') {
      return {
        phase: 'stream', instance: typeof o.instance === 'string' ? o.instance : null,
        commitLsn: optLsn(o, 'commitLsn'), seqval: optLsn(o, 'seqval'), serial: int(o, 'serial', 0), complete: o.complete === true,
        ...(o.groupDone === true ? { groupDone: true } : {}),
      };
    }
    if (o.v === 2 && o.phase === 'snapshot') {
      const reason = o.reason === 'gap' ? 'gap' : 'initial';
      return {
        phase: 'snapshot', instance: str(o, 'instance'), reason,
        snapshotLsn: lsnFromHex(str(o, 'snapshotLsn')), minLsnAtStart: lsnFromHex(str(o, 'minLsnAtStart')),
        stampMicros: BigInt(str(o, 'stampMicros')), run: str(o, 'run'), chunk: int(o, 'chunk'),
        lastKey: Array.isArray(o.lastKey) ? o.lastKey.map(decodeValue) : null,
      };
    }
    if (typeof o.lsn === 'string') {
      // fieldsync v1: resume inside the transaction, skipping through (seqval, index).
      return { phase: 'stream', instance: null, commitLsn: lsnFromHex(o.lsn), seqval: optLsn(o, 'seqval'), serial: int(o, 'index', 0), complete: false };
    }
    if (typeof o.commit_lsn === 'string') {
      // Debezium: event_serial_no counts from 1.
      return {
        phase: 'stream', instance: null, commitLsn: lsnFromHex(o.commit_lsn), seqval: optLsn(o, 'change_lsn'),
        serial: Math.max(0, int(o, 'event_serial_no', 1) - 1), complete: false,
      };
    }
    throw new DataError(`unknown CDC offset format: ${text.slice(0, 200)}`);
  }
}
