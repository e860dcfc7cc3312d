/**
 * MariaDB: the stage is loaded and merged without live's plain secondary indexes, which are
 * added back after the merge (lib/dialect/mysql/stage-indexes.ts). The new live table must
 * carry exactly live's index definitions (names, columns, prefixes, uniqueness, comments),
 * enforced; merged rows that violate a UNIQUE index abort the refresh
 * before the swap with live unchanged, and the next refresh, once the clash is gone, works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { deferrableIndexes } from '../../lib/dialect/mysql/stage-indexes.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { uniqueName } from '../support/helpers.js';
import { scenarioConfig, tablesLike } from './reconcile-fixture.js';

const ROWS = 2000;

describe('reconcile into MariaDB: secondary indexes of the stage', () => {
  const sourceTable = uniqueName('rci_src');
  const targetTable = uniqueName('rci_tgt');
  const { cfg } = scenarioConfig('mysql', sourceTable, targetTable);
  const job = cfg.reconciler.jobs[0]!;
  let source: Db;
  let target: Db;
  let user: Db;
  const q = (id: string) => target.dialect.quote(id);

  async function indexLines(): Promise<string[]> {
    const [r] = await target.query(`SHOW CREATE TABLE ${q(targetTable)}`);
    return String(r!['Create Table']).split('\n').map((l) => l.trim().replace(/,$/, '')).filter((l) => /^(UNIQUE |FULLTEXT |SPATIAL )?KEY /.test(l)).sort();
  }
  async function rows(): Promise<string> {
    const r = await target.query(`SELECT id, name, email, phone FROM ${q(targetTable)} ORDER BY id`);
    return JSON.stringify(r);
  }

  beforeAll(async () => {
    source = openDb(cfg.databases.billing!);
    target = openDb(cfg.databases.invoice!, { applierSession: true });
    user = openDb(cfg.databases.invoice!);
    await source.execute(`CREATE TABLE ${sourceTable} (id bigint PRIMARY KEY, name varchar(100), email varchar(200), phone varchar(40), updated_at timestamptz(6) NOT NULL)`);
    await source.execute(`INSERT INTO ${sourceTable} SELECT i, 'name ' || i, 'c' || i || '@example.org', '+41 ' || i, now() - interval '1 day' FROM generate_series(1, ${ROWS}) AS i`);
  });
  afterAll(async () => {
    await source?.execute(`DROP TABLE IF EXISTS ${sourceTable}`).catch(() => undefined);
    if (target) for (const n of await tablesLike(target, 'mysql', targetTable)) await target.execute(`DROP TABLE IF EXISTS ${q(n)}`).catch(() => undefined);
    await source?.close();
    await target?.close();
    await user?.close();
  });

  it('the new live table has exactly live\'s indexes, enforced', async () => {
    await refreshTable(cfg, job);
    const t = q(targetTable);
    await target.execute(`ALTER TABLE ${t} ADD INDEX ${q('by email')} (email), ADD UNIQUE INDEX ${q('phone`u')} (phone) COMMENT 'one phone, one client',
      ADD INDEX ${q(`${targetTable}_np`)} (name(10), email(20))`);
    const before = await indexLines();
    expect(before).toHaveLength(3);
    expect((await deferrableIndexes(target, { schema: '', name: targetTable })).map((i) => i.name).sort()).toEqual(['by email', 'phone`u', `${targetTable}_np`].sort());

    await source.execute(`UPDATE ${sourceTable} SET name = 'renamed ' || id, updated_at = now() WHERE id % 3 = 0`);
    const r = await refreshTable(cfg, job);
    expect(r.rowsAfter).toBe(ROWS);
    expect(await indexLines()).toEqual(before);
    const [renamed] = await target.query(`SELECT COUNT(*) AS n FROM ${t} WHERE name LIKE 'renamed %'`);
    expect(Number(renamed!.n)).toBe(Math.floor(ROWS / 3));
    // the unique index is there and enforced; the indexes are used
    await expect(user.execute(`UPDATE ${t} SET phone = '+41 2' WHERE id = 1`)).rejects.toThrow(/Duplicate/);
    const plan = await target.query(`EXPLAIN SELECT id FROM ${t} WHERE email = 'c5@example.org'`);
    expect(String(plan[0]!.key)).toBe('by email');
  });

  it('merged rows that violate a UNIQUE index abort before the swap; live stays; the next refresh works', async () => {
    const t = q(targetTable);
    // the source gives row 2 a new phone; the target's users (later) give row 1 the same one
    await source.execute(`UPDATE ${sourceTable} SET phone = '+41 new', updated_at = now() WHERE id = 2`);
    await user.execute(`UPDATE ${t} SET phone = '+41 new' WHERE id = 1`);
    const live = await rows();
    const lines = await indexLines();
    await expect(refreshTable(cfg, job)).rejects.toThrow(/Duplicate/);
    expect(await rows()).toBe(live);
    expect(await indexLines()).toEqual(lines);

    await user.execute(`UPDATE ${t} SET phone = '+41 one' WHERE id = 1`);
    const r = await refreshTable(cfg, job);
    expect(r.rowsAfter).toBe(ROWS);
    const got = await target.query(`SELECT id, phone FROM ${t} WHERE id IN (1, 2) ORDER BY id`);
    expect(got.map((x) => x.phone)).toEqual(['+41 one', '+41 new']);
    expect(await indexLines()).toEqual(lines);
    expect((await tablesLike(target, 'mysql', targetTable)).filter((n) => /__fs_(stg|wlog)/.test(n))).toEqual([]);
  });

  it('refreshes a table with a FULLTEXT index (the scratch columns are then dropped by a rebuild, not instantly)', async () => {
    const t = q(targetTable);
    await target.execute(`ALTER TABLE ${t} ADD FULLTEXT INDEX ${q('ft name')} (name)`);
    const lines = await indexLines();
    expect(lines.some((l) => l.startsWith('FULLTEXT KEY'))).toBe(true);
    await source.execute(`UPDATE ${sourceTable} SET name = 'fulltext ' || id, updated_at = now() WHERE id % 5 = 0`);
    const r = await refreshTable(cfg, job);
    expect(r.rowsAfter).toBe(ROWS);
    expect(await indexLines()).toEqual(lines);
    const [n] = await target.query(`SELECT COUNT(*) AS n FROM ${t} WHERE MATCH(name) AGAINST ('fulltext')`);
    expect(Number(n!.n)).toBe(ROWS / 5);
    const [cols] = await target.query(`SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND column_name LIKE '\\_fs\\_%'`, [targetTable]);
    expect(Number(cols!.n)).toBe(0);
  });
});

