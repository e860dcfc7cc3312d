/**
 * LOAD DATA text written straight into one growing buffer: no string per row and no array
 * per row (a batch of thousands of rows otherwise allocates tens of thousands of small
 * strings). The field format is the dialect's (lib/dialect/mysql/bulk-load.ts,
 * mysqlLoadField): NULL as \N, backslash escapes, bytes as hex, booleans as 1/0.
 */
import { mysqlLoadField } from '../dialect/mysql/bulk-load.js';
import type { ColumnType, Value } from '../types.js';

const TAB = 0x09;
const NEWLINE = 0x0a;
/** LOAD DATA sends the text in packets of at most this many bytes (the protocol's limit is 16 MiB). */
const CHUNK = 1 << 20;

export class LoadText {
  private buf: Buffer;
  private len = 0;
  private lineStart = true;
  rows = 0;

  constructor(sizeHint = 1 << 16) {
    this.buf = Buffer.allocUnsafe(sizeHint);
  }

  private room(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + bytes));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private sep(): void {
    if (this.lineStart) {
      this.lineStart = false;
      return;
    }
    this.room(1);
    this.buf[this.len++] = TAB;
  }

  /** One field: a value of column type `t`. */
  value(v: Value, t: ColumnType): void {
    this.raw(mysqlLoadField(v, t));
  }

  /** One field whose text is already in the LOAD DATA format (no escaping is applied). */
  raw(text: string): void {
    this.sep();
    // UTF-8 needs at most 3 bytes per UTF-16 code unit
    this.room(text.length * 3);
    this.len += this.buf.write(text, this.len, 'utf8');
  }

  /** A stamp (or NULL). */
  stamp(s: bigint | null): void {
    this.raw(s === null ? '\\N' : s.toString());
  }

  /** A stamp, or an empty field when it equals the row stamp `ref` (see loadSetStageSql). */
  stampOr(s: bigint | null, ref: bigint | null): void {
    if (s !== null && s === ref) this.sep();
    else this.stamp(s);
  }

  endRow(): void {
    this.room(1);
    this.buf[this.len++] = NEWLINE;
    this.lineStart = true;
    this.rows++;
  }

  /** The text in packet-sized slices. */
  chunks(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < this.len; i += CHUNK) out.push(this.buf.subarray(i, Math.min(this.len, i + CHUNK)));
    return out;
  }
}
