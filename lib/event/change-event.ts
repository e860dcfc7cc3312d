/**
 * The change event: the contract between capture and applier (see DESIGN.md).
 *
 * One event per changed row, published to the table's topic with the key columns as the
 * message key, so all changes of one row stay in order on one partition.
 */
import type { Row, TableSchema } from '../types.js';

export type ChangeOp = 'insert' | 'update' | 'delete' | 'snapshot';

export interface ChangeEvent {
  op: ChangeOp;
  /** Id of the database where the change was first made (echo prevention, tie-break). */
  origin: string;
  /** Commit time at the origin, UTC, microseconds since the Unix epoch. */
  commitTimeMicros: bigint;
  /**
   * Source position, opaque to the applier but totally ordered within one source:
   * "outbox:<sequence>" or "cdc:<commit LSN hex>:<seqval hex>:<index>" or
   * "snapshot:<run>:<chunk>:<index>".
   */
  position: string;
  /** Key column values (always present, also for deletes). */
  key: Row;
  /** The full row after the change; null for a delete. */
  after: Row | null;
  /**
   * Columns this change actually changed. For insert and snapshot: every column. For
   * update: only the columns whose value changed (only these compete in the merge).
   * For delete: empty.
   */
  changed: string[];
}

/** A change event together with the table it belongs to (inside capture). */
export interface TableChange {
  table: TableSchema;
  /** Logical source name from the config (e.g. "billing"). */
  source: string;
  event: ChangeEvent;
}
