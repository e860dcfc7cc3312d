/** Helpers shared by the merge integration tests (merge-*.int.test.ts). */
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import type { ChangeEvent, ChangeOp } from '../../lib/event/change-event.js';
import { keyId } from '../../lib/merge/row-key.js';
import { createSink } from '../../lib/sink/index.js';
import type { SqlSink } from '../../lib/sink/sql-sink.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { stackConfig } from '../support/helpers.js';

/** The two target servers of the local stack, by their config names. */
export const TARGETS = [
  { name: 'pg', label: 'PostgreSQL', schema: 'public' },
  { name: 'maria', label: 'MariaDB', schema: '' },
] as const;

export interface TargetHandle {
  cfg: FieldsyncConfig;
  sink: SqlSink;
  /** A plain (non-applier) session: what the target's own application uses. */
  app: Db;
  schema: string;
  /** Drop this table, its clock, tomb and stamping function when the handle closes; returns the name. */
  track(name: string): string;
  close(): Promise<void>;
}

export async function openTarget(name: string, schema: string, overrides: Record<string, unknown> = {}): Promise<TargetHandle> {
  const cfg = stackConfig(overrides);
  // one connection: anything in the sink that needs a second one while a transaction is open would hang here
  const sink = createSink(cfg, name, { poolSize: 1 });
  await sink.connect();
  await sink.install();
  const app = openDb(cfg.databases[name]!);
  const tracked: string[] = [];
  const d = app.dialect;
  return {
    cfg, sink, app, schema,
    track: (t) => { tracked.push(t); return t; },
    close: async () => {
      for (const t of tracked) {
        for (const n of [t, `${t}__fs_clock`, `${t}__fs_tomb`]) await app.execute(`DROP TABLE IF EXISTS ${d.qualified({ schema, name: n })}`);
        if (d.name === 'postgres') await app.execute(`DROP FUNCTION IF EXISTS ${d.qualified({ schema, name: `${t}__fs_stamp` })}()`);
      }
      await sink.close();
      await app.close();
    },
  };
}

/** A day in 2025 in microseconds; tests add small offsets to order their writes. */
export const T0 = 1_750_000_000_000_000n;

export function event(op: ChangeOp, origin: string, time: bigint, key: Row, after: Row | null = null, changed?: string[]): ChangeEvent {
  return {
    op, origin, commitTimeMicros: time, position: `test:${time}`, key,
    after: op === 'delete' ? null : { ...key, ...after },
    changed: changed ?? (op === 'delete' ? [] : Object.keys(after ?? {})),
  };
}

/** Every row of a table in canonical form, sorted by key. */
export async function readRows(db: Db, t: { schema: string; name: string }): Promise<Row[]> {
  const schema = (await readTableSchema(db, t.schema, t.name))!;
  const rows = await db.query(`SELECT * FROM ${db.dialect.qualified(t)}`);
  const out = rows.map((r) => Object.fromEntries(schema.columns.map((c) => [c.name, db.dialect.fromDb(r[c.name], c.type)])) as Row);
  return sortRows(schema.key, out);
}

export function sortRows(key: string[], rows: Row[]): Row[] {
  return rows.map((r) => ({ r, id: keyId(key.map((k) => r[k] ?? null)) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((x) => x.r);
}

export function clientsTable(schema: string, name: string): TableSchema {
  return {
    schema, name, key: ['id'],
    columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
      { name: 'name', type: { kind: 'string', maxLength: 100 }, nullable: true },
      { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
      { name: 'phone', type: { kind: 'string', maxLength: 40 }, nullable: true },
    ],
  };
}
