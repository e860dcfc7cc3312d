/**
 * THE SEQUENCE TRAP, and how the outbox reader avoids it.
 *
 * The outbox sequence (PostgreSQL sequence, MySQL AUTO_INCREMENT) is assigned when the
 * trigger inserts the outbox row, not when its transaction commits. A reader that simply
 * publishes "seq > checkpoint" and advances the checkpoint can see seq 11 (committed)
 * while seq 10 belongs to a transaction still open; it advances to 11 and seq 10, committed
 * a moment later, is silently lost. The reader therefore only reads up to a *safe* sequence:
 * one below which every sequence value is final (committed and visible, or rolled back and
 * never to appear).
 *
 * PostgreSQL — a visibility barrier on the outbox's writers:
 *   1. read the sequence's last_value                                  → seqHi
 *   2. then list the transactions holding RowExclusiveLock on the outbox → holders
 *   3. seqHi becomes safe once none of the holders is running any more.
 * Proof: a transaction that drew a value ≤ seqHi did so inside its INSERT into the outbox,
 * and PostgreSQL takes the INSERT's RowExclusiveLock on the outbox before evaluating the
 * column default (nextval); the lock is held until the transaction ends. So at step 2 every
 * transaction that holds a value ≤ seqHi and has not finished holds that lock and is listed
 * (virtual transaction ids are unique while running and never reused by a later one). Once
 * they have all ended, every value ≤ seqHi is committed or rolled back, and a statement that
 * starts afterwards sees all the committed ones. The sequence has CACHE 1 (the default;
 * a per-session cache would hand out values below last_value later). Only this outbox's
 * writers hold the barrier back — not unrelated long transactions elsewhere on the
 * server, as a pg_snapshot_xmin() horizon would. The reader's own DELETE of published rows
 * also takes RowExclusiveLock but draws no sequence value: its session is left out
 * (notAWriter), so reads never wait for the cleanup.
 *
 * MySQL / MariaDB — gaps:
 *   AUTO_INCREMENT values are drawn in increasing order, so a missing value below a visible
 *   one is either in flight (its transaction will commit or roll back) or permanently gone
 *   (rolled back, or skipped by InnoDB's allocation). The reader publishes the contiguous
 *   prefix and stops at the first gap. When it sees a gap it records the InnoDB
 *   transactions running at that moment (information_schema.innodb_trx; the holder of the
 *   missing value, if still open, is among them because it drew the value before the
 *   visible row was read). Once none of them runs any more, a later read that still lacks
 *   the value proves the gap permanent and the reader passes it. If innodb_trx cannot be
 *   read (no PROCESS privilege) a gap is passed only after it has stayed a gap for
 *   outboxGapGraceMs; either way a gap older than the grace period is passed (a
 *   transaction open longer than that would be lost, so keep the grace well above the
 *   longest write transaction).
 */
import type { Db } from '../dialect/dialect.js';

/** PostgreSQL: the highest outbox sequence whose every value is final (see above). */
export class PgVisibilityBarrier {
  private safe = 0n;
  private pending: { seqHi: bigint; holders: string[] } | undefined;

  /** `outboxRegclass` is the quoted outbox table name; `sequence` the quoted sequence name. */
  constructor(private readonly db: Db, private readonly outboxTable: string, private readonly sequence: string) {}

  /** Sessions whose lock is not a writer's: the reader's own deletion of published rows. */
  private readonly notWriters = new Set<number>();

  /**
   * While `pid` runs the reader's DELETE of published rows, its RowExclusiveLock on the
   * outbox is not taken for a writer's: a DELETE draws no sequence value, so it can hold
   * none back, and the reads need not wait for it. Call the returned function once its
   * transaction has ended.
   */
  notAWriter(pid: number): () => void {
    this.notWriters.add(pid);
    return () => this.notWriters.delete(pid);
  }

  private async holders(): Promise<string[]> {
    const rows = await this.db.query(
      `SELECT DISTINCT virtualtransaction AS vx FROM pg_locks
        WHERE locktype = 'relation' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND relation = $1::regclass AND mode = 'RowExclusiveLock' AND pid IS DISTINCT FROM pg_backend_pid()
          AND (pid IS NULL OR pid <> ALL($2::int[]))`, [this.outboxTable, [...this.notWriters]]);
    return rows.map((r) => String(r.vx));
  }

