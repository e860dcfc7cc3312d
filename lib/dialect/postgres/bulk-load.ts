/**
 * PostgreSQL bulk load: `COPY table (cols) FROM STDIN` in text format through
 * pg-copy-streams, fed from an async iterator of row batches.
 *
 * Memory stays bounded: each batch is rendered to one text chunk and pushed through a
 * stream pipeline, so the next batch is only read from the source once COPY has taken
 * the previous one (backpressure). Values are the canonical forms of lib/types.ts,
 * rendered in COPY's text format:
 *   NULL → \N; backslash, tab, newline and carriage return are backslash-escaped;
 *   bytes → bytea hex (\\x…, the backslash itself escaped); booleans → t/f;
 *   timestamps of timestamptz columns get an explicit +00 (canonical values are UTC).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { wrap } from '../../errors.js';
import type { ColumnType, Value } from '../../types.js';
import { renderBulkLines, type BulkColumn } from '../bulk-text.js';
import { postgresDialect } from './dialect.js';

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPE_ALL = /[\\\n\r\t]/g;

function escapeText(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(ESCAPE_ALL, (c) => ESCAPES[c]!) : s;
}

/** One canonical value in COPY text format. */
export function pgCopyField(v: Value, t: ColumnType): string {
  if (v === null) return '\\N';
  if (Buffer.isBuffer(v)) return `\\\\x${v.toString('hex')}`;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return t.kind === 'bool' ? (v ? 't' : 'f') : String(v);
  }
  if (t.kind === 'timestamp' && t.tz) return `${v}+00`;
  return escapeText(v);
}

/** Render rows (values in column order) as COPY text lines. */
export function pgCopyText(rows: readonly (readonly Value[])[], columns: readonly BulkColumn[]): string {
  return renderBulkLines(rows, columns, pgCopyField);
}

/**
 * COPY the batches into `table`; returns the rows PostgreSQL reports as copied.
 * `onBatch` runs after each batch was handed to COPY (progress).
 */
export async function pgBulkLoad(
  client: pg.PoolClient,
  table: { schema: string; name: string },
  columns: readonly BulkColumn[],
  batches: AsyncIterable<readonly (readonly Value[])[]>,
  onBatch?: (rows: number) => void,
): Promise<number> {
  async function* text(): AsyncGenerator<string> {
    for await (const batch of batches) {
      const chunk = pgCopyText(batch, columns);
      if (chunk) yield chunk;
      onBatch?.(batch.length);
    }
  }
  return pgBulkLoadText(client, table, columns.map((c) => c.name), Readable.from(text(), { objectMode: false }));
}

/** COPY already rendered text-format lines (e.g. another server's COPY TO output) into `table`. */
export async function pgBulkLoadText(client: pg.PoolClient, table: { schema: string; name: string }, columns: readonly string[], text: Readable): Promise<number> {
  const d = postgresDialect;
  const sql = `COPY ${d.qualified(table)} (${columns.map((c) => d.quote(c)).join(', ')}) FROM STDIN`;
  const stream = client.query(copyFrom(sql));
  try {
    await pipeline(text, stream);
  } catch (e) {
    throw wrap(`unable to COPY rows into ${d.qualified(table)}`, e);
  }
  return stream.rowCount;
}
