// The refresh suite (reconcile-suite.ts) with a PostgreSQL target, and the triggers the
// swap copies before its lock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '../../lib/log.js';
import { listBackups, swapGenerations } from '../../lib/reconcile/generations.js';
import { backupGeneration, liveGeneration, stageGeneration } from '../../lib/reconcile/names.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { openSession } from '../../lib/reconcile/session.js';
import { waitFor } from '../support/helpers.js';
import { createScenario } from './reconcile-fixture.js';
import type { Scenario } from './reconcile-fixture.js';
import { defineRefreshSuite } from './reconcile-suite.js';

defineRefreshSuite('postgres');

// The swap copies live's triggers that skip applier sessions to the incoming tables before
// its lock, enabled (lib/dialect/postgres/swap.ts); its transaction is an applier session.
describe('reconcile into PostgreSQL: triggers copied before the swap\'s lock', () => {
  const ROWS = 300;
  let s: Scenario;
  const q = (id: string) => s.target.dialect.quote(id);
  const triggers = async (table: string) => (await s.target.query(
    `SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname`, [q(table)]))
    .map((r) => `${String(r.tgname)} ${String(r.tgenabled)} ${String(r.def).replace(` ON public.${table} `, ' ON <t> ')}`);

  beforeAll(async () => {
    s = await createScenario('postgres', ROWS);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('the swap\'s own writes to the incoming tables fire none of them; live then has them enabled, and one that does not skip applier sessions too', async () => {
    const into = { schema: 'public', name: s.targetTable };
    const live = liveGeneration(into);
    const stage = stageGeneration(into);
    // a trigger of the application's own, which knows nothing of applier sessions
    const audit = `${s.targetTable}_audit`;
    await s.target.execute(`CREATE TABLE ${q(audit)} (id bigint NOT NULL)`);
    await s.target.execute(`CREATE FUNCTION ${q(`${audit}_fn`)}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN INSERT INTO ${q(audit)} VALUES (NEW.id); RETURN NULL; END $f$`);
    await s.target.execute(`CREATE TRIGGER ${q(`${s.targetTable}_aud`)} AFTER UPDATE ON ${q(s.targetTable)} FOR EACH ROW EXECUTE FUNCTION ${q(`${audit}_fn`)}()`);
    const before = await triggers(s.targetTable);
    expect(before.some((t) => /__fs_stamp O .* WHEN \(\(NOT/.test(t))).toBe(true);
    for (const [from, to] of [[live.data, stage.data], [live.clock, stage.clock], [live.tomb, stage.tomb]] as const) {
      await s.target.execute(`CREATE TABLE ${q(to.name)} (LIKE ${q(from.name)} INCLUDING ALL)`);
      await s.target.execute(`INSERT INTO ${q(to.name)} SELECT * FROM ${q(from.name)}`);
    }
    const n = Math.max(0, ...(await listBackups(s.target, into))) + 1;
    const id = ROWS + 1;
    // the reconciler's own connections are not applier sessions
    const watch = await openSession(s.targetUser);
    await swapGenerations({
      db: s.targetUser, watch, into, incoming: stage, outgoing: backupGeneration(into, n),
      carryDefinition: true, skipTriggers: [], lockList: [], lockTimeoutMs: 5000, log: logger('test'),
      // what the final window catch-up does: write the incoming tables under the lock
      underLock: async (tx) => {
        await tx.execute(`INSERT INTO ${q(stage.data.name)} (id, name, balance, updated_at) VALUES ($1, 'window', 1, now())`, [id]);
        await tx.execute(`UPDATE ${q(stage.data.name)} SET note = 'window' WHERE id = 1`);
      },
    }).finally(() => watch.release());
    // no stamp for the swap's writes, in either clock table
    expect(await s.target.query(`SELECT id FROM ${q(live.clock.name)} WHERE id = $1`, [id])).toEqual([]);
    expect(await s.target.query(`SELECT id FROM ${q(backupGeneration(into, n).clock.name)} WHERE id = $1`, [id])).toEqual([]);
    expect(await s.target.query(`SELECT id FROM ${q(audit)}`)).toEqual([]);
    expect(await triggers(s.targetTable)).toEqual(before);
    // a local edit fires every trigger of the new live table
    await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET note = 'local' WHERE id = $1`, [id]);
    expect((await s.target.query(`SELECT note FROM ${q(live.clock.name)} WHERE id = $1`, [id]))[0]?.note).not.toBeNull();
    expect(await s.target.query(`SELECT id FROM ${q(audit)}`)).toEqual([{ id: String(id) }]);
    await s.target.execute(`DROP TRIGGER ${q(`${s.targetTable}_aud`)} ON ${q(s.targetTable)}`);
    await s.target.execute(`DROP TABLE ${q(audit)}`);
    await s.target.execute(`DROP FUNCTION ${q(`${audit}_fn`)}() CASCADE`);
  });

  it('a trigger created on live while the swap waits for its lock is on the new live table (the swap notices and starts over)', async () => {
    const fn = `${s.targetTable}_late_fn`;
    await s.target.execute(`CREATE FUNCTION ${q(fn)}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$`);
    const ddl = await openSession(s.targetUser);
    try {
      // uncommitted while the refresh reads live's definition; it holds a lock the swap waits for
      await ddl.execute('BEGIN');
      await ddl.execute(`CREATE TRIGGER ${q(`${s.targetTable}_late`)} AFTER INSERT ON ${q(s.targetTable)} FOR EACH ROW EXECUTE FUNCTION ${q(fn)}()`);
      const refresh = refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!, { lockTimeoutMs: 30_000 });
      await waitFor('the swap waiting for its lock on live', async () => (await s.target.query(
        `SELECT 1 FROM pg_locks WHERE relation = $1::regclass AND mode = 'AccessExclusiveLock' AND NOT granted`, [q(s.targetTable)])).length > 0, 30_000);
      await ddl.execute('COMMIT');
      await refresh;
    } finally {
      ddl.release();
    }
    expect((await triggers(s.targetTable)).some((t) => t.startsWith(`${s.targetTable}_late O `))).toBe(true);
    await s.target.execute(`DROP FUNCTION ${q(fn)}() CASCADE`);
  });
});
