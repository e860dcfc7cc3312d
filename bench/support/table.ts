/**
 * The benchmark table: 10 columns (bigint key, strings, decimals, timestamps), the same in
 * every scenario, for PostgreSQL and MariaDB, and a deterministic row generator. Rows are
 * produced as bindable values (decimals and timestamps as exact text) and as COPY /
 * LOAD DATA text lines, so ceilings and fieldsync paths load exactly the same data.
 */
import type { Db } from '../../lib/dialect/dialect.js';

export const BENCH_COLUMNS = ['id', 'name', 'email', 'phone', 'city', 'status', 'balance', 'credit', 'created_at', 'updated_at'] as const;
export const NON_KEY_COLUMNS = BENCH_COLUMNS.filter((c) => c !== 'id');

export function benchTableDdl(dialect: 'postgres' | 'mysql', name: string): string {
  const q = dialect === 'postgres' ? (s: string) => `"${s}"` : (s: string) => `\`${s}\``;
  const ts = dialect === 'postgres' ? 'timestamp(6)' : 'DATETIME(6)';
  const dec = dialect === 'postgres' ? 'numeric' : 'DECIMAL';
  return `CREATE TABLE ${q(name)} (id BIGINT PRIMARY KEY, name VARCHAR(100), email VARCHAR(200), phone VARCHAR(40), city VARCHAR(100), `
    + `status VARCHAR(20), balance ${dec}(14,2), credit ${dec}(18,4), created_at ${ts}, updated_at ${ts})`;
}

const CITIES = ['Zürich', 'Lyon', 'Kraków', 'Porto', 'Malmö', 'Gdańsk', 'Besançon', 'Oslo'];
const STATUSES = ['active', 'paused', 'closed', 'new'];

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** A timestamp text with microseconds, deterministic from i. */
export function tsText(i: number, shiftSeconds = 0): string {
  const d = new Date(Date.UTC(2024, 0, 1) + (i % 31_536_000 + shiftSeconds) * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad((i * 7919) % 1_000_000, 6)}`;
}

/** Row `id` in version `v` (v > 0 changes every non-key column). Values are bind-ready text/numbers. */
export function benchRow(id: number, v = 0): (string | number)[] {
  return [
    id,
    `client ${id} v${v}`,
    `c${id}.v${v}@example.org`,
    `+41 44 ${pad(id % 1000, 3)} ${pad((id * 7 + v) % 10000, 4)}`,
    CITIES[(id + v) % CITIES.length]!,
    STATUSES[(id + v) % STATUSES.length]!,
    `${(id * 37 + v) % 1_000_000}.${pad((id + v) % 100)}`,
    `${(id * 13 + v) % 100_000_000}.${pad((id * 3 + v) % 10_000, 4)}`,
    tsText(id),
    tsText(id + v, v),
  ];
}

/** A COPY text / LOAD DATA line (tab-separated; no value of the generator needs escaping). */
export function benchLine(id: number, v = 0): string {
  return `${benchRow(id, v).join('\t')}\n`;
}

export async function createBenchTable(db: Db, name: string): Promise<void> {
  const q = db.dialect.quote(name);
  await db.execute(`DROP TABLE IF EXISTS ${q}`);
  await db.execute(benchTableDdl(db.dialect.name === 'postgres' ? 'postgres' : 'mysql', name));
}

/** A multi-row upsert of rows [from, to) in version v, as one statement with bound values. */
export function multiRowUpsert(dialect: 'postgres' | 'mysql', table: string, from: number, to: number, v = 0): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const tuples: string[] = [];
  let p = 1;
  for (let id = from; id < to; id++) {
    const row = benchRow(id, v);
    params.push(...row);
    tuples.push(`(${row.map(() => (dialect === 'postgres' ? `$${p++}` : '?')).join(',')})`);
  }
  const cols = BENCH_COLUMNS.join(', ');
  const sql = dialect === 'postgres'
    ? `INSERT INTO "${table}" (${cols}) VALUES ${tuples.join(',')} ON CONFLICT (id) DO UPDATE SET ${NON_KEY_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`
    : `INSERT INTO \`${table}\` (${cols}) VALUES ${tuples.join(',')} ON DUPLICATE KEY UPDATE ${NON_KEY_COLUMNS.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
  return { sql, params };
}
