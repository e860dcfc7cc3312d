import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ColumnSpec } from '../types.js';
import { decodeRowJson, parseRawObject, rawToValue } from './row-json.js';

const col = (name: string, type: ColumnSpec['type']): ColumnSpec => ({ name, type, nullable: true });

describe('parseRawObject', () => {
  it('keeps every member value as its exact source text', () => {
    const text = '{"n":12.3400,"big":9007199254740993,"s":"a\\"b\\\\c\\u00e9","o":{"x": [1, {"y": "}"}]},"a":[],"t":true,"z":null, "e": -1.5e-300}';
    const raw = parseRawObject(text);
    expect(Object.fromEntries(raw)).toEqual({ n: '12.3400', big: '9007199254740993', s: '"a\\"b\\\\c\\u00e9"', o: '{"x": [1, {"y": "}"}]}', a: '[]', t: 'true', z: 'null', e: '-1.5e-300' });
  });

  it('round-trips arbitrary JSON objects (property)', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
      const text = JSON.stringify(obj, null, Math.random() < 0.5 ? 0 : 2);
      const raw = parseRawObject(text);
      expect([...raw.keys()].sort()).toEqual(Object.keys(obj).sort());
      for (const [k, v] of raw) expect(JSON.parse(v)).toEqual(JSON.parse(JSON.stringify(obj[k])));
    }));
  });

  it('rejects malformed input loudly', () => {
    expect(() => parseRawObject('[1]')).toThrow(/not an object/);
    expect(() => parseRawObject('{"a": "x')).toThrow(/unterminated/);
    expect(() => parseRawObject('{"a": [1}')).toThrow();
  });
});

