/**
 * A MariaDB refresh leaves live's stamp triggers under their second name (the swap carries
 * copies made before its lock, lib/dialect/mysql/trigger-names.ts). An applier starting on
 * such a table must take them as installed, not drop and re-create them (a moment where a
 * local write would fire both); a stale or doubled set is still replaced by one clean set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stampTriggerNames } from '../../lib/dialect/mysql/stamp-triggers.js';
import { uniqueName } from '../support/helpers.js';
import { clientsTable, openTarget, type TargetHandle } from './merge-support.js';

const opts = { autoEvolve: true, createTable: true };
const EVENTS = ['insert', 'update', 'delete'] as const;

describe('MariaDB stamp triggers under either of their two names', () => {
  let h: TargetHandle;
  beforeAll(async () => { h = await openTarget('maria', ''); });
  afterAll(async () => { await h.close(); });

  async function triggers(table: string): Promise<Map<string, { created: string; body: string }>> {
    const rows = await h.app.query(`SELECT TRIGGER_NAME AS name, CREATED AS created, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?`, [table]);
    return new Map(rows.map((r) => [String(r.name), { created: String(r.created), body: String(r.body) }]));
  }

  /** What the swap does: the same triggers, renamed to their other form. */
  async function renameToSecondForm(table: string): Promise<void> {
    const t = { name: table };
    const before = await triggers(table);
    for (const e of EVENTS) {
      const [base, second] = stampTriggerNames(t, e);
      const body = before.get(base!)!.body;
      await h.app.execute(`DROP TRIGGER \`${base}\``);
      await h.app.execute(`CREATE TRIGGER \`${second}\` AFTER ${e.toUpperCase()} ON \`${table}\` FOR EACH ROW ${body}`);
    }
  }

  async function startApplier(table: string): Promise<void> {
    const other = await openTarget('maria', '');
    try {
      await other.sink.prepareTable(clientsTable('billing', table), { schema: '', name: table }, opts);
    } finally {
      await other.close();
    }
  }

  it('keeps triggers found under their second name, and repairs a doubled set', async () => {
    const table = h.track(uniqueName('names'));
    await h.sink.prepareTable(clientsTable('billing', table), { schema: '', name: table }, opts);
    await renameToSecondForm(table);
    const carried = await triggers(table);
    await startApplier(table);
    // untouched: same names, same creation times
    expect(await triggers(table)).toEqual(carried);

    // both forms present (a swap killed half-way): one clean set under the base names
    const [base, second] = stampTriggerNames({ name: table }, 'insert');
    await h.app.execute(`CREATE TRIGGER \`${base}\` AFTER INSERT ON \`${table}\` FOR EACH ROW ${carried.get(second!)!.body}`);
    await startApplier(table);
    const repaired = await triggers(table);
    expect([...repaired.keys()].sort()).toEqual(EVENTS.map((e) => stampTriggerNames({ name: table }, e)[0]!).sort());
  });
});
