/**
 * Shared scenario of the reconcile integration tests: a PostgreSQL source table (the
 * billing side, with an `updated_at` version column) and a target table in MariaDB or
 * PostgreSQL (the invoice side) kept by the Sink (clock, tomb, local-edit triggers).
 *
 * The expected target state is tracked in JS alongside every change the test makes, so
 * the assertions compare the whole table with an independent model, not with itself.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { otherGenerationName } from '../../lib/dialect/mysql/trigger-names.js';
import { fieldsyncTriggerBases } from '../../lib/reconcile/generations.js';
import { stack, stackConfig, uniqueName } from '../support/helpers.js';

export type TargetKind = 'mysql' | 'postgres';

export interface ExpectedRow {
  id: number;
  name: string;
  email: string | null;
  phone: string | null;
  balance: string;
  note: string | null;
}

export const COLUMNS = ['id', 'name', 'email', 'phone', 'balance', 'note'] as const;

export interface Scenario {
  kind: TargetKind;
  cfg: FieldsyncConfig;
  configDoc: Record<string, unknown>;
  source: Db;
  target: Db;
  /** Plain (non-applier) session on the target: the invoice app's own users. */
  targetUser: Db;
  sourceTable: string;
  targetTable: string;
  expected: Map<number, ExpectedRow>;
  close(): Promise<void>;
}

export function scenarioConfig(kind: TargetKind, sourceTable: string, targetTable: string, maxCountDrift = 0.5): { cfg: FieldsyncConfig; doc: Record<string, unknown> } {
  const doc = {
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: uniqueName('t') },
    registry: { url: stack.registryUrl },
    databases: {
      billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test'), origin: 'billing' },
      invoice: kind === 'mysql'
        ? { dialect: 'mysql', url: stack.mysqlUrl('fieldsync_test2'), origin: 'invoice' }
        : { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2'), origin: 'invoice' },
    },
    reconciler: {
      backupsToKeep: 2,
      stageBatchRows: 20000,
      jobs: [{ source: 'billing', table: `public.${sourceTable}`, target: 'invoice', into: targetTable, versionColumn: 'updated_at', maxCountDrift }],
    },
    http: { host: '127.0.0.1', port: 0 },
  };
  const cfg = stackConfig(doc);
  return { cfg, doc };
}

