import fc from 'fast-check';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copyTextToLoadData, loadDataSql, mysqlLoadField, mysqlLoadText } from '../dialect/mysql/bulk-load.js';
import { pgCopyField, pgCopyText } from '../dialect/postgres/bulk-load.js';
import { backupNumbers, stageGeneration, windowLog } from './names.js';

async function through(chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(copyTextToLoadData())) out.push(c as Buffer);
  return Buffer.concat(out).toString('utf8');
}

/** Decode LOAD DATA's escapes (ESCAPED BY '\\') the way the server does. */
function loadDataUnescape(s: string): string {
  return s.replace(/\\(.)/gs, (_m, c: string) => ({ '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' } as Record<string, string>)[c] ?? c);
}

describe('bulk load formats', () => {
  it('renders canonical values as COPY text fields', () => {
    expect(pgCopyField(null, { kind: 'string' })).toBe('\\N');
    expect(pgCopyField('a\tb\nc\\d\re', { kind: 'string' })).toBe('a\\tb\\nc\\\\d\\re');
    expect(pgCopyField(Buffer.from([0, 255]), { kind: 'bytes' })).toBe('\\\\x00ff');
    expect(pgCopyField(true, { kind: 'bool' })).toBe('t');
    expect(pgCopyField(9007199254740993n, { kind: 'int', bits: 64 })).toBe('9007199254740993');
    expect(pgCopyField('2024-01-01 00:00:00.000001', { kind: 'timestamp', precision: 6, tz: true })).toBe('2024-01-01 00:00:00.000001+00');
    expect(pgCopyField(Number.NaN, { kind: 'float', bits: 64 })).toBe('NaN');
    expect(pgCopyText([[1, 'x'], [2, null]], [{ name: 'a', type: { kind: 'int', bits: 32 } }, { name: 'b', type: { kind: 'string' } }])).toBe('1\tx\n2\t\\N\n');
  });

  it('renders canonical values as LOAD DATA fields, bytes as hex for UNHEX()', () => {
    expect(mysqlLoadField(null, { kind: 'string' })).toBe('\\N');
    expect(mysqlLoadField('a\0b', { kind: 'string' })).toBe('a\\0b');
    expect(mysqlLoadField(Buffer.from([0x5c, 0x0a]), { kind: 'bytes' })).toBe('5c0a');
    expect(mysqlLoadField(false, { kind: 'bool' })).toBe('0');
    expect(() => mysqlLoadField(Number.POSITIVE_INFINITY, { kind: 'float', bits: 64 })).toThrow(/cannot be stored/);
    const sql = loadDataSql({ schema: '', name: 'we`ird' }, [{ name: 'id', type: { kind: 'int', bits: 64 } }, { name: 'b', type: { kind: 'bytes' } }]);
    expect(sql).toContain('INTO TABLE `we``ird`');
    expect(sql).toContain('(`id`, @fs_b1) SET `b` = UNHEX(@fs_b1)');
  });

  it('any string survives LOAD DATA escaping', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'é', 'N', '0', '\\', '\t', '\n', '\r', '\0', '\u001a', '\b', '🙂'), maxLength: 40 }), (s) => {
      const field = mysqlLoadField(s, { kind: 'string' });
      expect(field).not.toMatch(/[\t\n]/);
      expect(loadDataUnescape(field)).toBe(s);
    }), { numRuns: 300 });
  });

  it('rewrites COPY text \\f and \\v for LOAD DATA, whatever the chunk boundaries', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom('a', '\\\\', '\\f', '\\v', '\\t', '\\n', 'é', '\t', '\n', '\\N'), { maxLength: 40 }), fc.array(fc.nat(200), { maxLength: 6 }), async (parts, cuts) => {
      const text = parts.join('');
      const bytes = Buffer.from(text, 'utf8');
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, bytes.length]) { chunks.push(bytes.subarray(prev, p)); prev = p; }
      const out = await through(chunks.filter((c) => c.length > 0));
      // LOAD DATA reading the rewritten text sees what COPY meant
      const copyMeaning = text.replace(/\\(.)/gs, (_m, c: string) => ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', N: '\u0000N' } as Record<string, string>)[c] ?? c);
      const loadMeaning = out.replace(/\\(.)/gs, (_m, c: string) => ({ b: '\b', n: '\n', r: '\r', t: '\t', N: '\u0000N', '0': '\0' } as Record<string, string>)[c] ?? c);
      expect(loadMeaning).toBe(copyMeaning);
    }));
  });

  it('names companion tables and finds backup generations', () => {
    expect(stageGeneration({ schema: 's', name: 'clients' }).clock).toEqual({ schema: 's', name: 'clients__fs_stgc' });
    expect(windowLog({ schema: '', name: 'c' }).name).toBe('c__fs_wlog');
    expect(backupNumbers({ schema: '', name: 'c' }, ['c__fs_b2', 'c__fs_b10', 'c__fs_b2c', 'c__fs_b0', 'c__fs_bx', 'cc__fs_b3', 'c__fs_b1'])).toEqual([1, 2, 10]);
    expect(() => stageGeneration({ schema: '', name: 'x'.repeat(60) })).toThrow(/too long/);
  });

  it('renders text for LOAD DATA that splits into the right fields', () => {
    const text = mysqlLoadText([[1, 'a\tb'], [2, null]], [{ name: 'a', type: { kind: 'int', bits: 32 } }, { name: 'b', type: { kind: 'string' } }]);
    expect(text.split('\n').filter(Boolean).map((l) => l.split('\t'))).toEqual([['1', 'a\\tb'], ['2', '\\N']]);
  });
});
