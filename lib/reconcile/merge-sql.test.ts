import { describe, expect, it } from 'vitest';
import { mysqlDialect } from '../dialect/mysql/dialect.js';
import { postgresDialect } from '../dialect/postgres/dialect.js';
import { MergeSql } from './merge-sql.js';
import { liveGeneration, stageGeneration, windowLog } from './names.js';

const shape = (dialect: typeof mysqlDialect) => {
  const into = { schema: dialect.name === 'postgres' ? 'public' : '', name: 'cli"ents`x' };
  return new MergeSql({
    dialect, live: liveGeneration(into), stage: stageGeneration(into), wlog: windowLog(into),
    key: ['id', 're"gion'], columns: ['id', 're"gion', 'e`mail', 'phone', 'local note'],
    sourceFields: ['e`mail', 'phone'], targetFields: ['local note'],
  });
};

describe('reconcile merge SQL', () => {
  it('quotes every identifier (odd names survive) and inlines only computed integers', () => {
    for (const d of [mysqlDialect, postgresDialect]) {
      const sql = shape(d);
      const all = [...sql.loadTable(true).create, sql.mergedSourceRows(), sql.clocksOfSourceRows(), ...sql.missingKeys(), sql.clocksOfMissingRows(123456789n, 42),
        sql.deletedLiveRows(), sql.keptLiveRows(), sql.carriedTombRows(), ...sql.targetDeletedSourceRows(),
        ...Object.values(sql.windowRound()).flat()].join('\n');
      expect(all).toContain(d.quote('re"gion'));
      expect(all).toContain(d.quote('e`mail'));
      expect(all).toContain(d.quote('local note'));
      expect(all).toContain(d.quote('cli"ents`x__fs_stg'));
      expect(all).toContain('123456789');
      // a raw (unquoted) odd name would break the statement
      expect(all.replaceAll(d.quote('re"gion'), '').includes('re"gion')).toBe(false);
    }
  });

  it('MySQL: LOCK TABLES names every alias the under-lock catch-up uses', () => {
    const sql = shape(mysqlDialect);
    const r = sql.windowRound();
    const text = [sql.windowPending(), ...r.collect, r.count, ...r.apply, ...r.cleanup].join('\n');
    const used = new Set([...text.matchAll(/\b(?:FROM|JOIN|UPDATE|DELETE)\s+(`[^`]*(?:``[^`]*)*`(?:\.`[^`]*`)?)\s+([a-z]+)\b/g)].map((m) => `${m[1]} ${m[2]}`));
    const locked = new Set(sql.windowLockList().map((l) => `${mysqlDialect.qualified(l.table)} ${l.alias ?? ''}`.trim()));
    for (const u of used) {
      if (u.startsWith('`fs_')) continue; // temporary tables need no lock
      const [table, alias] = [u.slice(0, u.lastIndexOf(' ')), u.slice(u.lastIndexOf(' ') + 1)];
      if (['ON', 'WHERE', 'USING', 'LEFT', 'JOIN', 'SET'].includes(alias.toUpperCase()) && alias === alias.toUpperCase()) {
        expect(locked.has(table), `${table} locked`).toBe(true);
      } else {
        expect(locked.has(`${table} ${alias}`), `${table} AS ${alias} locked`).toBe(true);
      }
    }
    expect(used.size).toBeGreaterThan(3);
  });

  it('target-only columns never compete with the source version', () => {
    const sql = shape(postgresDialect);
    const clocks = sql.clocksOfSourceRows();
    // the source fields take the greater stamp; the target-only field keeps the live clock as is
    expect(clocks).toMatch(/c\."local note" FROM/);
    expect(clocks).toContain('CASE WHEN s."_fs_v" IS NULL OR c."phone" > s."_fs_v" THEN c."phone" ELSE s."_fs_v" END');
  });

  it('PostgreSQL: a nightly loads the source into a temporary table and writes the stage data once, merged', () => {
    const sql = shape(postgresDialect);
    expect(sql.loadTable(false).table).toEqual(stageGeneration({ schema: 'public', name: 'cli"ents`x' }).data);
    const load = sql.loadTable(true);
    expect(load.table).toEqual({ schema: 'pg_temp', name: 'fs_src' });
    expect(load.create.join('\n')).toContain('ADD PRIMARY KEY ("id", "re""gion")');
    const steps = sql.sourceRows(true);
    const merged = steps.collect.map((s) => s.sql).join('\n');
    // a source field takes the live value only where the live clock is newer than the version
    expect(merged).toContain('CASE WHEN c."phone" > s."_fs_v" THEN CASE WHEN l."id" IS NOT NULL THEN l."phone" ELSE b."phone" END ELSE s."phone" END');
    // a target-only field keeps live's value where live has the row, else the loaded default
    expect(merged).toContain('CASE WHEN l."id" IS NOT NULL OR b."id" IS NOT NULL THEN CASE WHEN l."id" IS NOT NULL THEN l."local note" ELSE b."local note" END ELSE s."local note" END');
    expect(merged).not.toMatch(/UPDATE/);
    expect(steps.count).toContain('SUM("_fs_k")');
    expect(steps.apply.map((s) => s.sql).join('\n')).toContain('FROM "pg_temp"."fs_src" s LEFT JOIN');
    // a first fill loads straight into the stage; only the clocks are written
    const first = sql.sourceRows(false);
    expect(first.collect).toEqual([]);
    expect(first.apply.map((s) => s.sql).join('\n')).toContain('FROM "public"."cli""ents`x__fs_stg" s LEFT JOIN');
  });
});
