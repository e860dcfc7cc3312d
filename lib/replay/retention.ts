/**
 * Replay's retention check: a rebuild must start from an offset that Kafka still has.
 *
 * Topics keep events for `kafka.retentionMs` (default -1: forever, see docs/replay.md).
 * With a finite retention the oldest events are deleted and the partition's low
 * watermark moves up. A replay that needs an offset below the low watermark would
 * silently miss those events and build a target that looks complete but is not, so it is
 * refused before anything is applied:
 *
 *   - the target has an offset stored for the replay's consumer identity: it continues
 *     there, which must be ≥ the low watermark;
 *   - otherwise `--from earliest` needs offset 0: the low watermark must be 0;
 *   - otherwise `--from <time>` needs the first offset at or after that time: when that is
 *     the low watermark itself (and the low watermark is > 0), the deleted events may have
 *     been at or after the time too — refused. (Kafka timestamps are the producers'
 *     create times, which capture sets in commit order per partition.)
 */
export type ReplayStart = { kind: 'earliest' } | { kind: 'timestamp'; timestampMs: number };

export interface PartitionStart {
  topic: string;
  partition: number;
  low: bigint;
  high: bigint;
  /** Next offset stored in the target for the replay's consumer identity. */
  stored?: bigint | undefined;
  /** For a timestamp start: the first offset at or after it (-1 or ≥ high: none). */
  atTime?: bigint | undefined;
}

export interface StartDecision {
  /** Where the partition starts. */
  offset: bigint;
  /** Why the replay must be refused, when it must. */
  problem?: string;
}

export function decideStart(p: PartitionStart, start: ReplayStart): StartDecision {
  const where = `${p.topic}[${p.partition}]`;
  if (p.stored !== undefined) {
    if (p.stored < p.low) {
      return { offset: p.stored, problem: `${where}: the target continues at offset ${p.stored}, but the topic now starts at ${p.low} (events deleted by retention)` };
    }
    return { offset: p.stored };
  }
  if (start.kind === 'earliest') {
    if (p.low > 0n) return { offset: p.low, problem: `${where}: a replay from the beginning needs offset 0, but the topic now starts at ${p.low} (events deleted by retention)` };
    return { offset: 0n };
  }
  const at = p.atTime;
  if (at === undefined || at < 0n || at >= p.high) return { offset: p.high };
  if (at === p.low && p.low > 0n) {
    return { offset: at, problem: `${where}: the oldest retained event (offset ${p.low}) is newer than --from ${new Date(start.timestampMs).toISOString()}; older events of that period were deleted by retention` };
  }
  return { offset: at };
}
