/**
 * SQL Server CDC source against a real SQL Server.
 *
 * No SQL Server can run on the project's own machines, so the live part runs only when
 * MSSQL_URL is set (e.g. the compose stack's SQL Server 2022:
 * MSSQL_URL='mssql://sa:<password>@127.0.0.1:1433/billing?encrypt=true&trustServerCertificate=true');
 * it must name a user database (CDC cannot be enabled on system databases), the login
 * must be allowed to enable CDC and snapshot isolation (sysadmin or db_owner), and SQL
 * Server Agent should run (the test also drives the capture with sys.sp_cdc_scan when
 * it does not).
 * Without MSSQL_URL the file still verifies, locally: every statement the source sends
 * parses as T-SQL and reads exactly the intended objects, and a source without a
 * reachable server fails with a retriable error — then it says that the live part was
 * not run and why.
 */
import { afterAll, describe, expect, it } from 'vitest';
import nodeSqlParser from 'node-sql-parser';
import { parseConfig } from '../../lib/config/load.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { FieldsyncError } from '../../lib/errors.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import type { Db } from '../../lib/dialect/dialect.js';
import {
  CAPTURED_COLUMNS_SQL, INDEX_COLUMNS_SQL, LAG_TIMES_SQL, LIST_INSTANCES_SQL, LSN_WINDOW_SQL, SNAPSHOT_START_SQL, WINDOW_END_SQL, changesSql, snapshotChunkSql,
  type ReadColumn,
} from '../../lib/dialect/mssql/cdc-queries.js';
import { CdcOffsetCodec } from '../../lib/dialect/mssql/cdc-offset.js';
import { SqlServerCdcSource } from '../../lib/dialect/mssql/cdc-source.js';
import { connectMssql } from '../../lib/dialect/mssql/db.js';
import { readMssqlSource } from '../../lib/dialect/mssql/table-reader.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { stack, uniqueName, waitFor } from '../support/helpers.js';

const MSSQL_URL = process.env.MSSQL_URL;
const { Parser } = nodeSqlParser;
const parser = new Parser();
const TSQL = { database: 'transactsql' };

/**
 * node-sql-parser 5.4 rejects `TOP (@p) <column> AS <alias>` (valid T-SQL); the limit
 * is swapped for a literal before parsing, nothing else is changed.
 */
function tables(sql: string): string[] {
  const parseable = sql.replace(/TOP \(@p\d+\)/g, 'TOP (100)');
  parser.astify(parseable, TSQL); // throws on a syntax error
  return parser.tableList(parseable, TSQL).sort();
}

interface FunctionSource { schema: string; name: string; args: unknown[] }

/** The table-valued function in the first FROM item (node-sql-parser leaves it out of tableList). */
function fromFunction(sql: string): FunctionSource {
  const ast = parser.astify(sql.replace(/TOP \(@p\d+\)/g, 'TOP (100)'), TSQL);
  const stmt = (Array.isArray(ast) ? ast[0] : ast) as unknown as { from: Array<{ expr?: { type: string; name: { name: Array<{ value: string }>; schema: { value: string } }; args: { value: unknown[] } } }> };
  const fn = stmt.from[0]?.expr;
  if (fn?.type !== 'function') throw new Error('first FROM item is not a function call');
  return { schema: fn.name.schema.value, name: fn.name.name.map((n) => n.value).join('.'), args: fn.args.value };
}

function config(url: string, table: string, extra: Record<string, unknown> = {}): FieldsyncConfig {
  return parseConfig({
    kafka: { brokers: stack.kafkaBrokers },
    registry: { url: stack.registryUrl },
    databases: { billing: { dialect: 'mssql', url, origin: 'billing', poolSize: 2 } },
    capture: [{ source: 'billing', mode: 'cdc', batchSize: 100, tables: [{ name: table, ...extra }] }],
  }, 'mssql-cdc-test');
}

