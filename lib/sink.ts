/**
 * A sink (as in Sequin): one module per target dialect behind this interface. A sink
 * applies a batch of decoded change events and stores the consumed offsets in the same
 * target transaction, which gives an exactly-once effect on the target.
 */
import type { ChangeEvent } from './event/change-event.js';
import type { TableSchema } from './types.js';

export interface TopicOffset {
  topic: string;
  partition: number;
  /** The next offset to consume (last applied + 1). */
  nextOffset: string;
}

export interface SinkTableBatch {
  /** Target table (with the columns the events carry). */
  table: TableSchema;
  events: ChangeEvent[];
}

export interface MergeOutcome {
  /** Fields written because the incoming stamp was newer. */
  fieldsTaken: number;
  /** Fields not written because the target held a newer stamp. */
  fieldsKept: number;
  rowsDeleted: number;
}

export interface PrepareTableOptions {
  /** Add columns that the source has and the target lacks (nullable). */
  autoEvolve: boolean;
  /** Create the target table from the source schema when it does not exist. */
  createTable: boolean;
}

export interface Sink {
  readonly target: string;
  connect(): Promise<void>;
  /**
   * Make sure fieldsync's own tables (offsets) exist. Idempotent.
   */
  install(): Promise<void>;
  /**
   * Make sure the target table `into`, its clock and tomb tables (clock-layout.ts) and its
   * local-edit stamping triggers exist and have every column of `source`. Returns the
   * target table's schema as the merge must see it. A column missing in the target with
   * autoEvolve off throws a FieldsyncError naming the table and the column.
   */
  prepareTable(source: TableSchema, into: { schema: string; name: string }, opts: PrepareTableOptions): Promise<TableSchema>;
  /** Offsets stored for this consumer identity, to seek to on start and on assignment. */
  storedOffsets(consumer: string): Promise<TopicOffset[]>;
  /** Merge the batches and store the offsets, in one transaction. */
  apply(consumer: string, batches: SinkTableBatch[], offsets: TopicOffset[]): Promise<MergeOutcome>;
  close(): Promise<void>;
}
