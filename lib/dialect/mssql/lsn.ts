/**
 * SQL Server log sequence numbers (LSN) as fieldsync handles them.
 *
 * An LSN is binary(10): VLF sequence (4 bytes), log block (4), slot (2), big-endian, so
 * byte-wise comparison is LSN order. The `mssql` driver returns binary(10) as a Buffer of
 * 10 bytes; fieldsync keeps LSNs as Buffers in memory and as 20 hex digits (lower case,
 * no 0x) in offsets and event positions. The same applies to __$seqval.
 *
 * LSN arithmetic (next / previous LSN) is the server's job (sys.fn_cdc_increment_lsn,
 * sys.fn_cdc_decrement_lsn); this module only compares, converts and validates.
 */
import { DataError } from '../../errors.js';

export type Lsn = Buffer;

export const LSN_BYTES = 10;

/** The all-zero LSN, which SQL Server's CDC functions return for "no such instance / no access". */
export const ZERO_LSN: Lsn = Buffer.alloc(LSN_BYTES);

export function isLsn(v: unknown): v is Lsn {
  return Buffer.isBuffer(v) && v.length === LSN_BYTES;
}

/** Accept a driver value (Buffer) as an LSN, or fail naming what it was. */
export function asLsn(v: unknown, what: string): Lsn {
  if (isLsn(v)) return v;
  if (v instanceof Uint8Array && v.length === LSN_BYTES) return Buffer.from(v);
  throw new DataError(`${what} is not a binary(10) LSN: ${Buffer.isBuffer(v) ? `${v.length} bytes` : typeof v}`);
}

export function isZeroLsn(l: Lsn): boolean {
  return l.equals(ZERO_LSN);
}

export function compareLsn(a: Lsn, b: Lsn): number {
  return Buffer.compare(a, b);
}

export function lsnToHex(l: Lsn): string {
  return l.toString('hex');
}

/**
 * Parse an LSN written as 20 hex digits, optionally with a 0x prefix, or in the
 * `00000027:00000058:0003` form SQL Server tools and Debezium offsets use.
 */
export function lsnFromHex(text: string): Lsn {
  const t = text.trim().toLowerCase();
  const colon = /^([0-9a-f]{8}):([0-9a-f]{8}):([0-9a-f]{4})$/.exec(t);
  const hex = colon ? `${colon[1]}${colon[2]}${colon[3]}` : t.replace(/^0x/, '');
  if (!/^[0-9a-f]{20}$/.test(hex)) throw new DataError(`not an LSN: "${text}"`);
  return Buffer.from(hex, 'hex');
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return compareLsn(a, b) >= 0 ? a : b;
}
