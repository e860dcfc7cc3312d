/**
 * Reads and checks the LSN window of one capture instance for one poll.
 *
 * One statement returns the instance's minimum LSN, the global maximum LSN, the LSN
 * after the saved one (sys.fn_cdc_increment_lsn), the LSN before the successor
 * instance's start (sys.fn_cdc_decrement_lsn) and the server's UTC offset. Then:
 *
 *   from = min LSN                 for a new stream (no saved LSN),
 *          increment(saved LSN)    when the saved transaction was emitted completely,
 *          saved LSN               when resuming inside a transaction;
 *   to   = max LSN, or decrement(successor start) when a newer instance exists and
 *          starts before max (the old instance is read up to the switch, exclusive).
 *
 * The window is checked BEFORE any change query, because SQL Server's answer to a bad
 * window is misleading ("An insufficient number of arguments were supplied…", error
 * 313) instead of "cleaned up":
 *   - from < min with a saved position → gap: the cleanup job removed changes that were
 *     never emitted (the caller applies onCdcGap; never skipped silently);
 *   - from > to → empty window (LSN ranges are inclusive on both ends);
 *   - from > decrement(successor start) → everything of this instance before the
 *     successor's start was read: switch.
 * A min LSN of all zeros means the instance does not exist (any more) or the login
 * cannot read it: a retriable error, the next poll resolves the instances again.
 */
import { FieldsyncError } from '../../errors.js';
import type { CdcQueries } from './cdc-queries.js';
import type { StreamOffset } from './cdc-offset.js';
import { type Lsn, asLsn, compareLsn, isZeroLsn, lsnToHex } from './lsn.js';

export interface LsnWindow {
  instance: string;
  minLsn: Lsn;
  maxLsn: Lsn;
  /** Inclusive bounds. */
  from: Lsn;
  to: Lsn;
  empty: boolean;
  /** The saved position is older than the instance's minimum LSN (cleanup ran past it). */
  gap: boolean;
  /** The last LSN of this instance before its successor's start, when there is a successor. */
  switchPrev: Lsn | null;
  /** Everything of this instance before the successor's start was read. */
  switchReady: boolean;
  /** Minutes to add to UTC to get server-local time, read in this poll. */
  utcOffsetMinutes: number;
  nowUtcMicros: bigint;
}

/** A datetime2 / datetime read with useUTC: the Date's UTC fields are the server's wall clock. */
export function driverDateMicros(v: unknown, what: string): bigint {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new FieldsyncError(`${what} is not a date/time value`);
  return BigInt(v.getTime()) * 1000n;
}

export class LsnWindowReader {
  constructor(private readonly queries: CdcQueries) {}

  async read(instance: string, offset: StreamOffset, successorStart: Lsn | null): Promise<LsnWindow> {
    const saved = offset.commitLsn;
    const rows = await this.queries.lsnWindow(instance, saved && offset.complete ? saved : null, successorStart);
    const r = rows[0];
    if (!r) throw new FieldsyncError(`unable to read the LSN window of capture instance ${instance}: no row returned`, { retriable: true });
    const min = asLsn(r.min_lsn, `sys.fn_cdc_get_min_lsn(${instance})`);
    if (isZeroLsn(min)) {
      throw new FieldsyncError(`capture instance ${instance} was not found or cannot be read (sys.fn_cdc_get_min_lsn returned 0x00…): was CDC disabled for the table, or does the login lack the cdc role?`, { retriable: true });
    }
    const max = asLsn(r.max_lsn, 'sys.fn_cdc_get_max_lsn()');
    let from: Lsn;
    if (saved === null) from = min;
    else if (offset.complete) from = asLsn(r.next_lsn, `sys.fn_cdc_increment_lsn(0x${lsnToHex(saved)})`);
    else from = saved;
    const switchPrev = successorStart ? asLsn(r.switch_prev_lsn, 'sys.fn_cdc_decrement_lsn(successor start)') : null;
    let to = max;
    if (switchPrev && compareLsn(switchPrev, to) < 0) to = switchPrev;
    const offsetMinutes = Number(r.utc_offset_minutes);
    if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) > 18 * 60) throw new FieldsyncError(`server UTC offset ${String(r.utc_offset_minutes)} is not a valid number of minutes`);
    return {
      instance,
      minLsn: min,
      maxLsn: max,
      from,
      to,
      empty: isZeroLsn(max) || compareLsn(from, to) > 0,
      gap: saved !== null && compareLsn(from, min) < 0,
      switchPrev,
      switchReady: switchPrev !== null && compareLsn(from, switchPrev) > 0,
      utcOffsetMinutes: offsetMinutes,
      nowUtcMicros: driverDateMicros(r.now_utc, 'SYSUTCDATETIME()'),
    };
  }
}
