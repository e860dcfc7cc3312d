import { describe, expect, it } from 'vitest';
import { latestOffsets } from './sql-sink.js';
import { isMariaDb, supportsRowAlias } from './mysql-sink.js';

describe('MySQL upsert form detection', () => {
  it.each([
    ['10.11.19-MariaDB-0+deb12u1', false],
    ['11.4.2-MariaDB', false],
    ['5.7.44-log', false],
    ['8.0.18', false],
    ['8.0.19', true],
    ['8.0.36-0ubuntu0.22.04.1', true],
    ['8.4.3', true],
    ['9.1.0', true],
  ])('%s → row alias %s', (version, expected) => {
    expect(supportsRowAlias(version)).toBe(expected);
  });
  it('recognises MariaDB', () => {
    expect(isMariaDb('10.11.19-MariaDB-0+deb12u1')).toBe(true);
    expect(isMariaDb('8.4.3')).toBe(false);
  });
});

describe('latestOffsets', () => {
  it('keeps the greatest next offset per topic and partition', () => {
    expect(latestOffsets([
      { topic: 'a', partition: 0, nextOffset: '9' }, { topic: 'a', partition: 0, nextOffset: '10' },
      { topic: 'a', partition: 1, nextOffset: '3' }, { topic: 'a', partition: 0, nextOffset: '2' },
    ])).toEqual([{ topic: 'a', partition: 0, nextOffset: '10' }, { topic: 'a', partition: 1, nextOffset: '3' }]);
  });
});
