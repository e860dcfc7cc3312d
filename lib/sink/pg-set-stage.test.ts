import { describe, expect, it } from 'vitest';
import type { FoldedRow, FoldedTable } from '../merge/fold.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';
import { setStage } from './pg-set-stage.js';
import { setMergeSql, stageColumns } from './postgres-set-sql.js';

const id: ColumnSpec = { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false };
const s: ColumnSpec = { name: 's', type: { kind: 'string', maxLength: 20 }, nullable: true };
const bin: ColumnSpec = { name: 'bin', type: { kind: 'bytes' }, nullable: true };
const ts: ColumnSpec = { name: 'ts', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true };
const table: TableSchema = { schema: 'public', name: 't', key: ['id'], columns: [id, s, bin, ts] };

const row = (key: bigint, ins: bigint | null, del: bigint | null, fields: ({ stamp: bigint; value: Value } | undefined)[]): FoldedRow =>
  ({ id: `n${key}`, key: [key], ins, del, fields, events: 1 });
const folded = (rows: FoldedRow[]): FoldedTable => ({ table, keyCols: [id], fields: [s, bin, ts], rows: new Map(rows.map((r) => [r.id, r])), superseded: 0 });
const target = { target: { schema: 'public', name: 't' }, allFields: [s, bin, ts] };

describe('setStage', () => {
  it('writes array literals that keep quotes, backslashes, braces, commas, the word NULL and bytes', () => {
    const st = setStage(folded([
      row(1n, 10n, null, [{ stamp: 10n, value: 'a"b\\c' }, { stamp: 10n, value: Buffer.from([0, 255]) }, { stamp: 10n, value: '2024-01-01 00:00:00' }]),
      row(2n, 11n, null, [{ stamp: 11n, value: 'NULL' }, { stamp: 11n, value: null }, { stamp: 11n, value: null }]),
      row(3n, 12n, null, [{ stamp: 12n, value: '{x,y}' }, { stamp: 12n, value: Buffer.alloc(0) }, { stamp: 12n, value: null }]),
    ]), target);
    // keys, row stamps, then the values (every stamp equals the row stamp: no stamp arrays)
    expect(st.params).toEqual([
      '{1,2,3}', '{10,11,12}',
      '{"a\\"b\\\\c","NULL","{x,y}"}', '{"\\\\x00ff",NULL,"\\\\x"}', '{"2024-01-01 00:00:00+00",NULL,NULL}',
    ]);
    expect(st.table.ins).toBe('ref');
    expect(st.table.del).toBe('null');
    expect(st.table.stamps).toEqual(['ref', 'ref', 'ref']);
  });

  it('sends a stamp as a flag when it is the row stamp or absent, and as its own array otherwise', () => {
    const st = setStage(folded([
      row(1n, null, null, [{ stamp: 20n, value: 'u' }, undefined, undefined]), // an update of s
      row(2n, 5n, 7n, [{ stamp: 5n, value: 'i' }, undefined, undefined]), // insert, then delete
      row(3n, null, 9n, [undefined, undefined, undefined]), // a delete alone
      row(4n, 30n, null, [{ stamp: 40n, value: 'late' }, undefined, undefined]), // insert, then a newer update of s
    ]), target);
    expect(st.table.active.map((c) => c.name)).toEqual(['s']);
    expect([st.table.ins, st.table.del, ...st.table.stamps]).toEqual(['flag', 'own', 'own']);
    expect(st.params).toEqual(['{1,2,3,4}', '{20,5,9,30}', '{f,t,f,t}', '{NULL,7,9,NULL}', '{20,5,NULL,40}', '{"u","i",NULL,"late"}']);
    expect(stageColumns(st.table).map((c) => `${c.name} ${c.type}`)).toEqual([
      '_fs_k0 bigint', '_fs_r bigint', '_fs_i boolean', '_fs_d bigint', '_fs_s0 bigint', '_fs_v0 varchar',
    ]);
    const sql = setMergeSql(st.table);
    // one array parameter per stage column, read without type modifiers
    expect(sql).toContain('unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bigint[], $5::bigint[], $6::varchar[])');
    expect(sql).not.toContain('$7');
    // the clock rows of the batch's keys are locked, as the row path's readClocksSql does
    expect(sql).toContain('FROM "public"."t__fs_clock" c WHERE c."id" = ANY($1::bigint[]) FOR UPDATE');
  });
});
