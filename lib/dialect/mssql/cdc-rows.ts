/**
 * Turns rows of cdc.fn_cdc_get_all_changes_<instance>(…, N'all update old') into change
 * events.
 *
 * Rows arrive ordered by (__$start_lsn, __$seqval, __$operation). __$start_lsn is the
 * commit LSN of the transaction; rows sharing (__$start_lsn, __$seqval) form one group
 * (one row change). __$operation: 1 delete, 2 insert, 3 the row before an update,
 * 4 the row after it. A 3 is never emitted itself: it pairs with the 4 that follows it
 * and supplies the old values. Each emitted event gets a serial within its group (0,
 * normally the only one; 0 and 1 when SQL Server logs a key update as delete + insert).
 *
 * Changed columns of an update (the rule, per column kind):
 *   - ordinary column: changed iff its old value (row 3) differs from its new value
 *     (row 4). The mask bit is also set for a column listed in the SET clause with the
 *     same value (ORMs write every column); reporting that would let a stale source
 *     value win over a newer edit in a target. Only without a row 3 does the mask bit
 *     alone decide.
 *   - (max) LOB ((n)varchar(max), varbinary(max), xml): CDC leaves it NULL in update
 *     rows that did not change it. Changed iff its mask bit is set AND its old and new
 *     values differ — so NULL/NULL is never a change, while a real change to NULL has
 *     a non-NULL old value (row 3 carries the old value of a changed LOB). Without a
 *     row 3, iff the bit is set and the new value is non-NULL. Unless changed, it is
 *     left out of `after` (never put there as NULL).
 *   - legacy LOB (text, ntext, image): CDC reports NULL for it in update rows whether
 *     or not it changed, so the value is unknowable: NEVER in `changed` for updates and
 *     never in `after`. Inserts and snapshots carry its value; a change to it made by an
 *     update reaches targets with the next snapshot / reconcile.
 * An update that changed a key column is emitted as a delete of the old key and an
 * insert of the new row (the target must not keep the old key).
 *
 * Commit time: cdc.lsn_time_mapping.tran_end_time is server-local and arrives as a Date
 * whose UTC fields are that local wall clock; UTC = local − the server's offset, read
 * in the same poll.
 */
import { DataError, FieldsyncError } from '../../errors.js';
import type { ChangeEvent, ChangeOp } from '../../event/change-event.js';
import type { Row, Value } from '../../types.js';
import { valuesEqual } from '../../canonical.js';
import type { DbRow } from '../dialect.js';
import type { InstanceMeta } from './capture-instance.js';
import { mssqlDialect } from './dialect.js';
import { type Lsn, asLsn, lsnToHex } from './lsn.js';
import { UpdateMaskDecoder } from './update-mask.js';

export interface PositionedEvent {
  event: ChangeEvent;
  lsn: Lsn;
  seqval: Lsn;
  serial: number;
}

export interface CdcRow {
  lsn: Lsn;
  seqval: Lsn;
  operation: 1 | 2 | 3 | 4;
  mask: Buffer;
  tranEndTime: unknown;
  raw: DbRow;
}

export function parseCdcRow(r: DbRow): CdcRow {
  const op = Number(r.__$operation);
  if (op !== 1 && op !== 2 && op !== 3 && op !== 4) throw new DataError(`unknown __$operation ${String(r.__$operation)}`);
  const mask = r.__$update_mask;
  return {
    lsn: asLsn(r.__$start_lsn, '__$start_lsn'),
    seqval: asLsn(r.__$seqval, '__$seqval'),
    operation: op,
    mask: Buffer.isBuffer(mask) ? mask : Buffer.alloc(0),
    tranEndTime: r.__$tran_end_time,
    raw: r,
  };
}

export function sameGroup(a: CdcRow, b: CdcRow): boolean {
  return a.lsn.equals(b.lsn) && a.seqval.equals(b.seqval);
}

export function cdcPosition(lsn: Lsn, seqval: Lsn, serial: number): string {
  return `cdc:${lsnToHex(lsn)}:${lsnToHex(seqval)}:${serial}`;
}