describe('SQL Server CDC source', () => {
  it('sends T-SQL that parses and reads exactly the CDC objects it means to', () => {
    const cols: ReadColumn[] = [
      { name: 'id', type: { kind: 'int', bits: 32 } },
      { name: 'tenant', type: { kind: 'uuid' } },
      { name: 'amount', type: { kind: 'decimal', precision: 19, scale: 4 } },
      { name: 'odd name', type: { kind: 'string' } },
    ];
    expect(tables(LIST_INSTANCES_SQL)).toEqual(['select::cdc::change_tables', 'select::sys::schemas', 'select::sys::tables']);
    expect(tables(CAPTURED_COLUMNS_SQL)).toEqual(['select::INFORMATION_SCHEMA::COLUMNS', 'select::cdc::captured_columns', 'select::cdc::change_tables']);
    expect(tables(INDEX_COLUMNS_SQL)).toEqual(['select::cdc::change_tables', 'select::cdc::index_columns']);
    expect(tables(LSN_WINDOW_SQL)).toEqual([]);
    expect(tables(SNAPSHOT_START_SQL)).toEqual([]);
    expect(tables(WINDOW_END_SQL)).toEqual(['select::cdc::lsn_time_mapping']);
    expect(tables(LAG_TIMES_SQL)).toEqual(['select::cdc::lsn_time_mapping']);
    const changes = changesSql('dbo_clients', cols);
    expect(tables(changes)).toEqual(['select::cdc::lsn_time_mapping']);
    const fn = fromFunction(changes);
    expect(fn).toMatchObject({ schema: 'cdc', name: 'fn_cdc_get_all_changes_dbo_clients' });
    expect(fn.args).toMatchObject([
      { type: 'cast', expr: { column: '@p1' }, target: [{ dataType: 'BINARY', length: 10 }] },
      { type: 'cast', expr: { column: '@p2' }, target: [{ dataType: 'BINARY', length: 10 }] },
      { type: 'var_string', value: 'all update old' },
    ]);
    expect(parser.columnList(changes.replace(/TOP \(@p\d+\)/g, 'TOP (100)'), TSQL)).toEqual(expect.arrayContaining([
      'select::c::__$start_lsn', 'select::c::__$seqval', 'select::c::__$operation', 'select::c::__$update_mask', 'select::lsn_time_mapping::tran_end_time',
    ]));
    expect(changes).toMatch(/ORDER BY c\.\[__\$start_lsn\], c\.\[__\$seqval\], c\.\[__\$operation\]$/);
    expect(changes).toContain('c.[odd name] AS [odd name]');
    // A closing bracket in a name is doubled (node-sql-parser cannot parse that escape, so it is checked as text).
    expect(changesSql('dbo_x]y', [{ name: 'a]b', type: { kind: 'string' } }])).toContain('cdc.[fn_cdc_get_all_changes_dbo_x]]y](');
    expect(changesSql('dbo_x', [{ name: 'a]b', type: { kind: 'string' } }])).toContain('c.[a]]b] AS [a]]b]');
    const first = snapshotChunkSql({ schema: 'dbo', table: 'clients', columns: cols, key: [cols[1]!, cols[0]!] }, false);
    const next = snapshotChunkSql({ schema: 'dbo', table: 'clients', columns: cols, key: [cols[1]!, cols[0]!] }, true);
    expect(tables(first)).toEqual(['select::dbo::clients']);
    expect(tables(next)).toEqual(['select::dbo::clients']);
    // Keyset pagination over a two-column key, spelled out (SQL Server has no row-value comparison).
    expect(next).toContain('WHERE ([tenant] > CAST(@p2 AS UNIQUEIDENTIFIER))\n    OR ([tenant] = CAST(@p2 AS UNIQUEIDENTIFIER) AND [id] > @p3)');
    expect(next).toMatch(/ORDER BY \[tenant\], \[id\]$/);
  });

  it(MSSQL_URL ? 'streams inserts, updates and deletes from a real SQL Server (MSSQL_URL)' : 'without MSSQL_URL: fails retriably when no server is reachable; the live part is not run', async () => {
    if (!MSSQL_URL) {
      // Port 1 on loopback: nothing listens, the connection is refused at once.
      const src = new SqlServerCdcSource(config('mssql://sa:x@127.0.0.1:1/master?encrypt=false', 'dbo.clients'), config('mssql://sa:x@127.0.0.1:1/master?encrypt=false', 'dbo.clients').capture[0]!);
      const err = await src.connect().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FieldsyncError);
      expect((err as FieldsyncError).retriable).toBe(true);
      expect((err as Error).message).toMatch(/unable to connect to SQL Server/);
      console.warn('MSSQL_URL not set: SQL Server integration not run');
      return;
    }
    await live(MSSQL_URL);
  });
});

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function live(url: string): Promise<void> {
  const db: Db = await connectMssql(url, { poolSize: 2 });
  cleanups.push(() => db.close());
  const name = uniqueName('cdc_clients');
  const table = `dbo.${name}`;
  const q = `[dbo].[${name}]`;

  const [dbRow] = await db.query('SELECT is_cdc_enabled FROM sys.databases WHERE database_id = DB_ID()');
  if (!dbRow?.is_cdc_enabled) await db.execute('EXEC sys.sp_cdc_enable_db');
  // 10 columns: the update mask is 2 bytes wide.
  await db.execute(`CREATE TABLE ${q} (
    id int NOT NULL PRIMARY KEY, email nvarchar(200) NULL, balance decimal(12,2) NULL, notes nvarchar(max) NULL,
    legacy ntext NULL, seen datetime2(7) NULL, active bit NULL, code uniqueidentifier NULL, big bigint NULL, amount money NULL)`);
  cleanups.push(async () => {
    await db.execute(`EXEC sys.sp_cdc_disable_table @source_schema = N'dbo', @source_name = @p1, @capture_instance = N'all'`, [name]);
    await db.execute(`DROP TABLE ${q}`);
    await db.execute(`DELETE FROM [fieldsync].[cdc_offsets] WHERE source_name = N'billing' AND table_name = @p1`, [table]);
  });
  await db.execute(`INSERT INTO ${q} (id, email, balance, notes, legacy, seen, active, code, big, amount)
    VALUES (1, N'zoë@例え.jp', 10.50, N'long notes', N'legacy text', '2025-01-02 03:04:05.1234567', 1, 'A1B2C3D4-0000-4000-8000-00000000000F', 9007199254740993, 922337203685477.5807)`);
  await db.execute(`EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = @p1, @role_name = NULL, @supports_net_changes = 0`, [name]);

  const cfg = config(url, table);
  const src = new SqlServerCdcSource(cfg, cfg.capture[0]!);
  await src.connect();
  cleanups.push(() => src.close());

  const events: ChangeEvent[] = [];
  const pump = async (until: (e: ChangeEvent[]) => boolean, what: string) => waitFor(what, async () => {
    // Harvest the log now if SQL Server Agent's capture job is not running (an error from a
    // concurrently running capture job is fine: the job harvests then).
    await db.execute('EXEC sys.sp_cdc_scan @maxtrans = 500, @maxscans = 1, @continuous = 0').catch(() => undefined);
    const b = await src.readBatch();
    events.push(...b.changes.map((c) => c.event));
    await b.ack();
    return until(events);
  }, 60_000, 250);

  await pump((e) => e.length >= 1, 'the snapshot of the existing row');
  expect(events[0]).toMatchObject({ op: 'snapshot', key: { id: 1 } });
  expect(events[0]!.after).toMatchObject({ email: 'zoë@例え.jp', balance: '10.50', seen: '2025-01-02 03:04:05.123456', code: 'a1b2c3d4-0000-4000-8000-00000000000f', big: 9007199254740993n, amount: '922337203685477.5807', legacy: 'legacy text' });

  await db.execute(`INSERT INTO ${q} (id, email, notes) VALUES (2, N'b@example.com', N'two')`);
  // email and amount change; balance is set to its own value (not a change); notes and legacy untouched.
  await db.execute(`UPDATE ${q} SET email = N'new@example.com', balance = balance, amount = 1.25 WHERE id = 1`);
  await db.execute(`UPDATE ${q} SET notes = N'changed notes' WHERE id = 2`);
  await db.execute(`DELETE FROM ${q} WHERE id = 2`);
  await pump((e) => e.length >= 5, 'insert, two updates and a delete');

  const stream = events.slice(1);
  expect(stream.map((e) => `${e.op}:${String(e.key.id)}`)).toEqual(['insert:2', 'update:1', 'update:2', 'delete:2']);
  expect(stream[1]!.changed).toEqual(['email', 'amount']);
  expect(stream[1]!.after).not.toHaveProperty('notes');
  expect(stream[1]!.after).not.toHaveProperty('legacy');
  expect(stream[2]!.changed).toEqual(['notes']);
  expect(stream[2]!.after?.notes).toBe('changed notes');
  for (const e of stream) expect(e.position).toMatch(/^cdc:[0-9a-f]{20}:[0-9a-f]{20}:\d+$/);
  // Commit times are UTC: within a few minutes of the server's UTC clock.
  const [now] = await db.query('SELECT SYSUTCDATETIME() AS now');
  const nowMicros = BigInt((now!.now as Date).getTime()) * 1000n;
  for (const e of stream) expect(Number(nowMicros - e.commitTimeMicros) / 1e6).toBeLessThan(300);

  const [stored] = await db.query(`SELECT offset_json FROM [fieldsync].[cdc_offsets] WHERE source_name = N'billing' AND table_name = @p1`, [table]);
  expect(CdcOffsetCodec.parse(String(stored!.offset_json))).toMatchObject({ phase: 'stream', complete: true });

  // The reconciler's bulk read of the same table: one SNAPSHOT transaction, exact values, key order.
  await db.execute('ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON');
  await db.execute(`INSERT INTO ${q} (id, email) VALUES (3, N'c@example.com'), (4, N'd@example.com')`);
  const schema = (await readTableSchema(db, 'dbo', name))!;
  expect(schema.key).toEqual(['id']);
  const read = await readMssqlSource(db, schema, schema.columns, undefined, 2);
  const batches: number[][] = [];
  for await (const b of read.batches) batches.push(b.map((r) => r[0] as number));
  expect(batches).toEqual([[1, 3], [4]]);
  expect(Number(nowMicros - read.readStartMicros) / 1e6).toBeLessThan(300);
}
