/**
 * Cross-dialect value comparison for `fieldsync verify`.
 *
 * Two databases hold "the same" value in different native types: PostgreSQL `jsonb`
 * renders `{"a": 1}` while MariaDB's JSON renders `{"a":1}`; a uuid is a `uuid` in one and
 * a `CHAR(36)` (kind string) in the other; an unconstrained PostgreSQL numeric carries
 * scale 10 while the MySQL column has scale 2; a 32-bit float read back from MySQL is
 * widened to a double. So verify never compares driver values: every value is first made
 * canonical by the dialect (lib/canonical.ts via `dialect.fromDb`), then rendered here
 * into one comparison text per column *pair* of types:
 *
 *   - json on either side      → parsed and re-serialised with sorted object keys
 *   - int / decimal            → plain decimal notation without trailing fractional zeros
 *   - float (32 on either side)→ rounded to float32 first, then the shortest round-trip text
 *   - bytes                    → lower-case hex
 *   - everything else          → the canonical string (timestamps, dates, times are
 *                                already fixed-width UTC text; uuids are lower-case)
 *
 * The text is prefixed with a one-letter tag so that NULL, the empty string and a string
 * "null" never collide. Row digests (MD5 of the key and the comparison texts, in column
 * order) are summed per chunk modulo 2^128: the chunk checksum does not depend on the
 * order in which a database returned the rows, and duplicates do not cancel out (as they
 * would with XOR).
 */
import { createHash } from 'node:crypto';
import type { ColumnType, Value } from '../types.js';

export type CompareKind = 'json' | 'number' | 'float32' | 'float' | 'bytes' | 'text' | 'bool';

/** How one column pair is compared (the same rule for both sides). */
export function compareKind(a: ColumnType, b: ColumnType): CompareKind {
  if (a.kind === 'json' || b.kind === 'json') return 'json';
  if (a.kind === 'float' || b.kind === 'float') {
    return (a.kind === 'float' && a.bits === 32) || (b.kind === 'float' && b.bits === 32) ? 'float32' : 'float';
  }
  if (a.kind === 'int' || a.kind === 'decimal' || b.kind === 'int' || b.kind === 'decimal') return 'number';
  if (a.kind === 'bytes' || b.kind === 'bytes') return 'bytes';
  if (a.kind === 'bool' || b.kind === 'bool') return 'bool';
  return 'text';
}

/** Decimal text (or an integer) → plain notation without trailing fractional zeros; "-0" → "0". */
export function normalizeNumberText(text: string): string {
  let t = text.trim();
  let neg = false;
  if (t.startsWith('-')) { neg = true; t = t.slice(1); } else if (t.startsWith('+')) t = t.slice(1);
  let [int = '', frac = ''] = t.split('.');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const out = frac ? `${int}.${frac}` : int;
  return neg && out !== '0' ? `-${out}` : out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** JSON text → canonical JSON text (sorted keys, no insignificant whitespace). Unparseable text is kept as is. */
export function normalizeJsonText(text: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(text) as unknown));
  } catch {
    return text;
  }
}

function bufferOf(v: Value): Buffer {
  if (Buffer.isBuffer(v)) return v;
  return Buffer.from(String(v), 'utf8');
}

/** The comparison text of one canonical value under a compare kind. NULL is "N". */
export function comparisonText(v: Value, kind: CompareKind): string {
  if (v === null) return 'N';
  switch (kind) {
    case 'json': return `J${normalizeJsonText(Buffer.isBuffer(v) ? v.toString('utf8') : String(v))}`;
    case 'number': return `D${normalizeNumberText(String(v))}`;
    case 'float32': return `F${String(Math.fround(Number(v)))}`;
    case 'float': return `F${String(Number(v))}`;
    case 'bytes': return `X${bufferOf(v).toString('hex')}`;
    case 'bool': return `B${v === true || v === 1 || v === '1' || v === 1n ? 1 : 0}`;
    case 'text': return `S${Buffer.isBuffer(v) ? v.toString('utf8') : String(v)}`;
  }
}

/** Text identifying a key (the comparison texts of the key columns, joined unambiguously). */
export function keyText(values: string[]): string {
  return JSON.stringify(values);
}

/** 128-bit digest of one row's comparison texts (key first, then the compared columns in order). */
export function rowDigest(texts: string[]): bigint {
  const h = createHash('md5');
  for (const t of texts) {
    // length-prefixed so that ["ab","c"] and ["a","bc"] differ
    h.update(`${t.length}:`);
    h.update(t);
  }
  return BigInt(`0x${h.digest('hex')}`);
}

const MOD_128 = 1n << 128n;

/** Order-independent chunk checksum: row count plus the sum of the row digests modulo 2^128. */
export class ChunkChecksum {
  rows = 0;
  sum = 0n;
  add(digest: bigint): void {
    this.rows += 1;
    this.sum = (this.sum + digest) % MOD_128;
  }
  merge(other: ChunkChecksum): void {
    this.rows += other.rows;
    this.sum = (this.sum + other.sum) % MOD_128;
  }
  equals(other: ChunkChecksum): boolean {
    return this.rows === other.rows && this.sum === other.sum;
  }
  hex(): string {
    return this.sum.toString(16).padStart(32, '0');
  }
}

/** A canonical value as printable JSON-safe text for reports. */
export function displayValue(v: Value | undefined): string | null {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return String(v);
}
