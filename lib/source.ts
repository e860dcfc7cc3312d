/**
 * A change source (as in Redpanda Connect): connect, read a batch, acknowledge it once
 * downstream (Kafka) is durable, close. The source position advances only in `ack`.
 */
import type { TableChange } from './event/change-event.js';

export interface SourceBatch {
  changes: TableChange[];
  /**
   * Store the position after the last change of this batch. Called only after Kafka
   * acknowledged every event of the batch; a crash before it re-reads the batch
   * (duplicates are harmless, losses are not).
   */
  ack(): Promise<void>;
}

export interface ChangeSource {
  /** Logical source name (config `databases.<name>`). */
  readonly name: string;
  /**
   * True when readBatch may be called again while the previous batch is still being
   * published (not yet acknowledged): the source then keeps a read position ahead of its
   * acknowledged one, and the caller acknowledges batches in the order they were read.
   * After a failed publish the caller closes and reconnects the source, which starts again
   * from the acknowledged position. Sources without it are read only after the ack.
   */
  readonly readsAhead?: boolean;
  connect(): Promise<void>;
  /** Next batch, or an empty batch when nothing is new (the caller waits pollIntervalMs). */
  readBatch(signal?: AbortSignal): Promise<SourceBatch>;
  /** Seconds between the newest change in the source and the position acknowledged. */
  lagSeconds?(): Promise<number | undefined>;
  close(): Promise<void>;
}
