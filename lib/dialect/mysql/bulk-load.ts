/**
 * MySQL / MariaDB bulk load: `LOAD DATA LOCAL INFILE` whose "file" is a stream
 * (mysql2's infileStreamFactory), fed from an async iterator of row batches.
 *
 * The format is spelled out in the statement (FIELDS TERMINATED BY tab, ESCAPED BY
 * backslash, LINES TERMINATED BY newline, utf8mb4), so server defaults cannot change it:
 *   NULL → \N; backslash, tab, newline, carriage return and NUL are backslash-escaped;
 *   booleans → 1/0; bytes travel as hex and are decoded by UNHEX() in the SET clause.
 * Memory stays bounded: one batch at a time is rendered and pushed with backpressure.
 *
 * LOAD DATA LOCAL turns data errors into warnings and skips duplicate keys, which would
 * silently lose or alter rows; so any warning fails the load with the server's first
 * messages, and the caller compares the loaded row count with the rows it sent.
 */
import { Readable, Transform } from 'node:stream';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { DataError, wrap } from '../../errors.js';
import type { ColumnType, Value } from '../../types.js';
import { renderBulkLines, type BulkColumn } from '../bulk-text.js';
import { mysqlDialect } from './dialect.js';

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };
const NEEDS_ESCAPE = /[\\\n\r\t\0]/;
const ESCAPE_ALL = /[\\\n\r\t\0]/g;

/** One canonical value as a LOAD DATA field (bytes as hex, to be UNHEX()ed). */
export function mysqlLoadField(v: Value, t: ColumnType): string {
  if (v === null) return '\\N';
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new DataError(`value ${v} cannot be stored in MySQL (${t.kind})`);
    return String(v);
  }
  return NEEDS_ESCAPE.test(v) ? v.replace(ESCAPE_ALL, (c) => ESCAPES[c]!) : v;
}

/** Render rows (values in column order) as LOAD DATA lines. */
export function mysqlLoadText(rows: readonly (readonly Value[])[], columns: readonly BulkColumn[]): string {
  return renderBulkLines(rows, columns, mysqlLoadField);
}

/** The LOAD DATA statement for `columns` (exported for unit tests). */
export function loadDataSql(table: { schema: string; name: string }, columns: readonly BulkColumn[]): string {
  const d = mysqlDialect;
  const targets: string[] = [];
  const sets: string[] = [];
  columns.forEach((c, i) => {
    if (c.type.kind === 'bytes') {
      targets.push(`@fs_b${i}`);
      sets.push(`${d.quote(c.name)} = UNHEX(@fs_b${i})`);
    } else {
      targets.push(d.quote(c.name));
    }
  });
  return `LOAD DATA LOCAL INFILE 'fieldsync-stream' INTO TABLE ${d.qualified(table)} CHARACTER SET utf8mb4 `
    + `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')})`
    + (sets.length ? ` SET ${sets.join(', ')}` : '');
}

/** LOAD DATA the batches into `table`; returns the rows the server reports as loaded. */
export async function mysqlBulkLoad(
  conn: PoolConnection,
  table: { schema: string; name: string },
  columns: readonly BulkColumn[],
  batches: AsyncIterable<readonly (readonly Value[])[]>,
  onBatch?: (rows: number) => void,
): Promise<number> {
  async function* text(): AsyncGenerator<Buffer> {
    for await (const batch of batches) {
      const chunk = mysqlLoadText(batch, columns);
      if (chunk) yield Buffer.from(chunk, 'utf8');
      onBatch?.(batch.length);
    }
  }
  return mysqlBulkLoadText(conn, table, columns, Readable.from(text()));
}

/**
 * LOAD DATA already rendered lines (this module's format; bytes columns as hex) into
 * `table`. Also used with PostgreSQL COPY TO text output, whose escapes are the same
 * except \f and \v (see copyTextToLoadData).
 */
export async function mysqlBulkLoadText(conn: PoolConnection, table: { schema: string; name: string }, columns: readonly BulkColumn[], text: Readable): Promise<number> {
  let header: ResultSetHeader;
  try {
    const [res] = await conn.query({ sql: loadDataSql(table, columns), infileStreamFactory: () => text });
    header = res as ResultSetHeader;
  } catch (e) {
    throw wrap(`unable to LOAD DATA into ${mysqlDialect.qualified(table)}`, e);
  }
  if (header.warningStatus > 0) {
    const [warnings] = await conn.query('SHOW WARNINGS LIMIT 5');
    const text = (warnings as { Message?: string }[]).map((w) => w.Message ?? '').join('; ');
    throw new DataError(`LOAD DATA into ${mysqlDialect.qualified(table)} reported ${header.warningStatus} warning(s) (rows would be altered or skipped): ${text}`);
  }
  return header.affectedRows;
}

const BACKSLASH = 0x5c;

/**
 * PostgreSQL's COPY text escapes are LOAD DATA's, except \f (form feed) and \v (vertical
 * tab), which LOAD DATA would read as "f" and "v". This transform writes those two
 * characters raw instead (a raw form feed or tab-less control character needs no escape
 * in LOAD DATA). Chunks without either escape pass through untouched; an escape split
 * across two chunks is carried over.
 */
export function copyTextToLoadData(): Transform {
  let carry = false; // the previous chunk ended inside an escape (a lone backslash)
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let buf = carry ? Buffer.concat([Buffer.from([BACKSLASH]), chunk]) : chunk;
      carry = false;
      if (buf.indexOf('\\f') < 0 && buf.indexOf('\\v') < 0 && buf[buf.length - 1] !== BACKSLASH) { done(null, buf); return; }
      const out = Buffer.allocUnsafe(buf.length);
      let o = 0;
      for (let i = 0; i < buf.length; i++) {
        const b = buf[i]!;
        if (b !== BACKSLASH) { out[o++] = b; continue; }
        if (i + 1 >= buf.length) { carry = true; break; }
        const next = buf[i + 1]!;
        if (next === 0x66) out[o++] = 0x0c;        // \f
        else if (next === 0x76) out[o++] = 0x0b;   // \v
        else { out[o++] = b; out[o++] = next; }
        i++;
      }
      buf = out.subarray(0, o);
      done(null, buf);
    },
    flush(done) {
      done(carry ? new Error('COPY text ended inside an escape sequence') : null);
    },
  });
}
