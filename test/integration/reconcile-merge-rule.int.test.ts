/**
 * The refresh's field merge, case by case, on exact stamps, into MariaDB and PostgreSQL.
 * The two spell it differently (lib/reconcile/merge-sql.ts: MySQL marks the rows that keep
 * a live field during the stage-clock pass and writes only those back; PostgreSQL joins
 * every source row): both must give exactly what the rule says.
 *
 * After a first refresh (every clock = the source row's version v), the live clock of
 * chosen fields is set to v + one tick (newer: live keeps the field), v (a tie: the source
 * wins) or v − one tick (older: the source wins); a row the target edited and then deleted
 * stays deleted with its kept value in the tomb; a target-only column always keeps its live
 * value and clock, and a row new at the source gets the column's default. The second refresh must leave exactly those values and clocks, report
 * the kept fields, and leave no scratch column behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { DELETE_STAMP, INSERT_STAMP } from '../../lib/merge/clock-layout.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { createSink } from '../../lib/sink/index.js';
import { ORIGIN_SPACE } from '../../lib/stamp.js';
import { uniqueName } from '../support/helpers.js';
import { scenarioConfig, tablesLike } from './reconcile-fixture.js';
import type { TargetKind } from './reconcile-fixture.js';

const FIELDS = ['name', 'email', 'phone'] as const;
type Field = (typeof FIELDS)[number];
const ROWS = 8;

for (const kind of ['mysql', 'postgres'] as const satisfies readonly TargetKind[]) {
  describe(`reconcile field merge on exact stamps into ${kind === 'mysql' ? 'MariaDB' : 'PostgreSQL'}`, () => {
    const sourceTable = uniqueName('rcm_src');
    const targetTable = uniqueName('rcm_tgt');
    const { cfg } = scenarioConfig(kind, sourceTable, targetTable);
    const job = cfg.reconciler.jobs[0]!;
    let source: Db;
    let target: Db;
    let user: Db;
    const q = (id: string) => target.dialect.quote(id);
    const p = (i: number) => (kind === 'postgres' ? `$${i}` : '?');
    const clock = `${targetTable}__fs_clock`;
    const tomb = `${targetTable}__fs_tomb`;

    beforeAll(async () => {
      source = openDb(cfg.databases.billing!);
      target = openDb(cfg.databases.invoice!, { applierSession: true });
      user = openDb(cfg.databases.invoice!);
      await source.execute(`CREATE TABLE ${sourceTable} (id bigint PRIMARY KEY, name text, email text, phone text, updated_at timestamptz(6) NOT NULL)`);
      await source.execute(`INSERT INTO ${sourceTable} SELECT i, 'name ' || i, 'email ' || i, 'phone ' || i, timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second'
        FROM generate_series(1, ${ROWS}) AS i`);
    });
    afterAll(async () => {
      await source?.execute(`DROP TABLE IF EXISTS ${sourceTable}`).catch(() => undefined);
      if (target) for (const n of await tablesLike(target, kind, targetTable)) await target.execute(`DROP TABLE IF EXISTS ${q(n)}`).catch(() => undefined);
      await source?.close();
      await target?.close();
      await user?.close();
    });

    async function stamps(table: string): Promise<Map<number, Record<string, bigint | null>>> {
      const rows = await target.query(`SELECT * FROM ${q(table)} ORDER BY id`);
      return new Map(rows.map((r) => [Number(r.id), Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'id').map(([k, v]) => [k, v === null ? null : BigInt(String(v))]))]));
    }
    async function values(table: string): Promise<Map<number, Record<string, string | null>>> {
      const rows = await target.query(`SELECT id, name, email, phone, note FROM ${q(table)} ORDER BY id`);
      return new Map(rows.map((r) => [Number(r.id), { name: r.name as string | null, email: r.email as string | null, phone: r.phone as string | null, note: r.note as string | null }]));
    }
    async function setLive(id: number, field: Field | 'note', value: string, stamp?: bigint): Promise<void> {
      await target.execute(`UPDATE ${q(targetTable)} SET ${q(field)} = ${p(1)} WHERE id = ${p(2)}`, [value, id]);
      if (stamp !== undefined) await target.execute(`UPDATE ${q(clock)} SET ${q(field)} = ${p(1)} WHERE id = ${p(2)}`, [stamp.toString(), id]);
    }

    it('keeps exactly the fields whose live clock is newer than the source version, in data, tomb and clock', async () => {
      const first = await refreshTable(cfg, job);
      expect(first.rowsAfter).toBe(ROWS);
      const v = new Map([...(await stamps(clock))].map(([id, c]) => [id, c[INSERT_STAMP]!]));
      const tick = ORIGIN_SPACE;

      // a target-only column, set by the target's users on every row (extends clock and tomb);
      // a row new at the source gets its default
      await target.execute(`ALTER TABLE ${q(targetTable)} ADD COLUMN note VARCHAR(50) NULL DEFAULT 'no note'`);
      const sink = createSink(cfg, 'invoice');
      try {
        await sink.connect();
        const schema = (await readTableSchema(source, 'public', sourceTable))!;
        await sink.prepareTable(schema, { schema: kind === 'postgres' ? 'public' : '', name: targetTable }, { autoEvolve: true, createTable: true });
      } finally {
        await sink.close();
      }
      await user.execute(`UPDATE ${q(targetTable)} SET note = ${kind === 'postgres' ? `'note ' || id` : `CONCAT('note ', id)`}`);
      const noteClock = new Map([...(await stamps(clock))].map(([id, c]) => [id, c.note!]));

      await setLive(1, 'email', 'live 1', v.get(1)! + tick); // newer: kept
      await setLive(2, 'email', 'live 2', v.get(2)!); // tie: the source wins
      await setLive(3, 'email', 'live 3', v.get(3)! - tick); // older: the source wins
      for (const f of FIELDS) await setLive(4, f, `live 4 ${f}`, v.get(4)! + tick); // all newer: all kept
      // 5: the source changes the row (a newer version), live untouched: every field from the source
      await source.execute(`UPDATE ${sourceTable} SET name = 'renamed 5', updated_at = updated_at + interval '1 hour' WHERE id = 5`);
      // 6: live newer on phone, and the source changed name meanwhile at a version still older
      await setLive(6, 'phone', 'live 6', v.get(6)! + 3600n * 1_000_000n * tick + tick);
      await source.execute(`UPDATE ${sourceTable} SET name = 'renamed 6', updated_at = updated_at + interval '1 hour' WHERE id = 6`);
      // 7: the target's users edited email, then deleted the row (after the source's version)
      await user.execute(`UPDATE ${q(targetTable)} SET email = 'live 7' WHERE id = 7`);
      await user.execute(`DELETE FROM ${q(targetTable)} WHERE id = 7`);
      // 9: a row new at the source
      await source.execute(`INSERT INTO ${sourceTable} VALUES (${ROWS + 1}, 'name 9', 'email 9', 'phone 9', timestamptz '2025-01-02 00:00:00+00')`);
      const before = await stamps(clock);

      const r = await refreshTable(cfg, job);
      expect(r.fieldsKeptFromLive).toBe(1 + 3 + 1 + 1); // 1 email, 4 all three, 6 phone, 7 email

      const v2 = new Map([...v].map(([id, x]) => [id, id === 5 || id === 6 ? x + 3600n * 1_000_000n * tick : x]));
      const expected = new Map<number, Record<string, string | null>>();
      for (let id = 1; id <= ROWS; id++) expected.set(id, { name: `name ${id}`, email: `email ${id}`, phone: `phone ${id}`, note: `note ${id}` });
      Object.assign(expected.get(1)!, { email: 'live 1' });
      Object.assign(expected.get(4)!, { name: 'live 4 name', email: 'live 4 email', phone: 'live 4 phone' });
      Object.assign(expected.get(5)!, { name: 'renamed 5' });
      Object.assign(expected.get(6)!, { name: 'renamed 6', phone: 'live 6' });
      Object.assign(expected.get(7)!, { email: 'live 7' });
      const deleted = expected.get(7)!;
      expected.delete(7);
      expected.set(ROWS + 1, { name: 'name 9', email: 'email 9', phone: 'phone 9', note: 'no note' });
      expect(await values(targetTable)).toEqual(expected);
      expect(await values(tomb)).toEqual(new Map([[7, deleted]]));

      const after = await stamps(clock);
      for (let id = 1; id <= ROWS; id++) {
        const was = before.get(id)!;
        const version = v2.get(id)!;
        const newer = (f: string) => was[f] !== null && was[f]! > version;
        const want: Record<string, bigint | null> = {
          [INSERT_STAMP]: was[INSERT_STAMP]! > version ? was[INSERT_STAMP]! : version,
          [DELETE_STAMP]: was[DELETE_STAMP] ?? null,
          updated_at: version,
          note: noteClock.get(id)!,
        };
        for (const f of FIELDS) want[f] = newer(f) ? was[f]! : version;
        expect(after.get(id), `clock of row ${id}`).toEqual(want);
      }

      // the merge's scratch columns are gone: the new live generation has the clock layout
      const liveCols = (await readTableSchema(target, kind === 'postgres' ? 'public' : '', targetTable))!.columns.map((c) => c.name);
      expect(liveCols).toEqual(['id', 'name', 'email', 'phone', 'updated_at', 'note']);
      const clockCols = (await readTableSchema(target, kind === 'postgres' ? 'public' : '', clock))!.columns.map((c) => c.name);
      expect(clockCols).toEqual(['id', INSERT_STAMP, DELETE_STAMP, 'name', 'email', 'phone', 'updated_at', 'note']);

      // and a next refresh builds its stage from it as usual: nothing kept that is not newer
      const third = await refreshTable(cfg, job);
      expect(third.rowsAfter).toBe(ROWS);
      expect(await values(targetTable)).toEqual(expected);
    });
  });
}
