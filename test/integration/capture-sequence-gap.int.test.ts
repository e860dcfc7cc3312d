/**
 * The sequence trap (see lib/capture/visibility.ts): an outbox sequence value is drawn at
 * insert time, so a transaction that is still open holds a LOWER sequence than rows that
 * other transactions have already committed. A reader that advanced past the committed
 * rows would lose the open transaction's rows when it commits.
 *
 * These tests hold such a transaction open on a dedicated connection while later rows
 * commit, poll the real outbox source repeatedly, and prove that it neither publishes
 * beyond the open transaction nor moves its checkpoint past it; once the transaction
 * commits (or rolls back) everything committed is read, in sequence order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import type { TableChange } from '../../lib/event/change-event.js';
import { captureConfig, captureSource, type CaptureTestSource } from '../support/capture-harness.js';
import { uniqueName, waitFor } from '../support/helpers.js';

/** An explicit transaction on its own connection, kept open until commit/rollback. */
interface OpenTx {
  exec(sql: string, params?: unknown[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

const openTransactions = new Set<OpenTx>();

async function openTx(kind: 'pg' | 'maria', url: string): Promise<OpenTx> {
  const tx = await beginTx(kind, url);
  openTransactions.add(tx);
  const done = (f: () => Promise<void>) => async () => { openTransactions.delete(tx); await f(); };
  return { exec: tx.exec, commit: done(tx.commit), rollback: done(tx.rollback) };
}

async function beginTx(kind: 'pg' | 'maria', url: string): Promise<OpenTx> {
  if (kind === 'pg') {
    const pool = openPostgres(url, { poolSize: 1 });
    const client = await pool.client();
    await client.query('BEGIN');
    const end = async (sql: string) => { await client.query(sql); client.release(); await pool.close(); };
    return { exec: async (sql, params = []) => { await client.query(sql, params); }, commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
  }
  const pool = openMysql(url, { poolSize: 1 });
  const conn = await pool.connection();
  await conn.query('START TRANSACTION');
  const end = async (sql: string) => { await conn.query(sql); conn.release(); await pool.close(); };
  return { exec: async (sql, params = []) => { await conn.query(sql, params); }, commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
}

/** Poll until a batch has changes (or return the empty batches seen); acks what it reads. */
async function drain(src: OutboxSource, polls: number): Promise<TableChange[]> {
  const out: TableChange[] = [];
  for (let i = 0; i < polls; i++) {
    const b = await src.readBatch();
    out.push(...b.changes);
    await b.ack();
  }
  return out;
}

const ids = (changes: TableChange[]) => changes.map((c) => c.event.key.id);

for (const kind of ['pg', 'maria'] as const) {
  describe(`${kind === 'pg' ? 'PostgreSQL' : 'MariaDB'} outbox: a long open transaction with a lower sequence`, () => {
    let source: CaptureTestSource;
    let cfg: FieldsyncConfig;
    let db: Db;
    let src: OutboxSource | undefined;
    const t = uniqueName('gap');
    const p = (i: number) => (kind === 'pg' ? `$${i}` : '?');

    beforeAll(async () => {
      source = await captureSource(kind);
      cfg = captureConfig(source, [{ name: t, snapshot: false }], { batchSize: 100 });
      db = openDb(cfg.databases.src!);
      await db.execute(`CREATE TABLE ${t} (id int PRIMARY KEY, v varchar(20))`);
      await installOutbox(cfg, cfg.capture[0]!, db);
      src = new OutboxSource(cfg, cfg.capture[0]!);
      await src.connect();
    });

    afterAll(async () => {
      // a failed assertion must not leave a transaction holding locks on the table
      for (const tx of [...openTransactions]) await tx.rollback().catch(() => undefined);
      await src?.close();
      if (db) {
        await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
        await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
        if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
        await db.close();
      }
      await source?.drop();
    });

    it('never reads past an in-flight sequence value, and reads it once it commits', async () => {
      const url = String(cfg.databases.src!.url);
      await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'before')`, [1]);
      expect(ids(await drain(src!, 1))).toEqual([1]);

      const tx = await openTx(kind, url);
      await tx.exec(`INSERT INTO ${t} VALUES (${p(1)}, 'long')`, [2]); // draws the lower sequence, stays open
      for (const id of [3, 4, 5]) await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'later')`, [id]); // commit at once
      const checkpointBefore = src!.position;

      // many polls while the transaction is open: nothing beyond it, checkpoint unchanged
      expect(await drain(src!, 15)).toEqual([]);
      expect(src!.position).toBe(checkpointBefore);

      await tx.commit();
      const got = await waitFor('the committed rows', async () => {
        const c = await drain(src!, 1);
        return c.length > 0 ? c : undefined;
      }, 20_000);
      expect(ids(got)).toEqual([2, 3, 4, 5]);
      expect(got.map((c) => BigInt(c.event.position.slice('outbox:'.length)))).toEqual([...got.map((c) => BigInt(c.event.position.slice('outbox:'.length)))].sort((x, y) => (x < y ? -1 : 1)));
    });

    it('keeps published outbox rows for outboxRetentionMs, deletes them when retention allows', async () => {
      const outbox = kind === 'pg' ? `"${source.isolation}".outbox` : 'fieldsync_outbox';
      const count = async () => Number((await db.query(`SELECT count(*) AS n FROM ${outbox}`))[0]!.n);
      await drain(src!, 2); // nothing pending from earlier tests
      const keeping = new OutboxSource({ ...cfg, capture: [{ ...cfg.capture[0]!, outboxRetentionMs: 3_600_000 }] }, { ...cfg.capture[0]!, outboxRetentionMs: 3_600_000 });
      await keeping.connect();
      try {
        await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'kept')`, [20]);
        expect(ids(await waitFor('the row', async () => { const c = await drain(keeping, 1); return c.length ? c : undefined; }))).toEqual([20]);
        expect(await count()).toBeGreaterThanOrEqual(1); // published and checkpointed, still within retention
      } finally {
        await keeping.close();
      }
      await src!.close();
      src = new OutboxSource(cfg, cfg.capture[0]!); // retention 0
      await src.connect();
      await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'next')`, [21]);
      expect(ids(await waitFor('the next row', async () => { const c = await drain(src!, 1); return c.length ? c : undefined; }))).toEqual([21]);
      await waitFor('the published rows to be deleted (in the background)', async () => (await count()) === 0, 10_000);
    });

    it('deletes a published backlog larger than one deletion after the last batch, with no more writes to come', async () => {
      const outbox = kind === 'pg' ? `"${source.isolation}".outbox` : 'fieldsync_outbox';
      const count = async () => Number((await db.query(`SELECT count(*) AS n FROM ${outbox}`))[0]!.n);
      await drain(src!, 2); // nothing pending from earlier tests
      // published but kept (retention): 40 rows, 8 batches of 5
      const small = { ...cfg.capture[0]!, batchSize: 5 };
      const keeping = new OutboxSource(cfg, { ...small, outboxRetentionMs: 3_600_000 });
      await keeping.connect();
      try {
        for (let id = 100; id < 140; id++) await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'backlog')`, [id]);
        const got: TableChange[] = [];
        await waitFor('the 40 rows', async () => { got.push(...(await drain(keeping, 1))); return got.length >= 40 || undefined; }, 20_000);
        expect(await count()).toBeGreaterThanOrEqual(40);
      } finally {
        await keeping.close();
      }
      // retention 0, one deletion removes at most 2 × batchSize = 10 rows: one last batch
      // (one acknowledgement) must still clear all 41
      const last = new OutboxSource(cfg, small);
      await last.connect();
      try {
        await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'last')`, [140]);
        expect(ids(await waitFor('the last row', async () => { const c = await drain(last, 1); return c.length ? c : undefined; }))).toEqual([140]);
        await waitFor('the whole published backlog to be deleted', async () => (await count()) === 0, 10_000);
        expect(await count()).toBe(0);
      } finally {
        await last.close();
      }
    });

    it('passes the gap a rolled-back transaction leaves, without losing what committed around it', async () => {
      const url = String(cfg.databases.src!.url);
      const tx = await openTx(kind, url);
      await tx.exec(`INSERT INTO ${t} VALUES (${p(1)}, 'doomed')`, [10]);
      await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'after')`, [11]);
      expect(await drain(src!, 5)).toEqual([]);
      await tx.rollback();
      await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, 'last')`, [12]);
      const seen: TableChange[] = [];
      await waitFor('the rows committed around the rolled-back one', async () => {
        seen.push(...(await drain(src!, 1)));
        return seen.length >= 2;
      }, 30_000);
      expect(ids(seen)).toEqual([11, 12]);
    });
  });
}