/** tran_end_time (server-local wall clock in a useUTC Date) → UTC microseconds. */
export function commitTimeMicros(tranEndTime: unknown, utcOffsetMinutes: number, lsn: Lsn): bigint {
  if (!(tranEndTime instanceof Date) || Number.isNaN(tranEndTime.getTime())) {
    // The capture job writes lsn_time_mapping with the change rows; a missing one is transient.
    throw new FieldsyncError(`no commit time in cdc.lsn_time_mapping for LSN 0x${lsnToHex(lsn)}`, { retriable: true });
  }
  return (BigInt(tranEndTime.getTime()) - BigInt(utcOffsetMinutes) * 60_000n) * 1000n;
}

export class CdcRowMapper {
  constructor(
    private readonly meta: InstanceMeta,
    private readonly origin: string,
  ) {}

  private values(r: DbRow): Row {
    const out: Row = {};
    for (const c of this.meta.columns) {
      try {
        out[c.spec.name] = mssqlDialect.fromDb(r[c.spec.name], c.spec.type);
      } catch (e) {
        throw new DataError(`unable to read column "${c.spec.name}" of ${this.meta.table.schema}.${this.meta.table.name}: ${e instanceof Error ? e.message : String(e)}`, e);
      }
    }
    return out;
  }

  private keyOf(row: Row): Row {
    return Object.fromEntries(this.meta.table.key.map((k) => [k, row[k] ?? null]));
  }

  private event(op: ChangeOp, g: CdcRow, serial: number, time: bigint, key: Row, after: Row | null, changed: string[]): PositionedEvent {
    return { event: { op, origin: this.origin, commitTimeMicros: time, position: cdcPosition(g.lsn, g.seqval, serial), key, after, changed }, lsn: g.lsn, seqval: g.seqval, serial };
  }

  /** Map complete groups of rows (every 3 followed by its 4) to events, in order. */
  map(rows: readonly CdcRow[], utcOffsetMinutes: number): PositionedEvent[] {
    const out: PositionedEvent[] = [];
    let i = 0;
    while (i < rows.length) {
      const first = rows[i]!;
      let serial = 0;
      const time = commitTimeMicros(first.tranEndTime, utcOffsetMinutes, first.lsn);
      for (; i < rows.length && sameGroup(rows[i]!, first); i++) {
        const r = rows[i]!;
        if (r.operation === 1) {
          const before = this.values(r.raw);
          out.push(this.event('delete', r, serial++, time, this.keyOf(before), null, []));
        } else if (r.operation === 2) {
          const row = this.values(r.raw);
          out.push(this.event('insert', r, serial++, time, this.keyOf(row), row, Object.keys(row)));
        } else if (r.operation === 3) {
          const next = rows[i + 1];
          if (!next || next.operation !== 4 || !sameGroup(next, r)) {
            throw new FieldsyncError(`CDC row 3 (before update) at LSN 0x${lsnToHex(r.lsn)} seqval 0x${lsnToHex(r.seqval)} has no matching row 4`);
          }
          i++;
          serial = this.update(out, this.values(r.raw), next, serial, time);
        } else {
          serial = this.update(out, null, r, serial, time);
        }
      }
    }
    return out;
  }

  private update(out: PositionedEvent[], before: Row | null, r: CdcRow, serial: number, time: bigint): number {
    const row = this.values(r.raw);
    const after: Row = {};
    const changed: string[] = [];
    for (const c of this.meta.columns) {
      const name = c.spec.name;
      const bit = UpdateMaskDecoder.isSet(r.mask, c.ordinal);
      const nv: Value = row[name] ?? null;
      if (c.lob === 'legacy') continue; // never changed, never in after (see module comment)
      if (c.lob === 'max') {
        const lobChanged = bit && (before ? !valuesEqual(before[name] ?? null, nv) : nv !== null);
        if (lobChanged) { after[name] = nv; changed.push(name); }
        continue;
      }
      after[name] = nv;
      if (before ? !valuesEqual(before[name] ?? null, nv) : bit) changed.push(name);
    }
    const keyChanged = before !== null && this.meta.table.key.some((k) => !valuesEqual(before[k] ?? null, row[k] ?? null));
    if (keyChanged) {
      out.push(this.event('delete', r, serial++, time, this.keyOf(before), null, []));
      out.push(this.event('insert', r, serial++, time, this.keyOf(row), after, Object.keys(after)));
      return serial;
    }
    out.push(this.event('update', r, serial++, time, this.keyOf(row), after, changed));
    return serial;
  }
}