  private async stillRunning(holders: string[]): Promise<boolean> {
    if (holders.length === 0) return false;
    const rows = await this.db.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND relation = $1::regclass AND virtualtransaction = ANY($2::text[]) LIMIT 1`,
      [this.outboxTable, holders]);
    return rows.length > 0;
  }

  /**
   * Advance the barrier as far as it can go now and return the safe sequence. A sequence
   * once safe stays safe, so when the last known safe sequence already covers `wanted`
   * (a reader working through a backlog) no query is needed.
   */
  async safeSeq(wanted?: bigint): Promise<bigint> {
    if (wanted !== undefined && this.safe >= wanted) return this.safe;
    if (this.pending && !(await this.stillRunning(this.pending.holders))) {
      this.safe = this.pending.seqHi;
      this.pending = undefined;
    }
    if (!this.pending) {
      // Order matters: the sequence is read BEFORE the lock holders are listed.
      const [s] = await this.db.query(`SELECT last_value::text AS v, is_called FROM ${this.sequence}`);
      const seqHi = s ? BigInt(String(s.v)) - (s.is_called ? 0n : 1n) : 0n;
      const holders = await this.holders();
      if (holders.length === 0 || !(await this.stillRunning(holders))) this.safe = seqHi > this.safe ? seqHi : this.safe;
      else this.pending = { seqHi, holders };
    }
    return this.safe;
  }
}

export interface GapRecord {
  /** First and last missing sequence value of the gap. */
  lo: bigint;
  hi: bigint;
  /** When the gap was first seen (ms). */
  sinceMs: number;
  /** InnoDB transactions running when the gap was seen; undefined when innodb_trx is unreadable. */
  holders: string[] | undefined;
  /** Every holder has ended: a read after this point that still lacks the gap proves it permanent. */
  holdersEnded: boolean;
}

/**
 * MySQL: decides how far the reader may go in a batch of visible sequence values (pure
 * logic, no I/O: the source feeds it reads and innodb_trx results).
 */
export class GapTracker {
  private gaps: GapRecord[] = [];

  constructor(private readonly graceMs: number, private readonly step = 1n) {}

  /** Gaps waiting for their holders to end (their holder lists, for the innodb_trx query). */
  openGaps(): GapRecord[] {
    return this.gaps.filter((g) => !g.holdersEnded && g.holders !== undefined);
  }

  /** Mark gaps whose holders are no longer running (call BEFORE the next read). */
  holdersGone(running: Set<string>): void {
    for (const g of this.gaps) {
      if (!g.holdersEnded && g.holders && !g.holders.some((h) => running.has(h))) g.holdersEnded = true;
    }
  }

  /**
   * Given the checkpoint and the sequence values of a read (ascending), return how many
   * of them may be published now. New gaps are returned for the caller to attach holders.
   */
  accept(checkpoint: bigint, seqs: bigint[], nowMs: number): { count: number; newGaps: GapRecord[] } {
    this.gaps = this.gaps.filter((g) => g.hi > checkpoint);
    const newGaps: GapRecord[] = [];
    let expected = checkpoint + this.step;
    let count = 0;
    for (const s of seqs) {
      if (s > expected) {
        const lo = expected;
        const hi = s - this.step;
        let rec = this.gaps.find((g) => g.lo <= lo && g.hi >= hi);
        if (!rec) {
          // a gap seen for the first time (or a part of a known one that a commit split)
          const known = this.gaps.find((g) => g.lo <= hi && g.hi >= lo);
          rec = { lo, hi, sinceMs: known?.sinceMs ?? nowMs, holders: known?.holders, holdersEnded: known?.holdersEnded ?? false };
          if (!known) newGaps.push(rec);
          this.gaps.push(rec);
        }
        const passable = rec.holdersEnded || nowMs - rec.sinceMs >= this.graceMs;
        if (!passable) break;
      }
      count++;
      expected = s + this.step;
    }
    return { count, newGaps };
  }
}
