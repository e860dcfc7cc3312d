/**
 * Local edits racing the applier: the target's own users update `email` directly while the
 * sink merges incoming updates of the same column with stamps just before and just after
 * "now". Whatever the interleaving, every row of T must hold exactly the value its clock
 * names: a local value where the clock's stamp carries the target's origin code, otherwise
 * the value of the incoming event with that stamp. (This is what the lock order — T row,
 * then clock row, as the stamping trigger does — protects.) Transient failures (deadlock,
 * lock timeout) on either side are retried with lib/retry.ts; anything else fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockTable } from '../../lib/merge/clock-layout.js';
import { retry } from '../../lib/retry.js';
import { ORIGIN_SPACE, nowMicros, originCode, stampOf } from '../../lib/stamp.js';
import type { TableSchema } from '../../lib/types.js';
import { uniqueName } from '../support/helpers.js';
import { T0, TARGETS, clientsTable, event, openTarget, readRows, type TargetHandle } from './merge-support.js';

const KEYS = Number(process.env.FIELDSYNC_RACE_KEYS ?? 200);
const BATCHES = Number(process.env.FIELDSYNC_RACE_BATCHES ?? 40);
const LOCAL_EDITS = Number(process.env.FIELDSYNC_RACE_EDITS ?? 150);

describe.each(TARGETS)('local edits racing the applier on $label', ({ name: target, schema }) => {
  let h: TargetHandle;
  let t: TableSchema;
  beforeAll(async () => {
    h = await openTarget(target, schema);
    const name = h.track(uniqueName('race'));
    t = await h.sink.prepareTable(clientsTable('billing', name), { schema, name }, { autoEvolve: true, createTable: true });
    const inserts = Array.from({ length: KEYS }, (_v, i) => event('insert', 'billing', T0, { id: BigInt(i) }, { name: `n${i}`, email: 'initial', phone: '0' }));
    await h.sink.apply(uniqueName('c'), [{ table: t, events: inserts }], []);
  });
  afterAll(async () => { await h.close(); });

  it('leaves every field holding the value of the write its clock names', async () => {
    const localCode = BigInt(originCode(target));
    expect(localCode).not.toBe(BigInt(originCode('billing')));
    const incoming = new Map<bigint, string>();
    const consumer = uniqueName('c');
    const d = h.app.dialect;

    const applier = (async () => {
      for (let b = 0; b < BATCHES; b++) {
        const events = Array.from({ length: 10 }, (_v, j) => {
          // every event gets its own stamp: `incoming` is looked up by stamp alone, and two
          // events drawn at the same microsecond would make the expected value ambiguous
          let time = nowMicros() + BigInt(Math.round((Math.random() - 0.5) * 400_000));
          while (incoming.has(stampOf(time, 'billing'))) time++;
          const value = `ev-${b}-${j}`;
          incoming.set(stampOf(time, 'billing'), value);
          return event('update', 'billing', time, { id: BigInt(Math.floor(Math.random() * KEYS)) }, { email: value }, ['email']);
        });
        await retry(() => h.sink.apply(consumer, [{ table: t, events }], [{ topic: 'race', partition: 0, nextOffset: String(b + 1) }]), { initialDelayMs: 5, maxElapsedMs: 30_000 });
      }
    })();
    const app = (async () => {
      for (let i = 0; i < LOCAL_EDITS; i++) {
        const id = Math.floor(Math.random() * KEYS);
        await retry(() => h.app.execute(`UPDATE ${d.qualified(t)} SET ${d.quote('email')} = ${d.param(1)} WHERE ${d.quote('id')} = ${d.param(2)}`, [`local-${i}`, id]), { initialDelayMs: 5, maxElapsedMs: 30_000 });
      }
    })();
    await Promise.all([applier, app]);

    const rows = await readRows(h.app, t);
    const clocks = new Map((await readRows(h.app, clockTable(t))).map((c) => [c.id, c.email as bigint]));
    let local = 0;
    let merged = 0;
    for (const r of rows) {
      const stamp = clocks.get(r.id)!;
      if (stamp % ORIGIN_SPACE === localCode) {
        expect(String(r.email)).toMatch(/^local-/);
        local++;
      } else {
        expect(r.email).toBe(stamp === stampOf(T0, 'billing') ? 'initial' : incoming.get(stamp));
        merged++;
      }
    }
    expect(rows).toHaveLength(KEYS);
    expect(local + merged).toBe(KEYS);
    expect(await h.sink.storedOffsets(consumer)).toEqual([{ topic: 'race', partition: 0, nextOffset: String(BATCHES) }]);
  });
});
