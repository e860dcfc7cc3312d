/**
 * What the capture's outbox triggers cost the source database: the same writes into the
 * benchmark's 10-column table (bench/support/table.ts) with fieldsync's triggers installed
 * and into a twin table without them, for a PostgreSQL and a MariaDB source. This is the
 * price of trigger capture that log-based capture (Debezium) does not charge the writer.
 *
 * Writes, each timed per row written:
 *   insert-100   INSERT … SELECT of 100 new rows per statement (generate_series / seq)
 *   update-100   UPDATE of one column of 100 rows per statement
 *   insert-1     one-row INSERTs with bound values, each its own transaction (commit included)
 *
 * The two tables take turns within each of ROUNDS rounds (the machine's speed drifts);
 * each figure is the median round. Nothing reads the outbox meanwhile; it is emptied
 * between rounds so that every round writes into an outbox of the same size.
 *
 *   npx tsx bench/source-overhead.ts                 1,000 statements of 100 rows per round
 *   SOURCE_BENCH_SOURCES=postgres npx tsx bench/source-overhead.ts
 *   (BENCH_SCALE multiplies the row counts, as in bench/run.ts)
 *
 * Prints one JSON object; runSourceOverhead() is reused by bench/run.ts.
 */
import { installOutbox } from '../lib/capture/install.js';
import type { FieldsyncConfig } from '../lib/config/schema.js';
import { openDb } from '../lib/dialect/index.js';
import { stackConfig, uniqueName } from '../test/support/helpers.js';
import { markdownTable, scaled, type ResultRow } from './support/env.js';
import { benchSource, type SourceKind } from './support/source.js';
import { BENCH_COLUMNS, benchRow, createBenchTable, generatedRowsSql } from './support/table.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

export interface WriteCost {
  /** Microseconds per row written, median round. */
  withTriggerMicros: number;
  withoutTriggerMicros: number;
  /** with / without. */
  ratio: number;
  rowsPerRound: number;
}

export interface SourceOverhead {
  insert100: WriteCost;
  update100: WriteCost;
  insert1: WriteCost;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;

async function measure(kind: SourceKind, log: (m: string) => void): Promise<SourceOverhead> {
  const src = await benchSource(kind, kind === 'postgres' ? 'fssrc' : 'srcbench');
  const traced = uniqueName('bench_src_trg');
  const plain = uniqueName('bench_src_plain');
  const cfg: FieldsyncConfig = stackConfig({
    databases: { src: src.database },
    capture: [{ source: 'src', mode: 'outbox', tables: [{ name: traced, snapshot: false }] }],
  });
  const db = openDb(cfg.databases.src!);
  const outbox = src.outbox;
  const statements = scaled(1000);
  const singles = scaled(1000);
  try {
    await createBenchTable(db, traced);
    await createBenchTable(db, plain);
    await installOutbox(cfg, cfg.capture[0]!, db);
    const q = db.dialect.quote;
    const params = BENCH_COLUMNS.map((_, i) => (kind === 'postgres' ? `$${i + 1}` : '?')).join(', ');
    const rows = (lo: number, hi: number) => generatedRowsSql(kind === 'postgres' ? 'postgres' : 'mysql', lo, hi);
    const timed = async (f: () => Promise<void>, n: number) => { const t0 = performance.now(); await f(); return ((performance.now() - t0) * 1000) / n; };
    const samples: Record<keyof SourceOverhead, { with: number[]; without: number[] }> = {
      insert100: { with: [], without: [] }, update100: { with: [], without: [] }, insert1: { with: [], without: [] },
    };
    for (let r = 0; r < ROUNDS; r++) {
      const base = r * (statements * 100 + singles) + 1;
      for (const [table, side] of [[traced, 'with'], [plain, 'without']] as const) {
        const t = q(table);
        samples.insert100[side].push(await timed(async () => {
          for (let i = 0; i < statements; i++) await db.execute(`INSERT INTO ${t} ${rows(base + i * 100, base + i * 100 + 99)}`);
        }, statements * 100));
        samples.update100[side].push(await timed(async () => {
          for (let i = 0; i < statements; i++) {
            await db.execute(`UPDATE ${t} SET email = ${kind === 'postgres' ? `'r${r}.' || id` : `CONCAT('r${r}.', id)`} WHERE id BETWEEN ${base + i * 100} AND ${base + i * 100 + 99}`);
          }
        }, statements * 100));
        const first = base + statements * 100;
        samples.insert1[side].push(await timed(async () => {
          for (let i = 0; i < singles; i++) await db.execute(`INSERT INTO ${t} (${BENCH_COLUMNS.join(', ')}) VALUES (${params})`, benchRow(first + i));
        }, singles));
      }
      // the outbox holds exactly the traced table's writes of this round
      const [c] = await db.query(`SELECT count(*) AS n FROM ${outbox}`);
      if (Number(c?.n) !== statements * 200 + singles) throw new Error(`expected ${statements * 200 + singles} outbox rows after round ${r + 1}, found ${String(c?.n)}`);
      await db.execute(kind === 'postgres' ? `TRUNCATE ${outbox}` : `DELETE FROM ${outbox}`);
      log(`${kind}: round ${r + 1}/${ROUNDS} done`);
    }
    const cost = (s: { with: number[]; without: number[] }, rowsPerRound: number): WriteCost => {
      const w = median(s.with);
      const wo = median(s.without);
      return { withTriggerMicros: round1(w), withoutTriggerMicros: round1(wo), ratio: Math.round((w / wo) * 100) / 100, rowsPerRound };
    };
    return {
      insert100: cost(samples.insert100, statements * 100),
      update100: cost(samples.update100, statements * 100),
      insert1: cost(samples.insert1, singles),
    };
  } finally {
    await src.drop(cfg, db, [traced, plain]);
  }
}

export async function runSourceOverhead(opts: { sources?: ('postgres' | 'mariadb')[]; log?: (m: string) => void } = {}): Promise<{ postgres?: SourceOverhead; mariadb?: SourceOverhead; method: string }> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const sources = opts.sources ?? ['postgres', 'mariadb'];
  const out: { postgres?: SourceOverhead; mariadb?: SourceOverhead; method: string } = {
    method: `the same writes into a table with the outbox triggers and a twin without, in turns, ${ROUNDS} rounds; microseconds per row written, median round`,
  };
  for (const s of sources) out[s] = await measure(s, log);
  return out;
}

export function sourceOverheadMarkdown(r: { postgres?: SourceOverhead; mariadb?: SourceOverhead; method: string }): string {
  const rows: ResultRow[] = [];
  for (const s of ['postgres', 'mariadb'] as const) {
    const o = r[s];
    if (!o) continue;
    for (const [name, c] of [['INSERT, 100 rows per statement', o.insert100], ['UPDATE of one column, 100 rows per statement', o.update100], ['one-row INSERT, own transaction', o.insert1]] as const) {
      rows.push({ source: s === 'postgres' ? 'PostgreSQL' : 'MariaDB', write: name, 'with triggers µs/row': c.withTriggerMicros, 'without µs/row': c.withoutTriggerMicros, 'with / without': c.ratio });
    }
  }
  return `${markdownTable(rows)}\nMethod: ${r.method}.\n`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\//, ''))) {
  const sources = (process.env.SOURCE_BENCH_SOURCES ?? 'postgres,mariadb').split(',') as ('postgres' | 'mariadb')[];
  const r = await runSourceOverhead({ sources });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.exit(0);
}
