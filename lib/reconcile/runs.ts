/**
 * The record of reconcile runs in the target (systemTable(…, 'reconcile_runs')), read by
 * `fieldsync status`: one row per run with its table, start and end time, result
 * (running, success, failure, interrupted) and the report as JSON text.
 *
 * A run that was killed stays "running"; the next run of the same table (which holds the
 * table's lock, so the old one cannot still be alive) marks it "interrupted".
 */
import type { Db } from '../dialect/dialect.js';
import { systemTable } from '../merge/clock-layout.js';

export type RunResult = 'running' | 'success' | 'failure' | 'interrupted';

export interface RunRecord {
  id: number;
  table: string;
  startedAt: string;
  finishedAt: string | null;
  result: RunResult;
  message: string | null;
  report: string | null;
}

export function runsTable(db: Db, fieldsyncSchema: string): string {
  return systemTable(db.dialect, fieldsyncSchema, 'reconcile_runs');
}

export async function installRunsTable(db: Db, fieldsyncSchema: string): Promise<void> {
  const t = runsTable(db, fieldsyncSchema);
  if (db.dialect.name === 'postgres') {
    await db.execute(`CREATE SCHEMA IF NOT EXISTS ${db.dialect.quote(fieldsyncSchema)}`).catch(async (e: unknown) => {
      // Two runs creating the schema at once: the loser sees a unique violation.
      const exists = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [fieldsyncSchema]);
      if (exists.length === 0) throw e;
    });
    await db.execute(`CREATE TABLE IF NOT EXISTS ${t} (id bigserial PRIMARY KEY, table_name text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz, result text NOT NULL, message text, report text)`);
  } else {
    await db.execute(`CREATE TABLE IF NOT EXISTS ${t} (id BIGINT AUTO_INCREMENT PRIMARY KEY, table_name VARCHAR(255) NOT NULL,
      started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), finished_at DATETIME(6) NULL, result VARCHAR(16) NOT NULL,
      message TEXT NULL, report LONGTEXT NULL, KEY (table_name, id))`);
  }
}

export async function startRun(db: Db, fieldsyncSchema: string, table: string): Promise<number> {
  const t = runsTable(db, fieldsyncSchema);
  const p = (i: number) => db.dialect.param(i);
  await db.execute(`UPDATE ${t} SET result = 'interrupted', finished_at = ${db.dialect.name === 'postgres' ? 'now()' : 'NOW(6)'} WHERE table_name = ${p(1)} AND result = 'running'`, [table]);
  if (db.dialect.name === 'postgres') {
    const rows = await db.query(`INSERT INTO ${t} (table_name, result) VALUES ($1, 'running') RETURNING id`, [table]);
    return Number(rows[0]!.id);
  }
  await db.execute(`INSERT INTO ${t} (table_name, result) VALUES (?, 'running')`, [table]);
  const rows = await db.query(`SELECT MAX(id) AS id FROM ${t} WHERE table_name = ? AND result = 'running'`, [table]);
  return Number(rows[0]!.id);
}

export async function finishRun(db: Db, fieldsyncSchema: string, id: number, result: RunResult, message: string | null, report: unknown): Promise<void> {
  const t = runsTable(db, fieldsyncSchema);
  const p = (i: number) => db.dialect.param(i);
  const json = report === undefined ? null : JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  await db.execute(`UPDATE ${t} SET result = ${p(1)}, message = ${p(2)}, report = ${p(3)}, finished_at = ${db.dialect.name === 'postgres' ? 'now()' : 'NOW(6)'} WHERE id = ${p(4)}`,
    [result, message, json, id]);
}

/** The latest run per table (for `fieldsync status`). */
export async function lastRuns(db: Db, fieldsyncSchema: string): Promise<RunRecord[]> {
  const t = runsTable(db, fieldsyncSchema);
  const ts = (c: string) => (db.dialect.name === 'postgres' ? `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : `DATE_FORMAT(${c}, '%Y-%m-%dT%H:%i:%s.%fZ')`);
  const rows = await db.query(`SELECT r.id, r.table_name, ${ts('r.started_at')} AS started_at, ${ts('r.finished_at')} AS finished_at, r.result, r.message, r.report
      FROM ${t} r JOIN (SELECT table_name, MAX(id) AS id FROM ${t} GROUP BY table_name) m ON m.id = r.id ORDER BY r.table_name`);
  return rows.map((r) => ({
    id: Number(r.id), table: String(r.table_name), startedAt: String(r.started_at), finishedAt: r.finished_at === null ? null : String(r.finished_at),
    result: String(r.result) as RunResult, message: r.message === null ? null : String(r.message), report: r.report === null ? null : String(r.report),
  }));
}
