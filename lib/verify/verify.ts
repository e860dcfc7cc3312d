/**
 * `fieldsync verify`: proof that a target holds what its source holds, on any number of
 * rows, in bounded memory.
 *
 * Algorithm, per table pair:
 *  1. Walk the source in primary-key order with keyset pagination (keyset.ts), `chunkSize`
 *     rows at a time. A chunk covers the key range (lo, hi], hi = its last key (the last
 *     chunk is open-ended).
 *  2. Read the target's rows of the same range, page by page (a target may hold more rows
 *     in a range than the source: extra rows are paged, never loaded at once).
 *  3. Every value is made canonical by its own dialect (dialect.fromDb) and rendered into a
 *     cross-dialect comparison text (normalize.ts); each row gets a 128-bit digest and each
 *     chunk an order-independent checksum (row count + sum of digests) on both sides.
 *  4. Equal checksums: the chunk is equal. Otherwise the chunk is diffed field by field —
 *     from memory, since both sides of the chunk were just read — comparing per-row
 *     digests first and the comparison texts only of rows whose digests differ.
 *  5. Each difference is classified with the merge clocks (lib/merge/clock-layout.ts) of
 *     both sides where the clock tables exist:
 *       - the target legitimately owns a field when its clock is newer than the source's
 *         clock for it (a source with no clock row for it: only when the target's clock is
 *         the target's own local edit), or — when the source keeps no clocks (a plain
 *         capture source) — when the target's clock carries another origin than the
 *         source's (a newer local edit, or a newer change from another origin, won the merge);
 *       - likewise a row missing in the target is owned when the target's delete stamp is
 *         from another origin (or newer than the source's insert), and a row missing in
 *         the source when the target's insert stamp is;
 *       - everything else is a true mismatch.
 *  6. Counts of both kinds are exact; the first `maxDiffs` of each kind are kept in detail.
 *
 * The result is equal when no true mismatch exists (target-owned fields are the merge
 * doing its job and are reported separately). Memory: one source chunk plus one target
 * page plus the detailed differences.
 *
 * Verify is meaningful once the appliers have caught up: a source change still in flight
 * shows as a mismatch (or, behind a newer local edit, as owned).
 */
import { ORIGIN_SPACE, stampTimeMicros, originCode } from '../stamp.js';
import { microsToTimestamp } from '../canonical.js';
import type { Db } from '../dialect/dialect.js';
import { readTableSchema } from '../dialect/introspect.js';
import { clockTable, DELETE_STAMP, INSERT_STAMP } from '../merge/clock-layout.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';
import { wrap } from '../errors.js';
import { keysSelect, rangeSelect } from './keyset.js';
import { ChunkChecksum, compareKind, comparisonText, displayValue, keyText, rowDigest, type CompareKind } from './normalize.js';
import type { TablePair, TableRef } from './table-pairs.js';

export interface VerifySide {
  /** Logical database name from the config. */
  name: string;
  db: Db;
  /** Origin id of changes first made in this database. */
  origin: string;
}

export interface VerifyOptions {
  chunkSize: number;
  maxDiffs: number;
  /** origin code → origin id, to name the origin of a clock. */
  origins?: Map<number, string>;
  onChunk?: (p: { table: string; sourceRows: number; targetRows: number; mismatchedChunks: number }) => void;
}

export interface ClockInfo {
  stamp: string;
  /** UTC time of the write that holds the field. */
  time: string;
  origin: string;
}

export type DifferenceKind = 'value' | 'missing_in_target' | 'missing_in_source';

export interface Difference {
  key: Record<string, string | null>;
  kind: DifferenceKind;
  /** The differing column (null for a whole missing row). */
  column: string | null;
  sourceValue: string | null;
  targetValue: string | null;
  sourceClock?: ClockInfo | undefined;
  targetClock?: ClockInfo | undefined;
}

export interface TableVerifyResult {
  source: string;
  target: string;
  equal: boolean;
  /** Problems that make a row-by-row comparison meaningless or incomplete (missing table, column). */
  schemaProblems: string[];
  columnsOnlyInTarget: string[];
  sourceRows: number;
  targetRows: number;
  sourceChecksum: string;
  targetChecksum: string;
  chunks: number;
  mismatchedChunks: number;
  /** Exact counts. */
  mismatches: number;
  targetOwned: number;
  /** The first maxDiffs of each kind. */
  differences: Difference[];
  owned: Difference[];
}

export interface VerifyResult {
  source: string;
  target: string;
  equal: boolean;
  tables: TableVerifyResult[];
}

interface ReadRow {
  keyValues: Value[];
  keyText: string;
  values: Value[];
  texts: string[];
  digest: bigint;
}

