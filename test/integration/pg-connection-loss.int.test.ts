/**
 * A PostgreSQL server that goes away while fieldsync holds a connection checked out of the
 * pool (a transaction, a COPY session) fails that work with an error: it must not crash the
 * process. pg-pool removes its own 'error' listener from a client it hands out, and pg's
 * client emits 'error' when its socket dies, so without a listener of ours the next thing
 * would be an uncaught exception (seen once in CI: ECONNRESET after the capture's
 * source-down test stopped its server in the middle of the outbox cleanup's transaction).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { waitFor } from '../support/helpers.js';
import { startPrivatePostgres, type PrivateDb } from '../support/private-db.js';

describe('PostgreSQL connection loss on a checked-out client', () => {
  let server: PrivateDb;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => { uncaught.push(e); };

  beforeAll(async () => {
    server = await startPrivatePostgres({ databases: ['app'] });
    process.on('uncaughtException', onUncaught);
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await server?.destroy();
  });

  it('fails the transaction and the session, and raises nothing uncaught', async () => {
    const db = openPostgres(server.url('app'));
    const session = await db.client(); // checked out, as a COPY session holds one
    let sessionEnded = false;
    session.once('end', () => { sessionEnded = true; });
    let insideTx = false;
    const tx = db.transaction(async (t) => {
      await t.query('SELECT 1');
      insideTx = true;
      // the server goes away while this transaction holds its client, idle between two
      // statements: the connection ends with no query to fail
      await server.stop('immediate');
      await waitFor('the connections to end', () => sessionEnded, 10_000, 20);
      await t.query('SELECT 1');
    });
    await expect(tx).rejects.toThrow();
    expect(insideTx).toBe(true);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    session.release(true);
    await db.close().catch(() => undefined);
    expect(uncaught).toEqual([]);
  });
});
