import { describe, expect, it } from 'vitest';
import type { ColumnSpec } from '../types.js';
import { LoadText } from './load-text.js';
import { classifySql, keyMatches, loadSetStageSql } from './mysql-bulk-sql.js';
import type { SetMergeTable } from './mysql-bulk-sql.js';

const id: ColumnSpec = { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false };
const region: ColumnSpec = { name: 'region', type: { kind: 'string', maxLength: 10 }, nullable: false };
const email: ColumnSpec = { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true };
const blob: ColumnSpec = { name: 'blob', type: { kind: 'bytes' }, nullable: true };
const table = (key: ColumnSpec[], active: ColumnSpec[] = [email]): SetMergeTable => ({
  target: { schema: '', name: 't' }, key, fields: [email, blob], allFields: [email, blob], active,
});

describe('keyMatches', () => {
  it('matches runs of consecutive integer keys as ranges and the rest as an IN list, sorted or not', () => {
    const keys = [...Array.from({ length: 10 }, (_v, i) => [BigInt(100 + i)]), [5n], [7n], ...Array.from({ length: 8 }, (_v, i) => [BigInt(50 - i)])];
    expect(keyMatches(table([id]), 't', keys, 1000)).toEqual([{
      where: '(t.`id` BETWEEN ? AND ? OR t.`id` BETWEEN ? AND ? OR t.`id` IN (?, ?))',
      params: [43n, 50n, 100n, 109n, 5n, 7n],
    }]);
  });

  it('keeps every statement within the parameter budget', () => {
    const keys = Array.from({ length: 7 }, (_v, i) => [BigInt(i * 2)]);
    const out = keyMatches(table([id]), 'c', keys, 3);
    expect(out.map((m) => m.params)).toEqual([[0n, 2n, 4n], [6n, 8n, 10n], [12n]]);
    expect(out.every((m) => m.where.startsWith('c.`id` IN ('))).toBe(true);
  });

  it('lists composite keys as row tuples', () => {
    const out = keyMatches(table([id, region]), 't', [[1n, 'eu'], [2n, 'us']], 100);
    expect(out).toEqual([{ where: '(t.`id`, t.`region`) IN ((?, ?), (?, ?))', params: [1n, 'eu', 2n, 'us'] }]);
  });
});

describe('LoadText', () => {
  it('writes LOAD DATA fields: escapes, NULL, hex bytes, and the row stamp as an empty field', () => {
    const t = new LoadText(4); // tiny start: the buffer must grow
    t.value('a\tb\\c\nd', { kind: 'string' });
    t.value(null, { kind: 'string' });
    t.value(Buffer.from([0, 255]), { kind: 'bytes' });
    t.value(true, { kind: 'bool' });
    t.stamp(12n);
    t.stampOr(12n, 12n);
    t.stampOr(13n, 12n);
    t.stampOr(null, 12n);
    t.endRow();
    t.value('é🎉', { kind: 'string' });
    t.endRow();
    expect(Buffer.concat(t.chunks()).toString('utf8')).toBe('a\\tb\\\\c\\nd\t\\N\t00ff\t1\t12\t\t13\t\\N\né🎉\n');
    expect(t.rows).toBe(2);
  });
});

describe('set-based merge SQL', () => {
  it('loads bytes through UNHEX and stamps through the row stamp', () => {
    const sql = loadSetStageSql(table([id], [email, blob]));
    expect(sql).toContain('(_fs_k0, @fs_r, @fs_x0, @fs_x1, @fs_x2, @fs_x3, _fs_v0, @fs_v1)');
    expect(sql).toContain("_fs_i = IF(@fs_x0 = '', @fs_r, @fs_x0)");
    expect(sql).toContain('_fs_v1 = UNHEX(@fs_v1)');
  });

  it('classifies without reading a column it assigns', () => {
    const sql = classifySql(table([id], [email, blob]));
    const sets = sql.slice(sql.indexOf(' SET ') + 5);
    for (const assigned of ['_fs_w0', '_fs_w1', '_fs_known', '_fs_c', '_fs_op']) {
      // each assigned column appears once: as the target of its own assignment
      expect(sets.split(`s.${assigned}`).length - 1).toBe(1);
    }
  });

  it('joins the tomb only when the locked keys have tomb rows', () => {
    expect(classifySql(table([id]), true)).toContain('LEFT JOIN `t__fs_tomb` tb');
    expect(classifySql(table([id]), false)).not.toContain('tb');
  });
});