export function writeConfigFile(doc: Record<string, unknown>): string {
  const file = join(tmpdir(), `${uniqueName('reconcile')}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

export const nameOf = (i: number) => `client ${i}`;
export const balanceOf = (i: number) => `${(i % 100000)}.${String(i % 100).padStart(2, '0')}`;

/** Create the source table with `rows` rows (ids 1..rows), versions in the past. */
export async function createScenario(kind: TargetKind, rows: number, opts: { maxCountDrift?: number } = {}): Promise<Scenario> {
  const sourceTable = uniqueName('rc_src');
  const targetTable = uniqueName('rc_tgt');
  const { cfg, doc } = scenarioConfig(kind, sourceTable, targetTable, opts.maxCountDrift);
  const source = openDb(cfg.databases.billing!);
  const target = openDb(cfg.databases.invoice!, { applierSession: true });
  const targetUser = openDb(cfg.databases.invoice!);
  await source.execute(`CREATE TABLE ${sourceTable} (id bigint PRIMARY KEY, name text NOT NULL, email varchar(200), phone varchar(50),
    balance numeric(12,2) NOT NULL, note text, updated_at timestamptz(6) NOT NULL)`);
  await source.execute(`INSERT INTO ${sourceTable} SELECT i, 'client ' || i, 'c' || i || '@billing.example', '+1-' || i, ((i % 100000) || '.' || lpad((i % 100)::text, 2, '0'))::numeric,
    CASE WHEN i % 7 = 0 THEN E'tab\\there\\nnew line \\\\ backslash' ELSE NULL END, now() - interval '1 day' FROM generate_series(1, $1) AS i`, [rows]);
  const expected = new Map<number, ExpectedRow>();
  for (let i = 1; i <= rows; i++) {
    expected.set(i, { id: i, name: nameOf(i), email: `c${i}@billing.example`, phone: `+1-${i}`, balance: balanceOf(i), note: i % 7 === 0 ? 'tab\there\nnew line \\ backslash' : null });
  }
  return {
    kind, cfg, configDoc: doc, source, target, targetUser, sourceTable, targetTable, expected,
    async close() {
      await source.execute(`DROP TABLE IF EXISTS ${sourceTable}`).catch(() => undefined);
      const names = await tablesLike(target, kind, targetTable);
      for (const n of names) await target.execute(`DROP TABLE IF EXISTS ${target.dialect.quote(n)}`).catch(() => undefined);
      await source.close();
      await target.close();
      await targetUser.close();
    },
  };
}

export async function tablesLike(db: Db, kind: TargetKind, prefix: string): Promise<string[]> {
  const rows = kind === 'postgres'
    ? await db.query(`SELECT tablename AS n FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE $1`, [`${prefix}%`])
    : await db.query(`SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?`, [`${prefix}%`]);
  return rows.map((r) => String(r.n));
}

/** The live target table as ExpectedRow values, by id. */
export async function readTarget(s: Scenario, table = s.targetTable): Promise<Map<number, ExpectedRow>> {
  const q = s.target.dialect.quote;
  const rows = await s.target.query(`SELECT ${COLUMNS.map((c) => q(c)).join(', ')} FROM ${q(table)} ORDER BY id`);
  const out = new Map<number, ExpectedRow>();
  for (const r of rows) {
    const id = Number(r.id);
    out.set(id, { id, name: String(r.name), email: r.email === null ? null : String(r.email), phone: r.phone === null ? null : String(r.phone), balance: String(r.balance), note: r.note === null ? null : String(r.note) });
  }
  return out;
}

/** Differences between the model and the table (first few), for a readable assertion. */
export function diff(expected: Map<number, ExpectedRow>, actual: Map<number, ExpectedRow>, max = 10): string[] {
  const out: string[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a) out.push(`row ${id} missing`);
    else for (const c of COLUMNS) if (e[c] !== a[c]) out.push(`row ${id} ${c}: expected ${JSON.stringify(e[c])}, got ${JSON.stringify(a[c])}`);
    if (out.length >= max) return out;
  }
  for (const id of actual.keys()) {
    if (!expected.has(id)) out.push(`row ${id} should not exist`);
    if (out.length >= max) return out;
  }
  return out;
}

/**
 * MariaDB: the outgoing foreign keys of a table as comparable strings (name, columns in
 * order, referenced schema.table and columns, ON UPDATE / ON DELETE), sorted.
 */
export async function foreignKeySnapshot(db: Db, table: string): Promise<string[]> {
  const rows = await db.query(
    `SELECT rc.CONSTRAINT_NAME AS name, rc.UPDATE_RULE AS upd, rc.DELETE_RULE AS del,
            GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION) AS cols,
            MAX(CONCAT(k.REFERENCED_TABLE_SCHEMA, '.', k.REFERENCED_TABLE_NAME)) AS parent,
            GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION) AS pcols
       FROM information_schema.REFERENTIAL_CONSTRAINTS rc
       JOIN information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME AND k.TABLE_NAME = rc.TABLE_NAME
      WHERE rc.CONSTRAINT_SCHEMA = DATABASE() AND rc.TABLE_NAME = ? AND k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ?
      GROUP BY rc.CONSTRAINT_NAME, rc.UPDATE_RULE, rc.DELETE_RULE`, [table, table]);
  return rows.map((r) => `${String(r.name)} (${String(r.cols)}) -> ${String(r.parent)} (${String(r.pcols)}) ON UPDATE ${String(r.upd)} ON DELETE ${String(r.del)}`).sort();
}

/** MariaDB: a table's indexes (name, uniqueness, columns in order), sorted. */
export async function indexSnapshot(db: Db, table: string): Promise<string[]> {
  const rows = await db.query(
    `SELECT INDEX_NAME AS name, MAX(NON_UNIQUE) AS nu, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? GROUP BY INDEX_NAME`, [table]);
  return rows.map((r) => `${String(r.name)}${Number(r.nu) === 0 ? ' unique' : ''} (${String(r.cols)})`).sort();
}

/**
 * MariaDB: a table's triggers as comparable strings (base name, timing, event, body),
 * sorted. A fieldsync trigger may carry its base name or the other one a swap gives its
 * copy (lib/dialect/mysql/trigger-names.ts): both print as the base name (the base names
 * of `live`'s triggers, for a companion table of `live`).
 */
export async function triggerSnapshot(db: Db, table: string, live = table): Promise<string[]> {
  const bases = fieldsyncTriggerBases({ schema: '', name: live });
  const rows = await db.query(
    `SELECT TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_STATEMENT AS body
       FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?`, [table]);
  return rows.map((r) => {
    const name = String(r.name);
    const base = bases.includes(name) ? name : bases.find((b) => otherGenerationName(b, bases) === name) ?? name;
    return `${base} ${String(r.timing)} ${String(r.event)} ${String(r.body)}`;
  }).sort();
}
