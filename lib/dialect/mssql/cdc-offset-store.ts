/**
 * Where the SQL Server CDC source keeps its positions: a table in the source database's
 * fieldsync schema, `<fieldsyncSchema>.cdc_offsets` (source, table, offset JSON).
 *
 * Why there and not in a compacted Kafka topic: the position is an LSN of THIS
 * database, so it must live and die with it — a database restored from a backup (or a
 * failover replica) comes back with its own offsets instead of LSNs from a different
 * log history; the trigger-outbox sources keep their checkpoints in the same schema, so
 * operators find every capture position in one place; and a row update is one durable
 * write with no topic configuration (compaction, retention) that could silently lose
 * it. The cost is write permission on that schema (nothing else is written; CDC itself
 * is only read). The row is written only in ack(), after Kafka acknowledged every event
 * up to the position, in one transaction for all tables of the batch.
 */
import type { Db } from '../dialect.js';
import { systemTable } from '../../merge/clock-layout.js';
import { wrap } from '../../errors.js';
import { type CdcOffset, CdcOffsetCodec } from './cdc-offset.js';
import { mssqlDialect } from './dialect.js';

export interface CdcOffsetStore {
  /** The saved offset of a table (`schema.table`), or undefined when never saved. */
  load(table: string): Promise<CdcOffset | undefined>;
  /** Save offsets of several tables atomically. */
  save(offsets: ReadonlyMap<string, CdcOffset>): Promise<void>;
}

export const CDC_OFFSETS_TABLE = 'cdc_offsets';

export class MssqlCdcOffsetStore implements CdcOffsetStore {
  private readonly table: string;

  constructor(private readonly db: Db, private readonly fieldsyncSchema: string, private readonly source: string) {
    this.table = systemTable(mssqlDialect, fieldsyncSchema, CDC_OFFSETS_TABLE);
  }

  /** Create the schema and table when missing (idempotent). */
  async ensure(): Promise<void> {
    try {
      // CREATE SCHEMA must be alone in its batch, and EXEC() takes no function calls: build it first.
      await this.db.execute(`IF SCHEMA_ID(@p1) IS NULL
BEGIN
  DECLARE @ddl nvarchar(400) = N'CREATE SCHEMA ' + QUOTENAME(@p1);
  EXEC sys.sp_executesql @ddl;
END`, [this.fieldsyncSchema]);
      await this.db.execute(`IF OBJECT_ID(@p1, N'U') IS NULL
CREATE TABLE ${this.table} (
  source_name nvarchar(128) NOT NULL,
  table_name nvarchar(256) NOT NULL,
  offset_json nvarchar(max) NOT NULL,
  updated_at datetime2(3) NOT NULL CONSTRAINT ${mssqlDialect.quote(`DF_${CDC_OFFSETS_TABLE}_updated_at`)} DEFAULT SYSUTCDATETIME(),
  CONSTRAINT ${mssqlDialect.quote(`PK_${CDC_OFFSETS_TABLE}`)} PRIMARY KEY (source_name, table_name)
)`, [`${this.fieldsyncSchema}.${CDC_OFFSETS_TABLE}`]);
    } catch (e) {
      throw wrap(`unable to create the CDC offset table ${this.table}`, e);
    }
  }

  async load(table: string): Promise<CdcOffset | undefined> {
    let rows;
    try {
      rows = await this.db.query(`SELECT offset_json FROM ${this.table} WHERE source_name = @p1 AND table_name = @p2`, [this.source, table]);
    } catch (e) {
      throw wrap(`unable to read the CDC offset of ${table}`, e);
    }
    const text = rows[0]?.offset_json;
    return typeof text === 'string' ? CdcOffsetCodec.parse(text) : undefined;
  }

  async save(offsets: ReadonlyMap<string, CdcOffset>): Promise<void> {
    if (offsets.size === 0) return;
    try {
      await this.db.transaction(async (tx) => {
        for (const [table, o] of offsets) {
          const json = CdcOffsetCodec.serialize(o);
          const n = await tx.execute(`UPDATE ${this.table} SET offset_json = @p3, updated_at = SYSUTCDATETIME() WHERE source_name = @p1 AND table_name = @p2`, [this.source, table, json]);
          if (n === 0) await tx.execute(`INSERT INTO ${this.table} (source_name, table_name, offset_json) VALUES (@p1, @p2, @p3)`, [this.source, table, json]);
        }
      });
    } catch (e) {
      throw wrap('unable to store CDC offsets', e);
    }
  }
}

/** A store in memory (unit tests, dry runs): offsets are kept as their JSON so every save round-trips the codec. */
export class MemoryCdcOffsetStore implements CdcOffsetStore {
  readonly saved = new Map<string, string>();
  async load(table: string): Promise<CdcOffset | undefined> {
    const t = this.saved.get(table);
    return t === undefined ? undefined : CdcOffsetCodec.parse(t);
  }
  async save(offsets: ReadonlyMap<string, CdcOffset>): Promise<void> {
    for (const [k, o] of offsets) this.saved.set(k, CdcOffsetCodec.serialize(o));
  }
}
