/**
 * `fieldsync verify` against the real PostgreSQL and MariaDB: 100,000 rows generated on
 * each server by its own SQL (so values arrive in each dialect's native rendering), equal
 * tables pass, one changed field is found and named, a target-owned field (newer clock
 * from the target's own origin) is reported apart from true mismatches, and string keys
 * whose collation order differs between the servers still line up chunk by chunk.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { originCode, stampOf } from '../../lib/stamp.js';
import { verifyTables, type VerifyResult, type VerifySide } from '../../lib/verify/verify.js';
import { stack, uniqueName } from '../support/helpers.js';

const ROWS = Number(process.env.FIELDSYNC_VERIFY_ROWS ?? 100_000);

describe('verify (PostgreSQL → MariaDB)', () => {
  const pg = openPostgres(stack.pgUrl());
  const my = openMysql(stack.mysqlUrl());
  const table = uniqueName('vf');
  const strTable = uniqueName('vfs');
  const ownTable = uniqueName('vfo');
  const dir = mkdtempSync(join(tmpdir(), 'fs-verify-'));
  const source: VerifySide = { name: 'pg', db: pg, origin: 'pg' };
  const target: VerifySide = { name: 'maria', db: my, origin: 'maria' };
  const pair = { source: { schema: 'public', name: table }, target: { schema: '', name: table } };

  beforeAll(async () => {
    await pg.execute(`CREATE TABLE ${table} (id bigint PRIMARY KEY, email varchar(200), balance numeric(12,2), seen timestamptz(6),
      meta jsonb, flag boolean, note text, blob bytea, ratio double precision)`);
    await pg.execute(`INSERT INTO ${table}
      SELECT id, 'user' || id || '@example.com', (id % 100000)::numeric / 100,
             timestamptz '2024-01-01 00:00:00+00' + id * interval '1 second' + (id % 1000) * interval '1 microsecond',
             jsonb_build_object('n', id, 'tag', 't' || (id % 7)), id % 2 = 0,
             CASE WHEN id % 10 = 0 THEN NULL ELSE 'ünï ' || id END, decode(lpad(to_hex(id), 8, '0'), 'hex'), id / 8.0
        FROM generate_series(1, $1::int) AS id`, [ROWS]);
    await my.execute(`CREATE TABLE ${table} (id BIGINT PRIMARY KEY, email VARCHAR(200), balance DECIMAL(12,2), seen DATETIME(6),
      meta JSON, flag TINYINT(1), note TEXT, \`blob\` LONGBLOB, ratio DOUBLE)`);
    await my.execute(`INSERT INTO ${table}
      SELECT seq, CONCAT('user', seq, '@example.com'), (seq % 100000) / 100,
             TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq SECOND + INTERVAL (seq % 1000) MICROSECOND,
             JSON_OBJECT('tag', CONCAT('t', seq % 7), 'n', seq), seq % 2 = 0,
             IF(seq % 10 = 0, NULL, CONCAT('ünï ', seq)), UNHEX(LPAD(HEX(seq), 8, '0')), seq / 8.0
        FROM seq_1_to_${Math.trunc(ROWS)}`);
  }, 120_000);

  afterAll(async () => {
    await pg.execute(`DROP TABLE IF EXISTS ${table}, ${strTable}, ${ownTable}, ${ownTable}__fs_clock`);
    await my.execute(`DROP TABLE IF EXISTS ${table}, ${strTable}, ${ownTable}, ${ownTable}__fs_clock`);
    await pg.close();
    await my.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes on equal tables', async () => {
    const r = await verifyTables(source, target, [pair], { chunkSize: 5000, maxDiffs: 10 });
    const t = r.tables[0]!;
    expect(t.schemaProblems).toEqual([]);
    expect(t.sourceRows).toBe(ROWS);
    expect(t.targetRows).toBe(ROWS);
    expect(t.sourceChecksum).toBe(t.targetChecksum);
    expect(t.mismatchedChunks).toBe(0);
    expect(t.mismatches).toBe(0);
    expect(r.equal).toBe(true);
  });

  it('detects one changed field among all rows, names it, and exits 1 from the command', async () => {
    const victim = Math.floor(ROWS * 0.77);
    await my.execute(`UPDATE ${table} SET email = 'changed@example.com' WHERE id = ?`, [victim]);
    onTestFinished(async () => { await my.execute(`UPDATE ${table} SET email = ? WHERE id = ?`, [`user${victim}@example.com`, victim]); });
    // The command, as an operator runs it (one run over all rows: the machine is shared).
    const configFile = join(dir, 'verify.yaml');
    writeFileSync(configFile, stringify({
      kafka: { brokers: stack.kafkaBrokers },
      registry: { url: stack.registryUrl },
      databases: { pg: { dialect: 'postgres', url: stack.pgUrl() }, maria: { dialect: 'mysql', url: stack.mysqlUrl() } },
    }));
    const run = spawnSync('node', ['bin/fieldsync.mjs', 'verify', '--config', configFile, '--source', 'pg', '--target', 'maria', '--table', `public.${table}=${table}`, '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(1);
    const r = JSON.parse(run.stdout) as VerifyResult;
    const t = r.tables[0]!;
    expect(r.equal).toBe(false);
    expect(t).toMatchObject({ sourceRows: ROWS, targetRows: ROWS, mismatches: 1, mismatchedChunks: 1, targetOwned: 0 });
    expect(t.differences).toEqual([{
      key: { id: String(victim) }, kind: 'value', column: 'email',
      sourceValue: `user${victim}@example.com`, targetValue: 'changed@example.com',
    }]);
  });

  it('reports a field the target owns (newer local clock) apart from true mismatches', async () => {
    await pg.execute(`CREATE TABLE ${ownTable} (id bigint PRIMARY KEY, note text, balance numeric(12,2))`);
    await pg.execute(`INSERT INTO ${ownTable} SELECT g, 'n' || g, g / 100.0 FROM generate_series(1, 1000) g`);
    await my.execute(`CREATE TABLE ${ownTable} (id BIGINT PRIMARY KEY, note TEXT, balance DECIMAL(12,2))`);
    await my.execute(`INSERT INTO ${ownTable} SELECT seq, CONCAT('n', seq), seq / 100.0 FROM seq_1_to_1000`);
    // The clock table as lib/merge/clock-layout.ts lays it out, with one field stamped by the target's own origin.
    await my.execute(`CREATE TABLE ${ownTable}__fs_clock (id BIGINT PRIMARY KEY, _fs_ins BIGINT NULL, _fs_del BIGINT NULL, note BIGINT NULL, balance BIGINT NULL)`);
    const t1 = stampOf(1_700_000_000_000_000n, 'pg');
    const t2 = stampOf(1_700_000_100_000_000n, 'maria');
    await my.execute(`INSERT INTO ${ownTable}__fs_clock (id, _fs_ins, note, balance) VALUES (5, ?, ?, ?), (6, ?, ?, ?)`, [t1, t2, t1, t1, t1, t1].map(String));
    await my.execute(`UPDATE ${ownTable} SET note = 'edited in invoice' WHERE id = 5`);
    await my.execute(`UPDATE ${ownTable} SET balance = 1.23 WHERE id = 6`);
    const p = { source: { schema: 'public', name: ownTable }, target: { schema: '', name: ownTable } };
    const r = await verifyTables(source, target, [p], { chunkSize: 300, maxDiffs: 10, origins: new Map([[originCode('maria'), 'maria'], [originCode('pg'), 'pg']]) });
    const t = r.tables[0]!;
    expect(t.targetOwned).toBe(1);
    expect(t.owned[0]).toMatchObject({ key: { id: '5' }, column: 'note', targetValue: 'edited in invoice', targetClock: { stamp: t2.toString(), origin: 'maria' } });
    expect(t.mismatches).toBe(1);
    expect(t.differences[0]).toMatchObject({ key: { id: '6' }, column: 'balance', sourceValue: '0.06', targetValue: '1.23', targetClock: { origin: 'pg' } });
    expect(r.equal).toBe(false);
    await my.execute(`UPDATE ${ownTable} SET balance = 0.06 WHERE id = 6`);
    const again = await verifyTables(source, target, [p], { chunkSize: 300, maxDiffs: 10 });
    expect(again.equal).toBe(true);
    expect(again.tables[0]!.targetOwned).toBe(1);
  });

  it('compares clock with clock when the source keeps clocks too (a target compared with a target)', async () => {
    // Continues the previous test's tables: id 5's note is the target's local edit stamped t2.
    await pg.execute(`CREATE TABLE ${ownTable}__fs_clock (id bigint PRIMARY KEY, _fs_ins bigint, _fs_del bigint, note bigint, balance bigint)`);
    const t3 = stampOf(1_700_000_200_000_000n, 'pg'); // newer than the target's local edit: the target is behind
    await pg.execute(`INSERT INTO ${ownTable}__fs_clock (id, _fs_ins, note) VALUES (5, $1, $2)`, [t3.toString(), t3.toString()]);
    const t4 = stampOf(1_700_000_300_000_000n, 'maria');
    const t5 = stampOf(1_700_000_300_000_000n, 'billing');
    await my.execute(`INSERT INTO ${ownTable}__fs_clock (id, _fs_ins, note) VALUES (7, ?, ?), (8, ?, ?)`, [t4, t4, t5, t5].map(String));
    await my.execute(`UPDATE ${ownTable} SET note = 'local' WHERE id = 7`);
    await my.execute(`UPDATE ${ownTable} SET note = 'from elsewhere' WHERE id = 8`);
    const p = { source: { schema: 'public', name: ownTable }, target: { schema: '', name: ownTable } };
    const r = await verifyTables(source, target, [p], { chunkSize: 300, maxDiffs: 10 });
    const t = r.tables[0]!;
    // 5: the source's clock is newer; 8: a write the source never saw and not the target's own: both mismatches.
    expect(t.differences.map((d) => d.key.id).sort()).toEqual(['5', '8']);
    // 7: the target's own local edit, unknown to the source: owned.
    expect(t.owned.map((d) => d.key.id)).toEqual(['7']);
    await pg.execute(`DROP TABLE ${ownTable}__fs_clock`);
  });

  it('lines up string keys whose collation order differs between the servers', async () => {
    const keys = ['a', 'B', 'c', 'É', 'e', 'Z', 'ß', '中', 'a b', 'A', '0', '_x'];
    await pg.execute(`CREATE TABLE ${strTable} (code varchar(20) PRIMARY KEY, v int)`);
    await my.execute(`CREATE TABLE ${strTable} (code VARCHAR(20) COLLATE utf8mb4_bin PRIMARY KEY, v INT)`);
    for (const [i, k] of keys.entries()) {
      await pg.execute(`INSERT INTO ${strTable} VALUES ($1, $2)`, [k, i]);
      await my.execute(`INSERT INTO ${strTable} VALUES (?, ?)`, [k, i]);
    }
    const p = { source: { schema: 'public', name: strTable }, target: { schema: '', name: strTable } };
    const r = await verifyTables(source, target, [p], { chunkSize: 2, maxDiffs: 10 });
    expect(r.tables[0]).toMatchObject({ sourceRows: keys.length, targetRows: keys.length, mismatches: 0, mismatchedChunks: 0 });
    await my.execute(`DELETE FROM ${strTable} WHERE code = 'É'`);
    await my.execute(`INSERT INTO ${strTable} VALUES ('only-here', 99)`);
    const r2 = await verifyTables(source, target, [p], { chunkSize: 2, maxDiffs: 10 });
    expect(r2.equal).toBe(false);
    expect(r2.tables[0]!.differences.map((d) => [d.kind, d.key.code]).sort()).toEqual([['missing_in_source', 'only-here'], ['missing_in_target', 'É']]);
  });
});
