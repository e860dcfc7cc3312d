import { describe, expect, it } from 'vitest';
import { avroTypeOf, rowFromAvro, rowToAvro, tableFromValueSchema, valueSchema } from '../../avro/table-avro.js';
import { FakeCdcServer, type FakeColumn } from '../../../test/support/mssql-cdc-fake.js';
import { CaptureInstanceResolver } from './capture-instance.js';
import { CdcRowMapper, parseCdcRow } from './cdc-rows.js';

// Every SQL Server type fieldsync maps, as cdc.captured_columns + INFORMATION_SCHEMA describe them.
const COLUMNS: FakeColumn[] = [
  { column_name: 'id', column_ordinal: 1, data_type: 'bigint', is_nullable: 'NO' },
  { column_name: 'tiny', column_ordinal: 2, data_type: 'tinyint' },
  { column_name: 'small', column_ordinal: 3, data_type: 'smallint' },
  { column_name: 'num', column_ordinal: 4, data_type: 'numeric', num_prec: 38, num_scale: 10 },
  { column_name: 'cash', column_ordinal: 5, data_type: 'smallmoney', num_prec: 10, num_scale: 4 },
  { column_name: 'r', column_ordinal: 6, data_type: 'real', num_prec: 24 },
  { column_name: 'f', column_ordinal: 7, data_type: 'float', num_prec: 53 },
  { column_name: 'flag', column_ordinal: 8, data_type: 'bit' },
  { column_name: 'guid', column_ordinal: 9, data_type: 'uniqueidentifier' },
  { column_name: 'name', column_ordinal: 10, data_type: 'nchar', char_len: 10 },
  { column_name: 'body', column_ordinal: 11, data_type: 'varchar', char_len: -1 },
  { column_name: 'old_text', column_ordinal: 12, data_type: 'text', char_len: 2147483647 },
  { column_name: 'pic', column_ordinal: 13, data_type: 'image', char_len: 2147483647 },
  { column_name: 'bin', column_ordinal: 14, data_type: 'binary', char_len: 4 },
  { column_name: 'd', column_ordinal: 15, data_type: 'date', dt_prec: 0 },
  { column_name: 't', column_ordinal: 16, data_type: 'time', dt_prec: 7 },
  { column_name: 'dt', column_ordinal: 17, data_type: 'datetime', dt_prec: 3 },
  { column_name: 'sdt', column_ordinal: 18, data_type: 'smalldatetime', dt_prec: 0 },
  { column_name: 'dto', column_ordinal: 19, data_type: 'datetimeoffset', dt_prec: 7 },
  { column_name: 'dt2', column_ordinal: 20, data_type: 'datetime2', dt_prec: 7 },
];

function withTicks(d: Date, ticks: number): Date {
  Object.defineProperty(d, 'nanosecondsDelta', { enumerable: false, value: ticks / 1e7 });
  return d;
}

describe('SQL Server CDC events through Avro', () => {
  it('maps every SQL Server type to a schema whose encoding round-trips the captured values', async () => {
    const server = new FakeCdcServer();
    server.addInstance('dbo_all', 1, COLUMNS, ['id']);
    server.commit(2, new Date('2025-03-01T12:00:00Z'), [{
      instance: 'dbo_all', seq: 1, op: 2,
      values: {
        id: '-9223372036854775808', tiny: 255, small: -32768, num: '-1234567890123456789012345678.0123456789', cash: '-214748.3648',
        r: 1.5, f: 1e308, flag: false, guid: '6F9619FF-8B86-D011-B42D-00C04FC964FF', name: 'Ünïcødé   ', body: 'x'.repeat(10_000),
        old_text: 'legacy', pic: Buffer.from([0xff, 0xd8]), bin: Buffer.from([0, 1, 2, 3]),
        d: new Date('0001-01-01T00:00:00Z'), t: withTicks(new Date(Date.UTC(1970, 0, 1, 23, 59, 59, 999)), 9999),
        dt: new Date(Date.UTC(1753, 0, 1, 0, 0, 0, 3)), sdt: new Date(Date.UTC(2079, 5, 6, 23, 59)),
        dto: withTicks(new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), 9999),
        // .NET's DateTime.MinValue, common as a sentinel in SQL Server schemas.
        dt2: new Date('0001-01-01T00:00:00Z'),
      },
    }]);
    const meta = await new CaptureInstanceResolver(server, 'dbo', 'all', undefined).describe('dbo_all');
    const rows = await server.changes({ instance: 'dbo_all', columns: meta.columns.map((c) => ({ name: c.spec.name, type: c.spec.type })), from: server.instance('dbo_all').startLsn!, to: server.maxLsn, resumeAt: null, limit: 10 });
    const [e] = new CdcRowMapper(meta, 'billing').map(rows.map(parseCdcRow), 0);
    const after = e!.event.after!;
    expect(after).toMatchObject({
      id: -9223372036854775808n, tiny: 255, small: -32768, num: '-1234567890123456789012345678.0123456789', cash: '-214748.3648',
      flag: false, guid: '6f9619ff-8b86-d011-b42d-00c04fc964ff', name: 'Ünïcødé   ', d: '0001-01-01', t: '23:59:59.999999',
      dt: '1753-01-01 00:00:00.003000', sdt: '2079-06-06 23:59:00.000000', dto: '9999-12-31 23:59:59.999999', dt2: '0001-01-01 00:00:00.000000',
    });

    const schema = valueSchema('t.billing.dbo.all', meta.table);
    const type = avroTypeOf(schema);
    const decoded = type.fromBuffer(type.toBuffer({ op: 'INSERT', origin: 'billing', commitTimeMicros: e!.event.commitTimeMicros, position: e!.event.position, changed: e!.event.changed, after: rowToAvro(after, meta.table.columns) })) as { after: Record<string, unknown> };
    const table = tableFromValueSchema(schema);
    expect(rowFromAvro(decoded.after, table.columns)).toEqual(after);
    // The LOB flags travel with the schema, so consumers know which columns CDC may omit.
    expect(table.columns.filter((c) => c.lob).map((c) => c.name)).toEqual(['body', 'old_text', 'pic']);
  });
});
