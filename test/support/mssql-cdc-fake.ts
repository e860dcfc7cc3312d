/**
 * A canned SQL Server for unit tests of the CDC poller: implements CdcQueries with
 * result rows shaped exactly as the `mssql` driver returns them — binary(10) LSNs and
 * seqvals as 10-byte Buffers, __$operation as a number, __$update_mask as a Buffer,
 * datetime/datetime2 as Dates whose UTC fields are the server's wall clock (useUTC),
 * tran_end_time in server-local time, decimals as the text the source's CONVERT yields.
 *
 * It enforces SQL Server's rules that matter to the poller: a change query whose `from`
 * is below the instance's min LSN, or above `to`, fails with the misleading error 313
 * SQL Server gives; the cleanup job moves an instance's start_lsn (= its min LSN).
 * LSN increment/decrement are +1/-1 on the 80-bit number, which is what the server's
 * functions do within a VLF.
 */
import type { DbRow } from '../../lib/dialect/dialect.js';
import type { ChangesRequest, CdcQueries, SnapshotRequest } from '../../lib/dialect/mssql/cdc-queries.js';
import { compareLsn, type Lsn } from '../../lib/dialect/mssql/lsn.js';
import { valuesEqual } from '../../lib/canonical.js';
import type { Value } from '../../lib/types.js';