interface SideTable {
  side: VerifySide;
  schema: TableSchema;
  qualified: string;
  key: ColumnSpec[];
  /** Compared columns, in the same order on both sides. */
  columns: ColumnSpec[];
  clock?: { qualified: string; columns: string[] } | undefined;
  originCode: number;
}

interface PendingDiff {
  keyValues: Value[];
  keySide: 'source' | 'target';
  kind: DifferenceKind;
  column: string | null;
  sourceValue: Value | undefined;
  targetValue: Value | undefined;
}

type ClockRow = Map<string, bigint | undefined>;

const display = (t: TableRef) => (t.schema ? `${t.schema}.${t.name}` : t.name);

function originOfStamp(stamp: bigint): number {
  return Number(((stamp % ORIGIN_SPACE) + ORIGIN_SPACE) % ORIGIN_SPACE);
}

async function loadSide(side: VerifySide, ref: TableRef): Promise<{ schema?: TableSchema; clock?: { qualified: string; columns: string[] } }> {
  const schema = await readTableSchema(side.db, ref.schema, ref.name).catch((e: unknown) => { throw wrap(`unable to read the schema of ${side.name}.${display(ref)}`, e); });
  if (!schema) return {};
  const ct = clockTable(ref);
  const clockSchema = await readTableSchema(side.db, ct.schema, ct.name, schema.key).catch(() => undefined);
  const clock = clockSchema ? { qualified: side.db.dialect.qualified(ct), columns: clockSchema.columns.map((c) => c.name) } : undefined;
  return { schema, ...(clock ? { clock } : {}) };
}

export class TableVerifier {
  private readonly kinds: CompareKind[] = [];
  private readonly keyKinds: CompareKind[] = [];
  private result!: TableVerifyResult;
  private src!: SideTable;
  private tgt!: SideTable;

  constructor(private readonly source: VerifySide, private readonly target: VerifySide, private readonly pair: TablePair, private readonly opts: VerifyOptions) {}

  async run(): Promise<TableVerifyResult> {
    this.result = {
      source: display(this.pair.source), target: display(this.pair.target), equal: false, schemaProblems: [], columnsOnlyInTarget: [],
      sourceRows: 0, targetRows: 0, sourceChecksum: '', targetChecksum: '', chunks: 0, mismatchedChunks: 0,
      mismatches: 0, targetOwned: 0, differences: [], owned: [],
    };
    if (!(await this.prepare())) return this.result;
    const srcSum = new ChunkChecksum();
    const tgtSum = new ChunkChecksum();
    let lo: Value[] | undefined;
    let nextSource: Promise<ReadRow[]> = this.readRange(this.src, undefined, undefined, this.opts.chunkSize);
    for (;;) {
      const srcRows = await nextSource;
      // The last chunk is open-ended so that target rows after the source's last key are seen.
      const hi = srcRows.length === this.opts.chunkSize ? srcRows[srcRows.length - 1]!.keyValues : undefined;
      // Read the next source chunk while this one is compared with the target (one chunk ahead: memory stays bounded).
      nextSource = hi ? this.readRange(this.src, hi, undefined, this.opts.chunkSize) : Promise.resolve([]);
      nextSource.catch(() => undefined); // observed when awaited; a failure of the comparison must not leave it unhandled
      const { source, target } = await this.compareChunk(srcRows, lo, hi);
      srcSum.merge(source);
      tgtSum.merge(target);
      this.result.chunks += 1;
      this.opts.onChunk?.({ table: this.result.source, sourceRows: srcSum.rows, targetRows: tgtSum.rows, mismatchedChunks: this.result.mismatchedChunks });
      if (!hi) break;
      lo = hi;
    }
    this.result.sourceRows = srcSum.rows;
    this.result.targetRows = tgtSum.rows;
    this.result.sourceChecksum = srcSum.hex();
    this.result.targetChecksum = tgtSum.hex();
    this.result.equal = this.result.mismatches === 0 && this.result.schemaProblems.length === 0;
    return this.result;
  }

