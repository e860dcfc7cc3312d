/**
 * PostgreSQL visibility barrier (lib/capture/visibility.ts) against a real server: an open
 * transaction writing the outbox holds the safe sequence back; the reader's own DELETE of
 * published rows, declared with notAWriter, does not (it draws no sequence value), while a
 * real writer next to it still does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { OUTBOX_SEQUENCE, OUTBOX_TABLE } from '../../lib/capture/outbox-layout.js';
import { PgVisibilityBarrier } from '../../lib/capture/visibility.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { systemTable } from '../../lib/merge/clock-layout.js';
import { captureConfig, captureSource, type CaptureTestSource } from '../support/capture-harness.js';
import { uniqueName } from '../support/helpers.js';

describe('PostgreSQL visibility barrier and the reader\'s own DELETE', () => {
  let source: CaptureTestSource;
  let cfg: FieldsyncConfig;
  let db: Db;
  const t = uniqueName('vb');
  const open: { end: (sql: string) => Promise<void> }[] = [];

  async function openTx(): Promise<{ pid: number; exec: (sql: string) => Promise<void>; end: (sql: string) => Promise<void> }> {
    const pool = openPostgres(String(cfg.databases.src!.url), { poolSize: 1 });
    const client = await pool.client();
    await client.query('BEGIN');
    const pid = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const tx = { pid, exec: async (sql: string) => { await client.query(sql); }, end: async (sql: string) => { open.splice(open.indexOf(tx), 1); await client.query(sql); client.release(); await pool.close(); } };
    open.push(tx);
    return tx;
  }

  beforeAll(async () => {
    source = await captureSource('pg');
    cfg = captureConfig(source, [{ name: t, snapshot: false }]);
    db = openDb(cfg.databases.src!);
    await db.execute(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
    await installOutbox(cfg, cfg.capture[0]!, db);
  });

  afterAll(async () => {
    for (const tx of [...open]) await tx.end('ROLLBACK').catch(() => undefined);
    if (db) {
      await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
      await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
      await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
      await db.close();
    }
    await source?.drop();
  });

  it('is held back by a writer, not by a DELETE declared as the reader\'s own', async () => {
    const outbox = systemTable(db.dialect, source.isolation, OUTBOX_TABLE);
    const sequence = systemTable(db.dialect, source.isolation, OUTBOX_SEQUENCE);
    const barrier = () => new PgVisibilityBarrier(db, outbox, sequence);
    await db.execute(`INSERT INTO ${t} VALUES (1, 'a')`);
    const [first] = await db.query(`SELECT max(seq) AS s FROM ${outbox}`);
    const seq1 = BigInt(String(first!.s));

    const deleter = await openTx();
    await deleter.exec(`DELETE FROM ${outbox} WHERE seq = ${seq1}`); // holds RowExclusiveLock, stays open
    await db.execute(`INSERT INTO ${t} VALUES (2, 'b')`);
    const seq2 = seq1 + 1n;

    // an undeclared DELETE looks like a writer: the barrier stays below seq2
    expect(await barrier().safeSeq()).toBeLessThan(seq2);
    // declared as the reader's own: seq2 is safe while the DELETE is still open
    const own = barrier();
    const done = own.notAWriter(deleter.pid);
    expect(await own.safeSeq()).toBe(seq2);

    // a real writer beside it still holds the next value back until it commits
    const writer = await openTx();
    await writer.exec(`INSERT INTO ${t} VALUES (3, 'c')`);
    await db.execute(`INSERT INTO ${t} VALUES (4, 'd')`);
    expect(await own.safeSeq()).toBe(seq2);
    await writer.end('COMMIT');
    expect(await own.safeSeq()).toBe(seq2 + 2n);
    done();
    await deleter.end('ROLLBACK');
  });
});
