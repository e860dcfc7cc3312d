/**
 * Collects the messages that kafkajs hands to concurrent `eachBatch` calls (one call per
 * topic-partition) into one batch for one target transaction, and flushes it when
 *
 *   - it holds at least `maxItems` items (count), or
 *   - `maxWaitMs` passed since its first item arrived (time), or
 *   - every active `eachBatch` call is waiting on it (nothing more can come before the
 *     next fetch, so waiting longer would only add latency).
 *
 * `submit` resolves once the flush that contained the items committed (or rejects with
 * its error), so an `eachBatch` call returns only after its messages are in the target:
 * kafkajs then fetches more, which bounds memory to about one batch per partition.
 * One flush runs at a time; items submitted meanwhile go into the next one.
 */

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface BatcherOptions<T> {
  maxItems: number;
  maxWaitMs: number;
  flush: (items: T[]) => Promise<void>;
}

export class Batcher<T> {
  private pending: T[] = [];
  private waiters: Waiter[] = [];
  private active = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BatcherOptions<T>) {}

  /** An eachBatch call starts; call the returned function when it ends. */
  enter(): () => void {
    this.active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.active--;
      this.maybeFlush();
    };
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  submit(items: T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push(...items);
      this.waiters.push({ resolve, reject });
      if (!this.timer) this.timer = setTimeout(() => { this.timer = undefined; this.maybeFlush(true); }, this.opts.maxWaitMs);
      this.maybeFlush();
    });
  }

  private maybeFlush(timeUp = false): void {
    if (this.flushing || this.pending.length === 0) return;
    const full = this.pending.length >= this.opts.maxItems;
    const everyoneWaiting = this.waiters.length >= this.active;
    if (!(full || everyoneWaiting || timeUp)) return;
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const items = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.flushing = this.opts.flush(items).then(
      () => { for (const w of waiters) w.resolve(); },
      (e: unknown) => { for (const w of waiters) w.reject(e); },
    ).finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0 && !this.timer) {
        this.timer = setTimeout(() => { this.timer = undefined; this.maybeFlush(true); }, this.opts.maxWaitMs);
      }
      this.maybeFlush();
    });
  }

  /** Resolves when no flush is running (shutdown waits for the one in flight). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Reject everything not yet flushed (shutdown); a flush in flight finishes. */
  abort(reason: unknown): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    for (const w of waiters) w.reject(reason);
  }
}