  private async prepare(): Promise<boolean> {
    const [s, t] = await Promise.all([loadSide(this.source, this.pair.source), loadSide(this.target, this.pair.target)]);
    if (!s.schema) this.result.schemaProblems.push(`source table ${this.source.name}.${this.result.source} does not exist`);
    if (!t.schema) this.result.schemaProblems.push(`target table ${this.target.name}.${this.result.target} does not exist`);
    if (!s.schema || !t.schema) return false;
    const tgtCols = new Map(t.schema.columns.map((c) => [c.name, c]));
    const srcCols = new Map(s.schema.columns.map((c) => [c.name, c]));
    const missingKey = s.schema.key.filter((k) => !tgtCols.has(k));
    if (missingKey.length) {
      this.result.schemaProblems.push(`target table ${this.result.target} lacks the key column(s) ${missingKey.join(', ')}`);
      return false;
    }
    const compared = s.schema.columns.filter((c) => tgtCols.has(c.name) && !s.schema!.key.includes(c.name));
    for (const c of s.schema.columns) if (!tgtCols.has(c.name)) this.result.schemaProblems.push(`column "${c.name}" exists in the source but not in the target`);
    this.result.columnsOnlyInTarget = t.schema.columns.filter((c) => !srcCols.has(c.name)).map((c) => c.name);
    const mk = (side: VerifySide, schema: TableSchema, ref: TableRef, clock: { qualified: string; columns: string[] } | undefined): SideTable => {
      const byName = new Map(schema.columns.map((c) => [c.name, c]));
      return {
        side, schema, qualified: side.db.dialect.qualified(ref),
        key: s.schema!.key.map((k) => byName.get(k)!),
        columns: compared.map((c) => byName.get(c.name)!),
        clock, originCode: originCode(side.origin),
      };
    };
    this.src = mk(this.source, s.schema, this.pair.source, s.clock);
    this.tgt = mk(this.target, t.schema, this.pair.target, t.clock);
    this.src.columns.forEach((c, i) => this.kinds.push(compareKind(c.type, this.tgt.columns[i]!.type)));
    this.src.key.forEach((c, i) => this.keyKinds.push(compareKind(c.type, this.tgt.key[i]!.type)));
    return true;
  }

  private async readRange(side: SideTable, after: Value[] | undefined, upTo: Value[] | undefined, limit: number): Promise<ReadRow[]> {
    const d = side.side.db.dialect;
    const cols = [...side.key.map((c) => c.name), ...side.columns.map((c) => c.name)];
    const { sql, params } = rangeSelect(d, { table: side.qualified, columns: cols, key: side.key, after, upTo, limit });
    const rows = await side.side.db.query(sql, params).catch((e: unknown) => { throw wrap(`unable to read ${side.side.name}.${display(side.schema)}`, e); });
    return rows.map((r) => {
      const keyValues = side.key.map((c) => d.fromDb(r[c.name], c.type));
      const values = side.columns.map((c) => d.fromDb(r[c.name], c.type));
      const keyTexts = keyValues.map((v, i) => comparisonText(v, this.keyKinds[i]!));
      const texts = values.map((v, i) => comparisonText(v, this.kinds[i]!));
      return { keyValues, keyText: keyText(keyTexts), values, texts, digest: rowDigest([...keyTexts, ...texts]) };
    });
  }

  private async compareChunk(srcRows: ReadRow[], lo: Value[] | undefined, hi: Value[] | undefined): Promise<{ source: ChunkChecksum; target: ChunkChecksum }> {
    const srcSum = new ChunkChecksum();
    const bySourceKey = new Map<string, ReadRow>();
    for (const r of srcRows) { srcSum.add(r.digest); bySourceKey.set(r.keyText, r); }
    const tgtSum = new ChunkChecksum();
    const pending: PendingDiff[] = [];
    const matched = new Set<string>();
    let after = lo;
    for (;;) {
      // Page through the target's rows of (lo, hi]: the range may hold more target rows than the chunk.
      const page = await this.readRange(this.tgt, after, hi, this.opts.chunkSize);
      for (const t of page) {
        tgtSum.add(t.digest);
        const s = bySourceKey.get(t.keyText);
        if (!s) {
          pending.push({ keyValues: t.keyValues, keySide: 'target', kind: 'missing_in_source', column: null, sourceValue: undefined, targetValue: undefined });
          continue;
        }
        matched.add(t.keyText);
        if (s.digest === t.digest) continue;
        s.texts.forEach((text, i) => {
          if (text !== t.texts[i]) {
            pending.push({ keyValues: s.keyValues, keySide: 'source', kind: 'value', column: this.src.columns[i]!.name, sourceValue: s.values[i], targetValue: t.values[i] });
          }
        });
      }
      // Classify as we go so that a range full of extra target rows stays bounded in memory.
      if (pending.length >= this.opts.chunkSize) await this.classify(pending.splice(0));
      if (page.length < this.opts.chunkSize) break;
      after = page[page.length - 1]!.keyValues;
    }
    for (const s of srcRows) {
      if (!matched.has(s.keyText)) pending.push({ keyValues: s.keyValues, keySide: 'source', kind: 'missing_in_target', column: null, sourceValue: undefined, targetValue: undefined });
    }
    if (!srcSum.equals(tgtSum) || pending.length) this.result.mismatchedChunks += 1;
    if (pending.length) await this.classify(pending);
    return { source: srcSum, target: tgtSum };
  }

