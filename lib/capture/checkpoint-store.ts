/**
 * The capture checkpoint of an outbox source, kept in the source database itself (its
 * fieldsync system table `capture_checkpoint`), one row per stream:
 *
 *   "outbox"                 the last outbox sequence whose event Kafka acknowledged
 *   "snapshot:<schema.table>" the initial snapshot of a table: {"state":"done"} or the
 *                            progress {"state":"running","run":…,"chunk":…,"lastKey":…}
 *
 * Keeping it next to the outbox means the checkpoint and the outbox rows it refers to
 * live and die together (a restored database restores both). Writes are plain upserts:
 * the caller decides when (only after Kafka acknowledged everything up to the position).
 */
import type { Db } from '../dialect/dialect.js';
import { wrap } from '../errors.js';
import { systemTable } from '../merge/clock-layout.js';
import type { Row, Value } from '../types.js';
import { CHECKPOINT_TABLE } from './outbox-layout.js';
import { mysqlCheckpointTable } from '../dialect/mysql/outbox-ddl.js';

export class CheckpointStore {
  private readonly table: string;

  /** `database` is the MySQL connection database (used to qualify the system table). */
  constructor(private readonly db: Db, fieldsyncSchema: string, database = '') {
    this.table = db.dialect.name === 'mysql' && database ? mysqlCheckpointTable(database) : systemTable(db.dialect, fieldsyncSchema, CHECKPOINT_TABLE);
  }

  async get(stream: string): Promise<string | undefined> {
    try {
      const p = this.db.dialect.param(1);
      const rows = await this.db.query(`SELECT position FROM ${this.table} WHERE stream = ${p}`, [stream]);
      return rows[0] ? String(rows[0].position) : undefined;
    } catch (e) {
      throw wrap(`unable to read capture checkpoint "${stream}"`, e);
    }
  }

  async set(stream: string, position: string): Promise<void> {
    const sql = this.db.dialect.name === 'mysql'
      ? `INSERT INTO ${this.table} (stream, position, updated_at) VALUES (?, ?, CURRENT_TIMESTAMP(6))
           ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)`
      : `INSERT INTO ${this.table} (stream, position, updated_at) VALUES ($1, $2, now())
           ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position, updated_at = EXCLUDED.updated_at`;
    try {
      await this.db.execute(sql, [stream, position]);
    } catch (e) {
      throw wrap(`unable to store capture checkpoint "${stream}"`, e);
    }
  }

  async delete(stream: string): Promise<void> {
    const p = this.db.dialect.param(1);
    await this.db.execute(`DELETE FROM ${this.table} WHERE stream = ${p}`, [stream]);
  }
}

/** A key row as JSON text for the snapshot progress (bigint and bytes survive the trip). */
export function encodeKey(row: Row): string {
  return JSON.stringify(row, (_k, v: unknown) => {
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') return { $hex: Buffer.from((v as { data: number[] }).data).toString('hex') };
    return v;
  });
}

export function decodeKey(text: string): Row {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && '$bigint' in v) return BigInt((v as { $bigint: string }).$bigint);
    if (v && typeof v === 'object' && '$hex' in v) return Buffer.from((v as { $hex: string }).$hex, 'hex');
    return v as Value;
  }) as Row;
}
