/**
 * The CDC position of `fieldsync status` on result rows shaped as SQL Server returns them
 * (no SQL Server here; the live path runs where MSSQL_URL is set, through the CDC source's
 * own integration test of the same queries).
 */
import { describe, expect, it } from 'vitest';
import type { Db, DbRow } from '../dialect/dialect.js';
import { CdcOffsetCodec } from '../dialect/mssql/cdc-offset.js';
import { mssqlDialect } from '../dialect/mssql/dialect.js';
import { cdcPosition } from './cdc-position.js';

/** A Db that answers the offset-store and lag-time queries with the given rows. */
function rowsDb(offsetJson: string | undefined, lag: DbRow | undefined): Db & { queries: string[] } {
  const queries: string[] = [];
  const db = {
    dialect: mssqlDialect,
    queries,
    async query(sql: string): Promise<DbRow[]> {
      queries.push(sql);
      if (sql.includes('offset_json')) return offsetJson === undefined ? [] : [{ offset_json: offsetJson }];
      if (sql.includes('lsn_time_mapping')) return lag ? [lag] : [];
      throw new Error(`unexpected query ${sql}`);
    },
    async execute(): Promise<number> { return 0; },
    async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> { return fn(db); },
    async close(): Promise<void> {},
  };
  return db;
}

const lsn = (hex: string) => Buffer.from(hex, 'hex');

describe('status: SQL Server CDC position', () => {
  it('shows the acknowledged LSN and the seconds to the newest change', async () => {
    const json = CdcOffsetCodec.serialize({ phase: 'stream', instance: 'dbo_clients', commitLsn: lsn('0000002a000001f00003'), seqval: lsn('0000002a000001f00002'), serial: 0, complete: true });
    const db = rowsDb(json, { acked_time: new Date('2026-01-01T00:00:00.000Z'), max_time: new Date('2026-01-01T00:00:42.500Z') });
    const p = await cdcPosition(db, 'fieldsync', 'billing', 'dbo.clients');
    expect(p.position).toBe('cdc:0000002a000001f00003:0000002a000001f00002');
    expect(p.lagSeconds).toBe(42.5);
    expect(db.queries[0]).toContain('[fieldsync].[cdc_offsets]');
  });

  it('has no position before the first acknowledgement, and no lag while nothing is captured yet', async () => {
    expect(await cdcPosition(rowsDb(undefined, undefined), 'fieldsync', 'billing', 'clients')).toEqual({ position: null, lagSeconds: null });
    const json = CdcOffsetCodec.serialize({ phase: 'stream', instance: 'dbo_clients', commitLsn: lsn('0000002a000001f00003'), seqval: null, serial: 0, complete: true });
    expect((await cdcPosition(rowsDb(json, { acked_time: null, max_time: null }), 'fieldsync', 'billing', 'clients')).lagSeconds).toBe(0);
  });
});