  private async readClocks(side: SideTable, keys: Value[][]): Promise<Map<string, ClockRow>> {
    const out = new Map<string, ClockRow>();
    if (!side.clock || keys.length === 0) return out;
    const d = side.side.db.dialect;
    for (let i = 0; i < keys.length; i += 1000) {
      const slice = keys.slice(i, i + 1000);
      const { sql, params } = keysSelect(d, side.clock.qualified, side.clock.columns, side.key, slice);
      const rows = await side.side.db.query(sql, params).catch((e: unknown) => { throw wrap(`unable to read the clocks of ${side.side.name}.${display(side.schema)}`, e); });
      for (const r of rows) {
        const kt = keyText(side.key.map((c, j) => comparisonText(d.fromDb(r[c.name], c.type), this.keyKinds[j]!)));
        const clock: ClockRow = new Map();
        for (const c of side.clock.columns) {
          if (side.key.some((k) => k.name === c)) continue;
          const v = r[c];
          clock.set(c, v === null || v === undefined ? undefined : BigInt(String(v)));
        }
        out.set(kt, clock);
      }
    }
    return out;
  }

  private clockInfo(stamp: bigint | undefined): ClockInfo | undefined {
    if (stamp === undefined) return undefined;
    const code = originOfStamp(stamp);
    return { stamp: stamp.toString(), time: `${microsToTimestamp(stampTimeMicros(stamp)).replace(' ', 'T')}Z`, origin: this.opts.origins?.get(code) ?? `#${code}` };
  }

  private async classify(diffs: PendingDiff[]): Promise<void> {
    const keyTextOf = (d: PendingDiff) => keyText(d.keyValues.map((v, i) => comparisonText(v, this.keyKinds[i]!)));
    const unique = new Map<string, Value[]>();
    for (const d of diffs) unique.set(keyTextOf(d), d.keyValues);
    const keys = [...unique.values()];
    const [srcClocks, tgtClocks] = await Promise.all([this.readClocks(this.src, keys), this.readClocks(this.tgt, keys)]);
    const srcHasClocks = this.src.clock !== undefined;
    for (const d of diffs) {
      const kt = keyTextOf(d);
      const sc = srcClocks.get(kt);
      const tc = tgtClocks.get(kt);
      const field = d.kind === 'value' ? d.column! : d.kind === 'missing_in_target' ? DELETE_STAMP : INSERT_STAMP;
      const tStamp = tc?.get(field);
      // The source's version of what the target's stamp competes with: the same field, or for
      // a row the target deleted, the source's insert; for a row only the target has, the source's delete.
      const sField = d.kind === 'value' ? d.column! : d.kind === 'missing_in_target' ? INSERT_STAMP : DELETE_STAMP;
      const sStamp = sc?.get(sField);
      let owned = false;
      if (tStamp !== undefined) {
        if (!srcHasClocks) {
          // A plain source only holds its own writes: a field the target got from elsewhere won the merge.
          owned = originOfStamp(tStamp) !== this.src.originCode;
        } else if (sStamp !== undefined) {
          owned = tStamp > sStamp;
        } else {
          // The source never saw a write to it: only the target's own local edit is legitimately the target's.
          owned = originOfStamp(tStamp) === this.tgt.originCode;
        }
      }
      const keyRecord: Record<string, string | null> = {};
      (d.keySide === 'source' ? this.src : this.tgt).key.forEach((c, i) => { keyRecord[c.name] = displayValue(d.keyValues[i]); });
      const detail: Difference = {
        key: keyRecord, kind: d.kind, column: d.column,
        sourceValue: displayValue(d.sourceValue), targetValue: displayValue(d.targetValue),
        sourceClock: this.clockInfo(sc?.get(d.kind === 'value' ? d.column! : INSERT_STAMP)),
        targetClock: this.clockInfo(tStamp ?? tc?.get(d.kind === 'value' ? d.column! : INSERT_STAMP)),
      };
      if (owned) {
        this.result.targetOwned += 1;
        if (this.result.owned.length < this.opts.maxDiffs) this.result.owned.push(detail);
      } else {
        this.result.mismatches += 1;
        if (this.result.differences.length < this.opts.maxDiffs) this.result.differences.push(detail);
      }
    }
  }
}

/** Verify every table pair; the result is equal when every table is. */
export async function verifyTables(source: VerifySide, target: VerifySide, pairs: TablePair[], opts: VerifyOptions): Promise<VerifyResult> {
  const tables: TableVerifyResult[] = [];
  for (const pair of pairs) tables.push(await new TableVerifier(source, target, pair, opts).run());
  return { source: source.name, target: target.name, equal: tables.every((t) => t.equal), tables };
}
