/**
 * Offset bookkeeping of the applier: where each partition continues.
 *
 * The target is the source of truth: its offsets table (Sink.storedOffsets) holds, per
 * consumer identity, topic and partition, the next offset to apply, written in the same
 * transaction as the merged rows. The consumer group's own commit is only advisory.
 *
 * Whenever a partition is (re)assigned, the pipeline forgets what it knew about it and
 * reloads the stored offset; then for every fetched batch `decideBatch` says whether the
 * fetch position agrees with the target:
 *
 *   - the batch starts past the target's position (the group's advisory commit ran ahead
 *     of the target, the fetch position survived a pause, or the batch was fetched before
 *     an earlier seek took effect) → seek back to the target's position and drop it;
 *   - the batch starts before it (duplicates after a crash between the target commit and
 *     the advisory commit) → drop the messages already applied, apply the rest;
 *   - after MAX_SEEKS seeks to the same position the batch still starts past it → the
 *     pipeline checks the low watermark: events deleted by retention stop it with an
 *     error instead of being skipped silently; otherwise there are no records in between.
 */

export type StartFrom = { kind: 'earliest' } | { kind: 'timestamp'; timestampMs: number };

export type BatchDecision =
  /** Apply messages[fromIndex..]: the earlier ones are already in the target. */
  | { action: 'apply'; fromIndex: number }
  /** Every message of the batch is already in the target. */
  | { action: 'skip' }
  /** The fetch position is past the target's: seek back to `offset`, drop the batch. */
  | { action: 'seek'; offset: bigint }
  /** Already sought and still past: events between `expected` and the batch are missing. */
  | { action: 'gap'; expected: bigint; firstOffset: bigint };

export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Seeks to one position before a batch that still starts past it counts as a gap. */
export const MAX_SEEKS = 3;

/**
 * Compare a fetched batch (offsets in order) with the next offset the target expects.
 * `seeks` is how often this partition was already sent back to `expected`.
 */
export function decideBatch(expected: bigint, offsets: readonly bigint[], seeks: number): BatchDecision {
  const first = offsets[0];
  if (first === undefined) return { action: 'skip' };
  if (first > expected) return seeks >= MAX_SEEKS ? { action: 'gap', expected, firstOffset: first } : { action: 'seek', offset: expected };
  // the rule "never store an offset below the target's": messages before `expected` were applied
  const fromIndex = offsets.findIndex((o) => o >= expected);
  return fromIndex < 0 ? { action: 'skip' } : { action: 'apply', fromIndex };
}

/**
 * The offsets to store with a flush: for each partition, one past the greatest offset
 * flushed. Offsets only move forward: a smaller value than `known` is never returned.
 */
export function nextOffsets(
  items: Iterable<{ topic: string; partition: number; offset: bigint }>,
  known?: ReadonlyMap<string, bigint>,
): Map<string, { topic: string; partition: number; nextOffset: bigint }> {
  const out = new Map<string, { topic: string; partition: number; nextOffset: bigint }>();
  for (const it of items) {
    const k = tpKey(it.topic, it.partition);
    const next = it.offset + 1n;
    const cur = out.get(k);
    if (!cur || next > cur.nextOffset) out.set(k, { topic: it.topic, partition: it.partition, nextOffset: next });
  }
  if (known) {
    for (const [k, v] of out) {
      const prev = known.get(k);
      if (prev !== undefined && prev > v.nextOffset) v.nextOffset = prev;
    }
  }
  return out;
}
