import { describe, expect, it } from 'vitest';
import { FAULT_KINDS } from '../../test/chaos/faults.js';
import { CLIENT_COLUMNS, CREATOR_COLUMNS, ID_BASE, FAULT_ID_BASE, OTHER_COLUMNS, clientsDdl, rng } from '../../test/chaos/workload.js';

describe('chaos workload', () => {
  it('replays the same pseudo-random sequence for the same seed', () => {
    const a = rng(7);
    const b = rng(7);
    const xs = Array.from({ length: 50 }, () => a());
    expect(Array.from({ length: 50 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBe(50);
  });

  it('gives every field exactly one writer and keeps the key ranges apart', () => {
    const owned = [...CREATOR_COLUMNS, ...OTHER_COLUMNS];
    expect(new Set(owned).size).toBe(owned.length);
    expect(CLIENT_COLUMNS.filter((c) => c !== 'id').sort()).toEqual([...owned].sort());
    expect(ID_BASE.pg).toBeLessThan(ID_BASE.maria);
    expect(ID_BASE.maria).toBeLessThan(FAULT_ID_BASE);
  });

  it('makes MariaDB unable to hold a note PostgreSQL can (the overflow fault)', () => {
    expect(clientsDdl('pg')).toMatch(/note text/);
    expect(clientsDdl('maria')).toMatch(/note VARCHAR\(20\)/);
  });

  it('injects every kind of fault the issue names', () => {
    expect(FAULT_KINDS).toEqual(expect.arrayContaining(['kill-capture-pg', 'kill-applier-maria', 'kill-reconciler', 'restart-kafka', 'restart-mariadb', 'restart-postgres', 'poison-message', 'overflow-value']));
  });
});
