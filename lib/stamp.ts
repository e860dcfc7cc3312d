/**
 * The merge clock value ("stamp") of one field write: (commit time, origin) packed into
 * one signed 64-bit integer so that a target compares clocks with a single `>` in
 * set-based SQL and keeps one BIGINT per column.
 *
 *   stamp = (commitTimeMicros - EPOCH_2020_MICROS) * 1024 + originCode(origin)
 *
 * - Time dominates; the origin code breaks ties deterministically and identically in
 *   every target, which is what makes the merge commutative.
 * - 54 bits of microseconds since 2020 last until the year 2090.
 * - originCode is a 10-bit hash of the origin id (FNV-1a). The config check rejects two
 *   configured origins whose codes collide; the same formula is baked into the local-edit
 *   triggers of every dialect, so a target stamps its own users' writes comparably.
 */
export const EPOCH_2020_MICROS = 1_577_836_800_000_000n;
export const ORIGIN_BITS = 10n;
export const ORIGIN_SPACE = 1n << ORIGIN_BITS;

export function originCode(origin: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(origin, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % Number(ORIGIN_SPACE);
}

export function stampOf(commitTimeMicros: bigint, origin: string): bigint {
  return (commitTimeMicros - EPOCH_2020_MICROS) * ORIGIN_SPACE + BigInt(originCode(origin));
}

export function stampTimeMicros(stamp: bigint): bigint {
  return stamp / ORIGIN_SPACE + EPOCH_2020_MICROS;
}

/** Milliseconds since the epoch, for metrics and logs. */
export function stampTimeMs(stamp: bigint): number {
  return Number(stampTimeMicros(stamp) / 1000n);
}

export function microsFromDate(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}

export function nowMicros(): bigint {
  // performance.timeOrigin + now() gives sub-millisecond resolution.
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}
