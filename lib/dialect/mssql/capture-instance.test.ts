import { describe, expect, it } from 'vitest';
import { FieldsyncError } from '../../errors.js';
import { FakeCdcServer, type FakeColumn, lsn } from '../../../test/support/mssql-cdc-fake.js';
import { CaptureInstanceResolver, INSTANCE_LIST_TTL_MS } from './capture-instance.js';

const COLS: FakeColumn[] = [
  { column_name: 'id', column_ordinal: 1, data_type: 'int', is_nullable: 'NO' },
  { column_name: 'v', column_ordinal: 2, data_type: 'nvarchar', char_len: -1 },
];

describe('CaptureInstanceResolver', () => {
  it('orders instances by start LSN and picks the one for a position', async () => {
    const s = new FakeCdcServer();
    s.addInstance('dbo_t_v2', 50, COLS, ['id'], new Date('2025-02-01T00:00:00Z'));
    s.addInstance('dbo_t', 10, COLS, ['id'], new Date('2025-01-01T00:00:00Z'));
    const all = await new CaptureInstanceResolver(s, 'dbo', 't', undefined).require();
    expect(all.map((i) => i.name)).toEqual(['dbo_t', 'dbo_t_v2']);
    const at = (p: number | null, named: string | null = null) => CaptureInstanceResolver.forPosition(all, p === null ? null : lsn(p), named).name;
    expect(at(null)).toBe('dbo_t');
    expect(at(20)).toBe('dbo_t');
    expect(at(50)).toBe('dbo_t_v2');
    expect(at(5)).toBe('dbo_t'); // before every instance: the oldest (the gap check decides)
    expect(at(49, 'dbo_t_v2')).toBe('dbo_t_v2'); // a switch remembered in the offset
    expect(CaptureInstanceResolver.successor(all, all[0]!)?.name).toBe('dbo_t_v2');
    expect(CaptureInstanceResolver.successor(all, all[1]!)).toBeUndefined();
  });

  it('reuses a single-instance list for a while, never a two-instance list', async () => {
    const s = new FakeCdcServer();
    s.addInstance('dbo_t', 10, COLS, ['id']);
    const r = new CaptureInstanceResolver(s, 'dbo', 't', undefined);
    await r.require(0);
    s.addInstance('dbo_t_v2', 50, COLS, ['id']);
    expect((await r.require(INSTANCE_LIST_TTL_MS - 1)).length).toBe(1);
    expect((await r.require(INSTANCE_LIST_TTL_MS + 1)).length).toBe(2);
    const reads = s.calls.filter((c) => c === 'listInstances').length;
    await r.require(INSTANCE_LIST_TTL_MS + 2);
    expect(s.calls.filter((c) => c === 'listInstances').length).toBe(reads + 1);
  });

  it('is retriable while the only instance has no start LSN yet, and says how to enable CDC when there is none', async () => {
    const s = new FakeCdcServer();
    const r = new CaptureInstanceResolver(s, 'dbo', 't', undefined);
    const none = await r.require().then(() => undefined, (e: unknown) => e);
    expect(none).toBeInstanceOf(FieldsyncError);
    expect((none as FieldsyncError).retriable).toBe(false);
    expect((none as Error).message).toMatch(/sp_cdc_enable_table/);
    s.addInstance('dbo_t', null, COLS, ['id']);
    const pending = await r.require().then(() => undefined, (e: unknown) => e);
    expect((pending as FieldsyncError).retriable).toBe(true);
    expect((pending as Error).message).toMatch(/dbo_t .*no start LSN yet/);
  });

  it('describes an instance: captured columns, key from the CDC index or config, LOB flags', async () => {
    const s = new FakeCdcServer();
    s.addInstance('dbo_t', 10, COLS, ['id']);
    const meta = await new CaptureInstanceResolver(s, 'dbo', 't', undefined).describe('dbo_t');
    expect(meta.table).toEqual({
      schema: 'dbo', name: 't', key: ['id'],
      columns: [
        { name: 'id', type: { kind: 'int', bits: 32 }, nullable: false },
        { name: 'v', type: { kind: 'string', maxLength: undefined }, nullable: true, lob: true },
      ],
    });
    expect(meta.decoder.decode(Buffer.from([0x02]))).toEqual(['v']);
    const configured = await new CaptureInstanceResolver(s, 'dbo', 't', ['v']).describe('dbo_t');
    expect(configured.table.key).toEqual(['v']);
    await expect(new CaptureInstanceResolver(s, 'dbo', 't', ['nope']).describe('dbo_t')).rejects.toThrow(/key column "nope" is not captured/);
    s.addInstance('dbo_nokey', 10, COLS, []);
    await expect(new CaptureInstanceResolver(s, 'dbo', 'nokey', undefined).describe('dbo_nokey')).rejects.toThrow(/keyColumns/);
  });
});