export function lsn(n: number | bigint): Lsn {
  const b = Buffer.alloc(10);
  let v = BigInt(n);
  for (let i = 9; i >= 0; i--) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

export function lsnNumber(l: Lsn): bigint {
  return BigInt(`0x${l.toString('hex')}`);
}

export interface FakeColumn {
  column_name: string;
  column_ordinal: number;
  data_type: string;
  char_len?: number | null;
  num_prec?: number | null;
  num_scale?: number | null;
  dt_prec?: number | null;
  is_nullable?: string;
}

export interface FakeInstance {
  name: string;
  startLsn: Lsn | null;
  createDate: Date;
  columns: FakeColumn[];
  index: string[];
  rows: DbRow[];
}

export interface FakeChange {
  instance: string;
  seq: number;
  op: 1 | 2 | 3 | 4;
  /** Ordinals whose mask bit is set (updates; inserts/deletes set all). */
  maskOrdinals?: number[];
  values: Record<string, unknown>;
}

function mask(ordinals: number[], width: number): Buffer {
  const m = Buffer.alloc(width);
  for (const o of ordinals) {
    const bit = o - 1;
    const i = width - 1 - Math.floor(bit / 8);
    m[i] = m[i]! | (1 << (bit % 8));
  }
  return m;
}

export class FakeCdcServer implements CdcQueries {
  instances: FakeInstance[] = [];
  maxLsn: Lsn = lsn(0);
  /** DATEPART(TZOFFSET, SYSDATETIMEOFFSET()): minutes east of UTC. */
  utcOffsetMinutes = 0;
  nowUtc = new Date(Date.UTC(2025, 0, 1, 0, 0, 0));
  /** tran_end_time per commit LSN (hex), server-local wall clock in a useUTC Date. */
  readonly lsnTimes = new Map<string, Date>();
  /** Current rows of the source table (for snapshots), driver-shaped. */
  tableRows: DbRow[] = [];
  readonly calls: string[] = [];

  addInstance(name: string, startLsn: number | null, columns: FakeColumn[], index: string[], createDate = new Date()): FakeInstance {
    const inst: FakeInstance = { name, startLsn: startLsn === null ? null : lsn(startLsn), createDate, columns, index, rows: [] };
    this.instances.push(inst);
    return inst;
  }

  /** Commit one transaction at LSN n with local commit time `local` (a wall clock, given as UTC fields). */
  commit(n: number, local: Date, changes: FakeChange[]): void {
    const l = lsn(n);
    this.lsnTimes.set(l.toString('hex'), local);
    for (const c of changes) {
      const inst = this.instance(c.instance);
      const width = Math.ceil(Math.max(...inst.columns.map((x) => x.column_ordinal)) / 8);
      const ords = c.op === 3 || c.op === 4 ? (c.maskOrdinals ?? []) : inst.columns.map((x) => x.column_ordinal);
      const row: DbRow = { __$start_lsn: l, __$seqval: lsn(n * 1000 + c.seq), __$operation: c.op, __$update_mask: mask(ords, width) };
      for (const col of inst.columns) row[col.column_name] = c.values[col.column_name] ?? null;
      inst.rows.push(row);
    }
    if (compareLsn(l, this.maxLsn) > 0) this.maxLsn = l;
  }

  /** The cleanup job: drop change rows below `n` and move the instance's low endpoint. */
  cleanup(instance: string, n: number): void {
    const inst = this.instance(instance);
    inst.rows = inst.rows.filter((r) => compareLsn(r.__$start_lsn as Lsn, lsn(n)) >= 0);
    inst.startLsn = lsn(n);
  }

  instance(name: string): FakeInstance {
    const i = this.instances.find((x) => x.name === name);
    if (!i) throw new Error(`no capture instance ${name}`);
    return i;
  }

  async listInstances(): Promise<DbRow[]> {
    this.calls.push('listInstances');
    return this.instances.map((i) => ({ capture_instance: i.name, start_lsn: i.startLsn, create_date: i.createDate }));
  }

  async capturedColumns(instance: string): Promise<DbRow[]> {
    this.calls.push(`capturedColumns ${instance}`);
    return this.instances.find((x) => x.name === instance)?.columns.map((c) => ({ char_len: null, num_prec: null, num_scale: null, dt_prec: null, is_nullable: 'YES', ...c })) ?? [];
  }

  async indexColumns(instance: string): Promise<DbRow[]> {
    return this.instance(instance).index.map((column_name) => ({ column_name }));
  }

  async lsnWindow(instance: string, saved: Lsn | null, switchAt: Lsn | null): Promise<DbRow[]> {
    this.calls.push(`lsnWindow ${instance}`);
    const inst = this.instances.find((x) => x.name === instance);
    return [{
      min_lsn: inst?.startLsn ?? lsn(0),
      max_lsn: this.maxLsn,
      next_lsn: saved ? lsn(lsnNumber(saved) + 1n) : null,
      switch_prev_lsn: switchAt ? lsn(lsnNumber(switchAt) - 1n) : null,
      utc_offset_minutes: this.utcOffsetMinutes,
      now_utc: this.nowUtc,
    }];
  }

  async changes(req: ChangesRequest): Promise<DbRow[]> {
    const inst = this.instance(req.instance);
    this.calls.push(`changes ${req.instance} ${lsnNumber(req.from)}..${lsnNumber(req.to)}`);
    if (!inst.startLsn || compareLsn(req.from, inst.startLsn) < 0 || compareLsn(req.from, req.to) > 0 || compareLsn(req.to, this.maxLsn) > 0) {
      // What SQL Server says for an out-of-range window (error 313).
      throw Object.assign(new Error(`An insufficient number of arguments were supplied for the procedure or function cdc.fn_cdc_get_all_changes_${req.instance}.`), { number: 313 });
    }
    const inWindow = inst.rows.filter((r) => {
      const l = r.__$start_lsn as Lsn;
      if (compareLsn(l, req.from) < 0 || compareLsn(l, req.to) > 0) return false;
      if (!req.resumeAt) return true;
      const c = compareLsn(l, req.resumeAt.lsn);
      if (c !== 0) return c > 0;
      if (req.resumeAt.seqval === null) return true;
      const cs = compareLsn(r.__$seqval as Lsn, req.resumeAt.seqval);
      return cs > 0 || (cs === 0 && req.resumeAt.inclusive);
    });
    inWindow.sort((a, b) => compareLsn(a.__$start_lsn as Lsn, b.__$start_lsn as Lsn) || compareLsn(a.__$seqval as Lsn, b.__$seqval as Lsn) || (a.__$operation as number) - (b.__$operation as number));
    return inWindow.slice(0, req.limit).map((r) => {
      const out: DbRow = { __$start_lsn: r.__$start_lsn, __$seqval: r.__$seqval, __$operation: r.__$operation, __$update_mask: r.__$update_mask, __$tran_end_time: this.lsnTimes.get((r.__$start_lsn as Lsn).toString('hex')) ?? null };
      for (const c of req.columns) out[c.name] = r[c.name];
      return out;
    });
  }

  async windowEnd(from: Lsn, to: Lsn, transactions: number): Promise<DbRow[]> {
    this.calls.push(`windowEnd ${lsnNumber(from)}..${lsnNumber(to)} ${transactions}`);
    const commits = [...this.lsnTimes.keys()].map((h) => Buffer.from(h, 'hex'))
      .filter((l) => compareLsn(l, from) >= 0 && compareLsn(l, to) <= 0).sort(compareLsn).slice(0, transactions);
    return [{ window_end: commits.length ? commits[commits.length - 1]! : null, transactions: commits.length }];
  }

  async lagTimes(acked: Lsn): Promise<DbRow[]> {
    const commits = [...this.lsnTimes.keys()].map((h) => Buffer.from(h, 'hex')).sort(compareLsn);
    const at = commits.filter((l) => compareLsn(l, acked) <= 0).pop();
    const newest = commits[commits.length - 1];
    return [{ acked_time: at ? this.lsnTimes.get(at.toString('hex'))! : null, max_time: newest ? this.lsnTimes.get(newest.toString('hex'))! : null }];
  }

  async snapshotStart(instance: string): Promise<DbRow[]> {
    this.calls.push(`snapshotStart ${instance}`);
    return [{ max_lsn: this.maxLsn, min_lsn: this.instance(instance).startLsn ?? lsn(0), now_utc: this.nowUtc }];
  }

  async snapshotChunk(req: SnapshotRequest): Promise<DbRow[]> {
    this.calls.push(`snapshotChunk ${req.afterKey ? req.afterKey.map(String).join(',') : '-'}`);
    const keyOf = (r: DbRow): Value[] => req.key.map((k) => r[k.name] as Value);
    const cmp = (a: Value[], b: readonly Value[]): number => {
      for (let i = 0; i < a.length; i++) {
        if (valuesEqual(a[i]!, b[i]!)) continue;
        return (a[i] as number | string | bigint) < (b[i] as number | string | bigint) ? -1 : 1;
      }
      return 0;
    };
    const rows = [...this.tableRows].sort((a, b) => cmp(keyOf(a), keyOf(b)));
    const after = req.afterKey;
    return rows.filter((r) => !after || cmp(keyOf(r), after) > 0).slice(0, req.limit).map((r) => Object.fromEntries(req.columns.map((c) => [c.name, r[c.name]])));
  }
}
