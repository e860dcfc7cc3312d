import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { CaptureConfig } from '../../config/schema.js';
import { FieldsyncError } from '../../errors.js';
import type { ChangeEvent } from '../../event/change-event.js';
import { capturePositionGap } from '../../observability/metrics.js';
import { FakeCdcServer, type FakeChange, type FakeColumn, lsn, lsnNumber } from '../../../test/support/mssql-cdc-fake.js';
import { CdcOffsetCodec, type StreamOffset } from './cdc-offset.js';
import { MemoryCdcOffsetStore } from './cdc-offset-store.js';
import { SqlServerCdcSource } from './cdc-source.js';

// dbo.clients as SQL Server's catalog describes it: 10 captured columns → a 2-byte update mask.
const COLUMNS: FakeColumn[] = [
  { column_name: 'id', column_ordinal: 1, data_type: 'int', is_nullable: 'NO' },
  { column_name: 'email', column_ordinal: 2, data_type: 'nvarchar', char_len: 200 },
  { column_name: 'balance', column_ordinal: 3, data_type: 'decimal', num_prec: 12, num_scale: 2 },
  { column_name: 'notes', column_ordinal: 4, data_type: 'nvarchar', char_len: -1 },
  { column_name: 'legacy', column_ordinal: 5, data_type: 'ntext', char_len: 1073741823 },
  { column_name: 'seen', column_ordinal: 6, data_type: 'datetime2', dt_prec: 7 },
  { column_name: 'active', column_ordinal: 7, data_type: 'bit' },
  { column_name: 'code', column_ordinal: 8, data_type: 'uniqueidentifier' },
  { column_name: 'big', column_ordinal: 9, data_type: 'bigint' },
  { column_name: 'amount', column_ordinal: 10, data_type: 'money', num_prec: 19, num_scale: 4 },
];

function seen(iso: string, ticksBelowMs = 0): Date {
  const d = new Date(iso);
  Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: ticksBelowMs / 1e7 });
  return d;
}

/** A client row as the driver returns it (decimals/money as the CONVERT text the source selects). */
function client(id: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, email: `c${id}@example.com`, balance: '10.50', notes: `notes ${id}`, legacy: `legacy ${id}`,
    seen: seen('2025-01-02T03:04:05.123Z', 4567), active: true, code: 'A1B2C3D4-0000-4000-8000-00000000000F', big: '9007199254740993', amount: '922337203685477.5807',
    ...over,
  };
}

function setup(capture: Partial<CaptureConfig> = {}, tables: Record<string, unknown>[] = [{ name: 'dbo.clients', snapshot: false }]) {
  const config = parseConfig({
    kafka: { brokers: ['127.0.0.1:1'] },
    registry: { url: 'http://127.0.0.1:1/apis/ccompat/v7' },
    databases: { billing: { dialect: 'mssql', url: 'mssql://sa:pw@127.0.0.1:1/billing', origin: 'billing' } },
    capture: [{ source: 'billing', mode: 'cdc', tables, ...capture }],
  }, 'test-config');
  const server = new FakeCdcServer();
  const store = new MemoryCdcOffsetStore();
  const make = () => new SqlServerCdcSource(config, config.capture[0]!, { queries: server, store });
  return { server, store, make };
}

/** Runs of the property test; CDC_PROPERTY_RUNS=2000 for a long run. */
const PROPERTY_RUNS = Number(process.env.CDC_PROPERTY_RUNS ?? 60);

async function drain(src: SqlServerCdcSource, maxPolls = 20): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  for (let i = 0; i < maxPolls; i++) {
    const b = await src.readBatch();
    if (b.changes.length === 0) return out;
    out.push(...b.changes.map((c) => c.event));
    await b.ack();
  }
  throw new Error('source did not drain');
}

const storedStream = (store: MemoryCdcOffsetStore, key = 'dbo.clients'): StreamOffset => {
  const o = CdcOffsetCodec.parse(store.saved.get(key)!);
  if (o.phase !== 'stream') throw new Error('expected a stream offset');
  return o;
};

