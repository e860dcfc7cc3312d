/**
 * Capture position and source lag of a SQL Server CDC source, for `fieldsync status`:
 * the offset the CDC source acknowledged for the table (its offset store in the source
 * database, lib/dialect/mssql/cdc-offset-store.ts) and how far its commit LSN is behind the
 * newest change CDC holds, in seconds (sys.fn_cdc_map_lsn_to_time of both, the same query
 * the CDC source uses for its lag metric).
 */
import type { Db } from '../dialect/dialect.js';
import { splitTableName } from '../dialect/introspect.js';
import { MssqlCdcOffsetStore } from '../dialect/mssql/cdc-offset-store.js';
import { MssqlCdcQueries } from '../dialect/mssql/cdc-queries.js';
import { lsnToHex } from '../dialect/mssql/lsn.js';

export interface CdcPosition {
  position: string | null;
  lagSeconds: number | null;
}

export async function cdcPosition(db: Db, fieldsyncSchema: string, source: string, table: string): Promise<CdcPosition> {
  const { schema, name } = splitTableName(table, 'dbo');
  const offset = await new MssqlCdcOffsetStore(db, fieldsyncSchema, source).load(`${schema}.${name}`);
  if (!offset) return { position: null, lagSeconds: null };
  if (offset.phase !== 'stream') return { position: `snapshot of ${offset.instance} in progress (${offset.reason})`, lagSeconds: null };
  if (!offset.commitLsn) return { position: `cdc:start of ${offset.instance ?? 'capture instance'}`, lagSeconds: null };
  const position = `cdc:${lsnToHex(offset.commitLsn)}${offset.seqval ? `:${lsnToHex(offset.seqval)}` : ''}`;
  const r = (await new MssqlCdcQueries(db).lagTimes(offset.commitLsn))[0];
  if (!(r?.max_time instanceof Date)) return { position, lagSeconds: 0 };
  if (!(r.acked_time instanceof Date)) return { position, lagSeconds: null };
  return { position, lagSeconds: Math.max(0, (r.max_time.getTime() - r.acked_time.getTime()) / 1000) };
}
