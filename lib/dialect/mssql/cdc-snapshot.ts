/**
 * Re-reads a captured table as op = snapshot events, for a newly configured table and
 * for a cleanup gap with onCdcGap = resnapshot.
 *
 * Start: one statement reads the global max LSN L, the instance's min LSN and the
 * server's UTC time T. Chunks are then read in key order by keyset pagination (no long
 * transaction, resumable after a crash from the last acknowledged key); every snapshot
 * event is stamped with commit time T. When the last chunk is read the stream goes on
 * after L.
 *
 * Why no change is lost or wrongly overwritten without a consistent snapshot: a change
 * committed after the chunk that holds its row was read has an LSN > L (CDC's max LSN
 * only grows, and L was taken before the read) and a commit time > T, so the stream
 * emits it later and it wins in the merge. A change the chunk already reflects is
 * emitted again by the stream (LSN > L) or was committed before T; either way the
 * value is the same, so its re-emission is a harmless duplicate. If L lies before the
 * instance's first LSN (nothing captured yet), the stream starts at that first LSN,
 * inclusive.
 */
import type { TableChange } from '../../event/change-event.js';
import type { Row } from '../../types.js';
import type { InstanceMeta } from './capture-instance.js';
import type { CdcQueries } from './cdc-queries.js';
import type { CdcOffset, SnapshotOffset } from './cdc-offset.js';
import { mssqlDialect } from './dialect.js';
import { asLsn, compareLsn, isZeroLsn } from './lsn.js';
import { driverDateMicros } from './lsn-window.js';
import { FieldsyncError, DataError } from '../../errors.js';

export class CdcSnapshotReader {
  constructor(
    private readonly queries: CdcQueries,
    private readonly source: string,
    private readonly origin: string,
    private readonly chunkSize: number,
  ) {}

  async start(instance: string, reason: SnapshotOffset['reason']): Promise<SnapshotOffset> {
    const r = (await this.queries.snapshotStart(instance))[0];
    if (!r) throw new FieldsyncError(`unable to start a snapshot of capture instance ${instance}: no row returned`, { retriable: true });
    const stamp = driverDateMicros(r.now_utc, 'SYSUTCDATETIME()');
    return {
      phase: 'snapshot', instance, reason,
      snapshotLsn: asLsn(r.max_lsn, 'sys.fn_cdc_get_max_lsn()'),
      minLsnAtStart: asLsn(r.min_lsn, `sys.fn_cdc_get_min_lsn(${instance})`),
      stampMicros: stamp,
      run: (stamp / 1000n).toString(36),
      chunk: 0,
      lastKey: null,
    };
  }

  /** Read the next chunk (at most `limit` rows); the offset after it is the snapshot's or, when done, the stream's. */
  async readChunk(meta: InstanceMeta, off: SnapshotOffset, limit: number): Promise<{ changes: TableChange[]; offset: CdcOffset }> {
    const size = Math.max(1, Math.min(limit, this.chunkSize));
    const cols = meta.columns.map((c) => ({ name: c.spec.name, type: c.spec.type }));
    const key = meta.table.key.map((k) => cols.find((c) => c.name === k)!);
    const rows = await this.queries.snapshotChunk({ schema: meta.table.schema, table: meta.table.name, columns: cols, key, afterKey: off.lastKey, limit: size });
    const changes: TableChange[] = rows.map((r, i) => {
      const after: Row = {};
      for (const c of meta.columns) {
        try {
          after[c.spec.name] = mssqlDialect.fromDb(r[c.spec.name], c.spec.type);
        } catch (e) {
          throw new DataError(`unable to read column "${c.spec.name}" of ${meta.table.schema}.${meta.table.name}: ${e instanceof Error ? e.message : String(e)}`, e);
        }
      }
      return {
        table: meta.table,
        source: this.source,
        event: {
          op: 'snapshot', origin: this.origin, commitTimeMicros: off.stampMicros,
          position: `snapshot:${off.run}:${off.chunk}:${i}`,
          key: Object.fromEntries(meta.table.key.map((k) => [k, after[k] ?? null])),
          after, changed: Object.keys(after),
        },
      };
    });
    if (rows.length < size) {
      // Done: the stream continues after the max LSN taken at the start (see module comment).
      const beforeInstance = isZeroLsn(off.snapshotLsn) || compareLsn(off.snapshotLsn, off.minLsnAtStart) < 0;
      return {
        changes,
        offset: beforeInstance
          ? { phase: 'stream', instance: off.instance, commitLsn: off.minLsnAtStart, seqval: null, serial: 0, complete: false }
          : { phase: 'stream', instance: off.instance, commitLsn: off.snapshotLsn, seqval: null, serial: 0, complete: true },
      };
    }
    const last = changes[changes.length - 1]!.event.key;
    return { changes, offset: { ...off, chunk: off.chunk + 1, lastKey: meta.table.key.map((k) => last[k] ?? null) } };
  }
}