describe('rawToValue', () => {
  it('decodes PostgreSQL to_json forms exactly', () => {
    expect(rawToValue('12.3400', col('d', { kind: 'decimal', precision: 10, scale: 4 }), 'postgres')).toBe('12.3400');
    expect(rawToValue('123456789012345678901234567890.0123456789', col('d', { kind: 'decimal', precision: 40, scale: 10 }), 'postgres')).toBe('123456789012345678901234567890.0123456789');
    expect(rawToValue('9007199254740993', col('i', { kind: 'int', bits: 64 }), 'postgres')).toBe(9007199254740993n);
    expect(rawToValue('"\\\\x00ff80"', col('b', { kind: 'bytes' }), 'postgres')).toEqual(Buffer.from([0, 255, 128]));
    expect(rawToValue('"\\\\001a\\\\\\\\"', col('b', { kind: 'bytes' }), 'postgres')).toEqual(Buffer.from([1, 0x61, 0x5c]));
    expect(rawToValue('"2024-01-02T01:04:05.123456+05:30"', col('t', { kind: 'timestamp', precision: 6, tz: true }), 'postgres')).toBe('2024-01-01 19:34:05.123456');
    expect(rawToValue('"2024-01-02T03:04:05.1"', col('t', { kind: 'timestamp', precision: 6, tz: false }), 'postgres')).toBe('2024-01-02 03:04:05.100000');
    expect(rawToValue('"NaN"', col('f', { kind: 'float', bits: 64 }), 'postgres')).toBeNaN();
    expect(rawToValue('"-Infinity"', col('f', { kind: 'float', bits: 64 }), 'postgres')).toBe(-Infinity);
    expect(rawToValue('0.30000000000000004', col('f', { kind: 'float', bits: 64 }), 'postgres')).toBe(0.30000000000000004);
    expect(rawToValue('{"a":  1}', col('j', { kind: 'json' }), 'postgres')).toBe('{"a":  1}');
    expect(rawToValue('"s"', col('j', { kind: 'json' }), 'postgres')).toBe('"s"');
    expect(rawToValue('false', col('b', { kind: 'bool' }), 'postgres')).toBe(false);
    expect(rawToValue('"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"', col('u', { kind: 'uuid' }), 'postgres')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(rawToValue('null', col('x', { kind: 'string' }), 'postgres')).toBeNull();
  });

  it('decodes MySQL JSON_OBJECT forms exactly', () => {
    expect(rawToValue('"00FF80"', col('b', { kind: 'bytes' }), 'mysql')).toEqual(Buffer.from([0, 255, 128]));
    expect(rawToValue('"1700000000.123456"', col('t', { kind: 'timestamp', precision: 6, tz: true }), 'mysql')).toBe('2023-11-14 22:13:20.123456');
    expect(rawToValue('"2024-01-02 03:04:05.000001"', col('t', { kind: 'timestamp', precision: 6, tz: false }), 'mysql')).toBe('2024-01-02 03:04:05.000001');
    expect(rawToValue('"{\\"a\\":  1}"', col('j', { kind: 'json' }), 'mysql')).toBe('{"a":  1}');
    expect(rawToValue('1', col('b', { kind: 'bool' }), 'mysql')).toBe(true);
    expect(rawToValue('"-0.000001"', col('d', { kind: 'decimal', precision: 20, scale: 6 }), 'mysql')).toBe('-0.000001');
  });

  it('names the column of a value it cannot decode', () => {
    expect(() => rawToValue('"oops"', col('when', { kind: 'date' }), 'postgres')).toThrow(/column "when"/);
  });
});

describe('decodeRowJson', () => {
  it('reports members that are not columns (a new column) and columns the JSON lacks', () => {
    const cols = [col('id', { kind: 'int', bits: 32 }), col('gone', { kind: 'string' })];
    const d = decodeRowJson('{"id": 1, "extra": "x"}', cols, 'postgres');
    expect(d).toEqual({ row: { id: 1 }, unknown: ['extra'], missing: ['gone'] });
  });

  it('decodes members in column order (the scanned path) exactly as any other order, extra or missing members included (property)', () => {
    const cols = ['a', 'b', 'c', 'd', 'e'].map((n) => col(n, { kind: 'int', bits: 32 }));
    const member = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'x', 'y');
    fc.assert(fc.property(fc.array(fc.tuple(member, fc.integer()), { maxLength: 8 }), (members) => {
      const text = `{${members.map(([k, v]) => `"${k}": ${v}`).join(', ')}}`;
      const byName = new Map<string, number>(members);
      const expected = {
        row: Object.fromEntries(cols.filter((c) => byName.has(c.name)).map((c) => [c.name, byName.get(c.name)])),
        unknown: [...byName.keys()].filter((k) => !cols.some((c) => c.name === k)),
        missing: cols.filter((c) => !byName.has(c.name)).map((c) => c.name),
      };
      expect(decodeRowJson(text, cols, 'postgres')).toEqual(expected);
    }), { numRuns: 2_000 });
    // the layout the triggers write, and the same members with one more at the end
    expect(decodeRowJson('{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}', cols, 'mysql')).toEqual({ row: { a: 1, b: 2, c: 3, d: 4, e: 5 }, unknown: [], missing: [] });
    expect(decodeRowJson('{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "x": 6}', cols, 'mysql').unknown).toEqual(['x']);
    // PostgreSQL's to_json layout (no spaces), and a name escaped otherwise than JSON.stringify does
    expect(decodeRowJson('{"a":1,"b":2,"c":3,"d":4,"e":5}', cols, 'postgres').row).toEqual({ a: 1, b: 2, c: 3, d: 4, e: 5 });
    expect(decodeRowJson('{"\\u0061": 1, "b": 2, "c": 3, "d": 4, "e": 5}', cols, 'mysql')).toEqual({ row: { a: 1, b: 2, c: 3, d: 4, e: 5 }, unknown: [], missing: [] });
    expect(() => decodeRowJson('{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5', cols, 'mysql')).toThrow(/row JSON/);
    // names a row literal could mistake: quotes, backslashes, a number, __proto__
    const odd = ['__proto__', 'say "hi"', 'back\\slash', '1', 'constructor'].map((n) => col(n, { kind: 'int', bits: 32 }));
    const d = decodeRowJson(`{${odd.map((c, i) => `${JSON.stringify(c.name)}:${i}`).join(',')}}`, odd, 'postgres'); // in column order
    expect(Object.getPrototypeOf(d.row)).toBe(Object.prototype);
    expect(Object.entries(d.row).sort()).toEqual(odd.map((c, i) => [c.name, i]).sort()); // (integer-like keys enumerate first)
  });
});

describe('string members', () => {
  it('read escaped and unescaped strings exactly as JSON.parse does (property)', () => {
    const c = col('s', { kind: 'string' });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      expect(rawToValue(JSON.stringify(s), c, 'postgres')).toBe(s);
      // (rows are plain objects: a column named "__proto__" cannot be one of their keys)
      if (s !== '__proto__') expect(decodeRowJson(`{${JSON.stringify(s)}: 1}`, [col(s, { kind: 'int', bits: 32 })], 'mysql').row[s]).toBe(1);
    }), { numRuns: 2000 });
  });
});