describe('SqlServerCdcSource on SQL-Server-shaped rows', () => {
  it('maps operations 1–4, before/after pairs, a 2-byte update mask, LOB columns and local commit times', async () => {
    const { server, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.utcOffsetMinutes = 120; // the server runs at UTC+2: tran_end_time is 2 h ahead of UTC
    server.commit(10, new Date('2025-03-01T12:00:00.123Z'), [
      { instance: 'dbo_clients', seq: 1, op: 2, values: client(1) },
      { instance: 'dbo_clients', seq: 2, op: 2, values: client(2) },
    ]);
    // Update of 1: email and amount (ordinal 10, in the mask's FIRST byte) changed; balance
    // is in the SET clause with the same value; notes ((max)) and legacy (ntext) come back NULL.
    server.commit(11, new Date('2025-03-01T12:00:01Z'), [
      { instance: 'dbo_clients', seq: 1, op: 3, maskOrdinals: [2, 3, 10], values: client(1, { notes: null, legacy: null }) },
      { instance: 'dbo_clients', seq: 1, op: 4, maskOrdinals: [2, 3, 10], values: client(1, { email: 'new@example.com', amount: '1.2500', notes: null, legacy: null }) },
    ]);
    // Update of 2: the (max) column changed (old and new value present); the ntext column is
    // in the mask but NULL in both rows, as CDC always reports it.
    server.commit(12, new Date('2025-03-01T12:00:02Z'), [
      { instance: 'dbo_clients', seq: 1, op: 3, maskOrdinals: [4, 5], values: client(2, { notes: 'old notes', legacy: null }) },
      { instance: 'dbo_clients', seq: 1, op: 4, maskOrdinals: [4, 5], values: client(2, { notes: 'new notes', legacy: null }) },
    ]);
    // A (max) column set to NULL: the before row has the old value.
    server.commit(13, new Date('2025-03-01T12:00:03Z'), [
      { instance: 'dbo_clients', seq: 1, op: 3, maskOrdinals: [4], values: client(2, { notes: 'new notes', legacy: null }) },
      { instance: 'dbo_clients', seq: 1, op: 4, maskOrdinals: [4], values: client(2, { notes: null, legacy: null }) },
    ]);
    server.commit(14, new Date('2025-03-01T12:00:04Z'), [{ instance: 'dbo_clients', seq: 1, op: 1, values: client(2, { legacy: null }) }]);

    const src = make();
    await src.connect();
    const events = await drain(src);
    expect(events.map((e) => e.op)).toEqual(['insert', 'insert', 'update', 'update', 'update', 'delete']);

    const [ins1, , upd1, upd2, upd3, del2] = events as [ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent, ChangeEvent];
    expect(ins1.origin).toBe('billing');
    expect(ins1.commitTimeMicros).toBe(BigInt(Date.UTC(2025, 2, 1, 10, 0, 0, 123)) * 1000n);
    expect(ins1.position).toBe(`cdc:${lsn(10).toString('hex')}:${lsn(10_001).toString('hex')}:0`);
    expect(ins1.key).toEqual({ id: 1 });
    expect(ins1.after).toEqual({
      id: 1, email: 'c1@example.com', balance: '10.50', notes: 'notes 1', legacy: 'legacy 1',
      seen: '2025-01-02 03:04:05.123456', active: true, code: 'a1b2c3d4-0000-4000-8000-00000000000f',
      big: 9007199254740993n, amount: '922337203685477.5807',
    });
    expect(ins1.changed).toHaveLength(10);

    expect(upd1.changed).toEqual(['email', 'amount']);
    expect(upd1.after).not.toHaveProperty('notes');
    expect(upd1.after).not.toHaveProperty('legacy');
    expect(upd1.after?.email).toBe('new@example.com');
    expect(upd1.after?.amount).toBe('1.2500');

    expect(upd2.changed).toEqual(['notes']);
    expect(upd2.after?.notes).toBe('new notes');
    expect(upd2.after).not.toHaveProperty('legacy');

    expect(upd3.changed).toEqual(['notes']);
    expect(upd3.after?.notes).toBeNull();

    expect(del2.key).toEqual({ id: 2 });
    expect(del2.after).toBeNull();
    expect(del2.changed).toEqual([]);
  });

  it('uses the table schema of the capture instance, LOB columns flagged', async () => {
    const { server, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    const b = await src.readBatch();
    const t = b.changes[0]!.table;
    expect(t).toMatchObject({ schema: 'dbo', name: 'clients', key: ['id'] });
    expect(t.columns.filter((c) => c.lob).map((c) => c.name)).toEqual(['notes', 'legacy']);
    expect(t.columns.find((c) => c.name === 'amount')?.type).toEqual({ kind: 'decimal', precision: 19, scale: 4 });
    expect(t.columns.find((c) => c.name === 'id')?.nullable).toBe(false);
  });

  it('stores the `to` LSN of an empty window and sends no change query when from > to', async () => {
    const { server, store, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    expect(await drain(src)).toHaveLength(1);
    // Other tables' activity moves the global max LSN; this table stays idle.
    server.maxLsn = lsn(50);
    const idle = await src.readBatch();
    expect(idle.changes).toEqual([]);
    expect(storedStream(store)).toMatchObject({ complete: true, instance: 'dbo_clients' });
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(50n);
    // Nothing new: from = 51 > to = 50, so no change query is sent at all.
    server.calls.length = 0;
    expect((await src.readBatch()).changes).toEqual([]);
    expect(server.calls.filter((c) => c.startsWith('changes'))).toEqual([]);
  });

  it('resumes a transaction split across polls exactly after the last acknowledged event, also after a restart', async () => {
    const { server, store, make } = setup({ batchSize: 3 });
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(20, new Date('2025-03-01T12:00:00Z'), [
      ...[1, 2, 3, 4, 5].map((i) => ({ instance: 'dbo_clients', seq: i, op: 2 as const, values: client(i) })),
      { instance: 'dbo_clients', seq: 6, op: 3, maskOrdinals: [2], values: client(1) },
      { instance: 'dbo_clients', seq: 6, op: 4, maskOrdinals: [2], values: client(1, { email: 'x@example.com' }) },
    ]);
    server.commit(21, new Date('2025-03-01T12:00:01Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(9) }]);

    const first = make();
    await first.connect();
    const b1 = await first.readBatch();
    expect(b1.changes.map((c) => c.event.key.id)).toEqual([1, 2, 3]);
    await b1.ack();
    expect(storedStream(store)).toMatchObject({ complete: false, serial: 0 });
    expect(lsnNumber(storedStream(store).seqval!)).toBe(20_003n);
    await first.close();

    // A new process resumes inside transaction 20.
    const second = make();
    await second.connect();
    const rest = await drain(second);
    expect(rest.map((e) => `${e.op}:${String(e.key.id)}`)).toEqual(['insert:4', 'insert:5', 'update:1', 'insert:9']);
    const all = [...b1.changes.map((c) => c.event), ...rest];
    expect(new Set(all.map((e) => e.position)).size).toBe(all.length); // no duplicate
    expect(storedStream(store)).toMatchObject({ complete: true });
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(21n);
  });

  it('re-reads an unacknowledged batch and ignores a stale ack', async () => {
    const { server, store, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    const lost = await src.readBatch(); // publishing failed: never acknowledged
    const again = await src.readBatch();
    expect(again.changes.map((c) => c.event.position)).toEqual(lost.changes.map((c) => c.event.position));
    await lost.ack(); // stale
    expect(store.saved.size).toBe(0);
    await again.ack();
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(10n);
  });

  it('switches to a second capture instance at its start LSN without gap or duplicate', async () => {
    const { server, store, make } = setup();
    const two = COLUMNS.slice(0, 2);
    server.addInstance('dbo_clients', 5, two, ['id'], new Date('2025-01-01T00:00:00Z'));
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: { id: 1, email: 'a@x' } }]);
    server.commit(24, new Date('2025-03-01T12:00:01Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: { id: 2, email: 'b@x' } }]);
    // ALTER TABLE ADD phone, then a second instance capturing it, starting at LSN 25. The old
    // instance keeps capturing: changes from 25 on are in both.
    const three = [...two, { column_name: 'phone', column_ordinal: 3, data_type: 'varchar', char_len: 30 }];
    server.addInstance('dbo_clients_v2', 25, three, ['id'], new Date('2025-03-01T12:00:01Z'));
    for (const [n, inst] of [[25, 'dbo_clients'], [25, 'dbo_clients_v2'], [30, 'dbo_clients'], [30, 'dbo_clients_v2']] as const) {
      server.commit(n, new Date('2025-03-01T12:00:02Z'), [{ instance: inst, seq: 1, op: 2, values: { id: n, email: `${n}@x`, phone: inst === 'dbo_clients_v2' ? '555' : undefined } }]);
    }
    const src = make();
    await src.connect();
    const changes = [];
    for (let i = 0; i < 10; i++) {
      const b = await src.readBatch();
      if (!b.changes.length) break;
      changes.push(...b.changes);
      await b.ack();
    }
    expect(changes.map((c) => c.event.key.id)).toEqual([1, 2, 25, 30]);
    expect(changes.map((c) => c.table.columns.length)).toEqual([2, 2, 3, 3]);
    expect(changes[2]!.event.after).toMatchObject({ phone: '555' });
    expect(storedStream(store).instance).toBe('dbo_clients_v2');
    // The old instance was never read past the switch: its last window ended at 24.
    expect(server.calls.filter((c) => c.startsWith('changes dbo_clients '))).toEqual(['changes dbo_clients 5..24']);
  });

  it('cleanup gap with onCdcGap = stop: a non-retriable error naming the table, the metric, and no change query', async () => {
    const { server, store, make } = setup({ onCdcGap: 'stop' });
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    await drain(src);
    await src.close();
    server.commit(30, new Date('2025-03-01T12:00:01Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(2) }]);
    server.commit(45, new Date('2025-03-01T12:00:02Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(3) }]);
    server.cleanup('dbo_clients', 40); // change 30 is gone before it was published
    const before = (await capturePositionGap.get()).values.find((v) => v.labels.table === 'dbo.clients')?.value ?? 0;
    const restarted = make();
    await restarted.connect();
    server.calls.length = 0;
    const err = await restarted.readBatch().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FieldsyncError);
    expect((err as FieldsyncError).retriable).toBe(false);
    expect((err as Error).message).toMatch(/dbo\.clients/);
    expect((err as Error).message).toMatch(/cleanup/);
    expect(server.calls.some((c) => c.startsWith('changes'))).toBe(false);
    const after = (await capturePositionGap.get()).values.find((v) => v.labels.table === 'dbo.clients')?.value ?? 0;
    expect(after).toBe(before + 1);
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(10n); // the position did not move
  });

  it('cleanup gap with onCdcGap = resnapshot: snapshot events, then the stream after the max LSN at snapshot start', async () => {
    const { server, store, make } = setup({ onCdcGap: 'resnapshot', snapshotChunkSize: 2 });
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    await drain(src);
    server.commit(30, new Date('2025-03-01T12:00:01Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(2) }]);
    server.commit(45, new Date('2025-03-01T12:00:02Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(3) }]);
    server.cleanup('dbo_clients', 40);
    server.tableRows = [client(1), client(2), client(3)];
    server.nowUtc = new Date('2025-03-01T12:00:05Z');
    const snap = await drain(src);
    expect(snap.map((e) => `${e.op}:${String(e.key.id)}`)).toEqual(['snapshot:1', 'snapshot:2', 'snapshot:3']);
    expect(new Set(snap.map((e) => e.commitTimeMicros))).toEqual(new Set([BigInt(Date.parse('2025-03-01T12:00:05Z')) * 1000n]));
    expect(snap[0]!.changed).toHaveLength(10);
    expect(storedStream(store)).toMatchObject({ complete: true });
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(45n);
    server.commit(46, new Date('2025-03-01T12:00:06Z'), [{ instance: 'dbo_clients', seq: 1, op: 1, values: client(3) }]);
    expect((await drain(src)).map((e) => `${e.op}:${String(e.key.id)}`)).toEqual(['delete:3']);
  });

  it('snapshots a new table in chunks, then streams from the max LSN taken at its start', async () => {
    const { server, make } = setup({ snapshotChunkSize: 2 }, [{ name: 'dbo.clients' }]);
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(7, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    server.tableRows = [client(1), client(2), client(3)];
    const src = make();
    await src.connect();
    const first = await src.readBatch();
    expect(first.changes.map((c) => c.event.position)).toEqual([expect.stringMatching(/^snapshot:\w+:0:0$/), expect.stringMatching(/^snapshot:\w+:0:1$/)]);
    await first.ack();
    server.commit(8, new Date('2025-03-01T12:00:01Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(4) }]);
    const rest = await drain(src);
    // Change 7 is older than the snapshot's max LSN: the snapshot already holds it.
    expect(rest.map((e) => `${e.op}:${String(e.key.id)}`)).toEqual(['snapshot:3', 'insert:4']);
  });

  it('converts server-local commit times with the offset read in each poll (DST change between polls)', async () => {
    const { server, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.utcOffsetMinutes = 60; // CET
    server.commit(10, new Date('2025-03-30T01:59:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    const src = make();
    await src.connect();
    const [winter] = await drain(src);
    server.utcOffsetMinutes = 120; // CEST from 2025-03-30 01:00 UTC
    server.commit(11, new Date('2025-03-30T03:01:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(2) }]);
    const [summer] = await drain(src);
    expect(winter!.commitTimeMicros).toBe(BigInt(Date.UTC(2025, 2, 30, 0, 59)) * 1000n);
    expect(summer!.commitTimeMicros).toBe(BigInt(Date.UTC(2025, 2, 30, 1, 1)) * 1000n);
  });

  it('emits a key update as delete of the old key and insert of the new row', async () => {
    const { server, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [
      { instance: 'dbo_clients', seq: 1, op: 3, maskOrdinals: [1], values: client(1, { notes: null, legacy: null }) },
      { instance: 'dbo_clients', seq: 1, op: 4, maskOrdinals: [1], values: client(7, { notes: null, legacy: null }) },
    ]);
    const src = make();
    await src.connect();
    const ev = await drain(src);
    expect(ev.map((e) => `${e.op}:${String(e.key.id)}:${e.position.slice(-1)}`)).toEqual(['delete:1:0', 'insert:7:1']);
  });

  it('loads positions stored in older formats and resumes from them', async () => {
    const { server, store, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    for (const n of [10, 11, 12]) server.commit(n, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(n) }]);
    // A bare LSN (format 0): everything through LSN 11 was published.
    store.saved.set('dbo.clients', `0x${lsn(11).toString('hex').toUpperCase()}`);
    const src = make();
    await src.connect();
    expect((await drain(src)).map((e) => e.key.id)).toEqual([12]);
    expect(JSON.parse(store.saved.get('dbo.clients')!)).toMatchObject({ v: 2, phase: 'stream', instance: 'dbo_clients', complete: true });
  });

  it('rejects a configured capture instance that does not exist, naming the ones that do', async () => {
    const { server, make } = setup({}, [{ name: 'dbo.clients', captureInstance: 'nope', snapshot: false }]);
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    const src = make();
    await src.connect();
    await expect(src.readBatch()).rejects.toThrow(/capture instance nope .*dbo_clients/);
  });

  it('refuses a table without a capture instance with the command to enable CDC', async () => {
    const { make } = setup();
    const src = make();
    await src.connect();
    await expect(src.readBatch()).rejects.toThrow(/sp_cdc_enable_table/);
  });

  it('reads a backlog a bounded number of transactions at a time, in order, without loss', async () => {
    const { server, store, make } = setup({ batchSize: 4 });
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    for (let n = 10; n < 30; n++) server.commit(n, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(n) }]);
    const src = make();
    await src.connect();
    const b = await src.readBatch();
    // The window was capped at the 4th transaction (LSN 13), not the max LSN 29.
    expect(server.calls).toContain('changes dbo_clients 5..13');
    expect(b.changes.map((c) => c.event.key.id)).toEqual([10, 11, 12, 13]);
    await b.ack();
    expect(lsnNumber(storedStream(store).commitLsn!)).toBe(13n);
    const rest = await drain(src);
    expect(rest.map((e) => e.key.id)).toEqual(Array.from({ length: 16 }, (_, i) => 14 + i));
  });

  it('reports the lag between the newest transaction and the acknowledged position', async () => {
    const { server, make } = setup({ batchSize: 1 });
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(1) }]);
    server.commit(11, new Date('2025-03-01T12:00:30Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: client(2) }]);
    const src = make();
    await src.connect();
    expect(await src.lagSeconds()).toBeUndefined(); // nothing acknowledged yet
    await (await src.readBatch()).ack();
    expect(await src.lagSeconds()).toBe(30);
    await drain(src);
    expect(await src.lagSeconds()).toBe(0);
  });

  it('does not report a column set to its own value (an ORM writing every column), LOB or not', async () => {
    const { server, make } = setup();
    server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
    const all = COLUMNS.map((c) => c.column_ordinal);
    server.commit(10, new Date('2025-03-01T12:00:00Z'), [
      { instance: 'dbo_clients', seq: 1, op: 3, maskOrdinals: all, values: client(1, { legacy: null }) },
      { instance: 'dbo_clients', seq: 1, op: 4, maskOrdinals: all, values: client(1, { legacy: null, active: false }) },
    ]);
    const src = make();
    await src.connect();
    const [ev] = await drain(src);
    expect(ev!.changed).toEqual(['active']);
    expect(ev!.after).not.toHaveProperty('notes');
    expect(ev!.after).not.toHaveProperty('legacy');
    expect(ev!.after).toMatchObject({ id: 1, email: 'c1@example.com', active: false });
  });

  it('property: any batch size, any transactions and crashes before ack publish every change exactly once in order once acknowledged', async () => {
    const change = fc.constantFrom<'insert' | 'update' | 'delete' | 'keyUpdate'>('insert', 'update', 'delete', 'keyUpdate');
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(change, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
      async (txs, batchSize, crashes) => {
        const { server, make } = setup({ batchSize });
        server.addInstance('dbo_clients', 5, COLUMNS, ['id']);
        let id = 0;
        txs.forEach((kinds, t) => {
          server.commit(10 + t, new Date('2025-03-01T12:00:00Z'), kinds.flatMap((k, seq): FakeChange[] => {
            id++;
            if (k === 'insert') return [{ instance: 'dbo_clients', seq, op: 2 as const, values: client(id) }];
            if (k === 'delete') return [{ instance: 'dbo_clients', seq, op: 1 as const, values: client(id) }];
            if (k === 'keyUpdate') {
              // One row group that becomes two events (delete of the old key, insert of the new).
              return [
                { instance: 'dbo_clients', seq, op: 3 as const, maskOrdinals: [1], values: client(id) },
                { instance: 'dbo_clients', seq, op: 4 as const, maskOrdinals: [1], values: client(id + 100_000) },
              ];
            }
            return [
              { instance: 'dbo_clients', seq, op: 3 as const, maskOrdinals: [2], values: client(id) },
              { instance: 'dbo_clients', seq, op: 4 as const, maskOrdinals: [2], values: client(id, { email: 'u@x' }) },
            ];
          }));
        });
        const expected = txs.flat().reduce((n, k) => n + (k === 'keyUpdate' ? 2 : 1), 0);
        const acked: string[] = [];
        let src = make();
        await src.connect();
        for (let step = 0; step < 400; step++) {
          const b = await src.readBatch();
          if (b.changes.length === 0) break;
          // A row group is never split: one more event only when a key update makes two.
          expect(b.changes.length).toBeLessThanOrEqual(batchSize + 1);
          if (crashes[step % crashes.length]) {
            // Crash before Kafka acknowledged: a new process starts from the stored position.
            await src.close();
            src = make();
            await src.connect();
            continue;
          }
          acked.push(...b.changes.map((c) => c.event.position));
          await b.ack();
        }
        // No crash loop can prevent progress here, as every batch is acked on a non-crash step.
        if (crashes.every(Boolean)) return;
        expect(acked).toHaveLength(expected);
        expect(new Set(acked).size).toBe(expected);
        expect([...acked].sort()).toEqual(acked); // positions are in commit order
      },
    ), { numRuns: PROPERTY_RUNS });
  }, 30_000 + PROPERTY_RUNS * 100);

  it('property: a second capture instance at any LSN, any batch size and crashes: every change once, from the right instance', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 15 }),
      fc.integer({ min: 0, max: 16 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
      async (txCount, switchAfter, batchSize, crashes) => {
        const { server, make } = setup({ batchSize });
        const two = COLUMNS.slice(0, 2);
        const three = [...two, { column_name: 'phone', column_ordinal: 3, data_type: 'varchar', char_len: 30 }];
        server.addInstance('dbo_clients', 5, two, ['id'], new Date('2025-01-01T00:00:00Z'));
        const start = 10 + Math.min(switchAfter, txCount);
        server.addInstance('dbo_clients_v2', start, three, ['id'], new Date('2025-02-01T00:00:00Z'));
        for (let t = 0; t < txCount; t++) {
          const n = 10 + t;
          server.commit(n, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients', seq: 1, op: 2, values: { id: n, email: 'a' } }]);
          if (n >= start) server.commit(n, new Date('2025-03-01T12:00:00Z'), [{ instance: 'dbo_clients_v2', seq: 1, op: 2, values: { id: n, email: 'a', phone: 'p' } }]);
        }
        const got: { id: number; cols: number }[] = [];
        let src = make();
        await src.connect();
        for (let step = 0, idle = 0; step < 200 && idle < 3; step++) {
          const b = await src.readBatch();
          idle = b.changes.length === 0 ? idle + 1 : 0;
          if (crashes[step % crashes.length]) { await src.close(); src = make(); await src.connect(); continue; }
          got.push(...b.changes.map((c) => ({ id: c.event.key.id as number, cols: c.table.columns.length })));
          await b.ack();
        }
        if (crashes.every(Boolean)) return;
        expect(got.map((g) => g.id)).toEqual(Array.from({ length: txCount }, (_, i) => 10 + i));
        for (const g of got) expect(g.cols).toBe(g.id >= start ? 3 : 2);
      },
    ), { numRuns: PROPERTY_RUNS });
  }, 30_000 + PROPERTY_RUNS * 100);
});
