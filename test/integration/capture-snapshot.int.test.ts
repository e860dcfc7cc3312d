/**
 * Initial snapshot, then stream, with writes running concurrently the whole time: the
 * state folded from the topic (field-level last-writer-wins on the events' stamps, the
 * same rule the applier merges with) equals the table's final state — no change lost
 * between snapshot and stream. A restart after the snapshot finished does not repeat it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { snapshotCheckpoint } from '../../lib/capture/outbox-layout.js';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { startCaptureService } from '../../services/capture/service.js';
import { captureConfig, captureSource, keyString, topicOfTable, TopicCollector, type CaptureTestSource } from '../support/capture-harness.js';
import { uniqueName, waitFor } from '../support/helpers.js';

interface Folded { fields: Map<string, { stamp: bigint; value: unknown }>; live: bigint; dead: bigint }

/** Field-level LWW fold of a topic: what a target converges to. */
function fold(events: ChangeEvent[]): Map<string, Record<string, unknown>> {
  const rows = new Map<string, Folded>();
  for (const e of events) {
    const k = keyString(e.key);
    const r = rows.get(k) ?? { fields: new Map(), live: -1n, dead: -1n };
    rows.set(k, r);
    if (e.op === 'delete') { if (e.commitTimeMicros > r.dead) r.dead = e.commitTimeMicros; continue; }
    if ((e.op === 'insert' || e.op === 'snapshot') && e.commitTimeMicros > r.live) r.live = e.commitTimeMicros;
    for (const c of e.changed) {
      const f = r.fields.get(c);
      if (!f || e.commitTimeMicros > f.stamp) r.fields.set(c, { stamp: e.commitTimeMicros, value: e.after?.[c] ?? null });
    }
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const [k, r] of rows) if (r.live > r.dead) out.set(k, Object.fromEntries([...r.fields].map(([c, f]) => [c, f.value])));
  return out;
}

for (const kind of ['pg', 'maria'] as const) {
  describe(`${kind === 'pg' ? 'PostgreSQL' : 'MariaDB'}: initial snapshot with concurrent writes`, () => {
    let source: CaptureTestSource;
    let cfg: FieldsyncConfig;
    let db: Db;
    const t = uniqueName('snap');
    const p = (i: number) => (kind === 'pg' ? `$${i}` : '?');
    const ROWS = 3000;

    beforeAll(async () => {
      source = await captureSource(kind);
      cfg = captureConfig(source, [{ name: t }], { snapshotChunkSize: 250, batchSize: 500 });
      db = openDb(cfg.databases.src!);
      await db.execute(`CREATE TABLE ${t} (id int PRIMARY KEY, name varchar(40), n int)`);
      for (let lo = 1; lo <= ROWS; lo += 500) {
        const values = Array.from({ length: 500 }, (_, i) => `(${lo + i}, 'row ${lo + i}', 0)`).join(', ');
        await db.execute(`INSERT INTO ${t} VALUES ${values}`);
      }
      await installOutbox(cfg, cfg.capture[0]!, db);
    });

    afterAll(async () => {
      if (db) {
        await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
        await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
        if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
        await db.close();
      }
      await source?.drop();
    });

    it('publishes existing rows as snapshot events and loses no concurrent change; a restart does not repeat it', async () => {
      const topic = topicOfTable(cfg, t);
      const collector = await TopicCollector.start(cfg, [topic]);
      const service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
      const checkpointTable = kind === 'pg' ? `"${source.isolation}".capture_checkpoint` : 'fieldsync_capture_checkpoint';
      const snapshotDone = async () => {
        const rows = await db.query(`SELECT position FROM ${checkpointTable} WHERE stream = ${p(1)}`, [snapshotCheckpoint({ schema: kind === 'pg' ? 'public' : '', name: t })]);
        return rows[0] ? (JSON.parse(String(rows[0].position)) as { state: string }).state === 'done' : false;
      };
      // writes while the snapshot runs, and a few after it is done
      let nextId = ROWS + 1;
      let after = 0;
      let round = 0;
      const deadline = Date.now() + 60_000;
      while (after < 20) {
        if (Date.now() > deadline) throw new Error('the snapshot did not finish within 60 s');
        round++;
        const id = 1 + ((round * 7919) % ROWS);
        await db.execute(`UPDATE ${t} SET n = n + 1, name = ${p(1)} WHERE id = ${p(2)}`, [`upd ${round}`, id]);
        await db.execute(`INSERT INTO ${t} VALUES (${p(1)}, ${p(2)}, 0)`, [nextId, `new ${nextId}`]);
        nextId++;
        if (round % 3 === 0) await db.execute(`DELETE FROM ${t} WHERE id = ${p(1)}`, [1 + ((round * 104729) % ROWS)]);
        if (await snapshotDone()) after++;
      }
      const final = new Map<string, Record<string, unknown>>();
      for (const r of await db.query(`SELECT id, name, n FROM ${t}`)) final.set(keyString({ id: Number(r.id) }), { id: Number(r.id), name: r.name, n: Number(r.n) });
      await waitFor('the topic to converge to the table', () => {
        const got = fold(collector.of(topic).map((e) => e.event));
        return got.size === final.size && [...final].every(([k, v]) => JSON.stringify(got.get(k)) === JSON.stringify(v));
      }, 60_000, 250).catch((e: unknown) => {
        const got = fold(collector.of(topic).map((ev) => ev.event));
        const wrong = [...final].filter(([k, v]) => JSON.stringify(got.get(k)) !== JSON.stringify(v)).slice(0, 5);
        throw new Error(`${String(e)}: ${got.size} rows folded, ${final.size} in the table; first differences ${JSON.stringify(wrong)}`);
      });
      const snapshots = collector.of(topic).filter((e) => e.event.op === 'snapshot');
      expect(snapshots.length).toBeGreaterThanOrEqual(ROWS - Math.ceil(round / 3));
      expect(new Set(snapshots.map((e) => e.event.position)).size).toBe(snapshots.length);
      await service.runtime.shutdown('restart');

      // a restart after the snapshot finished does not repeat it
      const before = snapshots.length;
      const again = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
      await db.execute(`UPDATE ${t} SET n = 42 WHERE id = ${p(1)}`, [nextId - 1]);
      await waitFor('the update after the restart', () => collector.of(topic).some((e) => e.event.op === 'update' && e.event.after?.n === 42));
      expect(collector.of(topic).filter((e) => e.event.op === 'snapshot').length).toBe(before);
      await again.runtime.shutdown('test done');
      await collector.stop();
    });

    it('a crash in the middle of a snapshot resumes after the last acknowledged chunk (composite key)', async () => {
      const t2 = uniqueName('snapcrash');
      const cfg2 = captureConfig(source, [{ name: t2 }], { snapshotChunkSize: 100 });
      await db.execute(`CREATE TABLE ${t2} (g int, id int, v int, PRIMARY KEY (g, id))`);
      const keyOf = (c: { event: { key: Record<string, unknown> } }) => `${String(c.event.key.g)}/${String(c.event.key.id)}`;
      try {
        await db.execute(`INSERT INTO ${t2} VALUES ${Array.from({ length: 350 }, (_, i) => `(${(i * 7) % 3}, ${i + 1}, ${i})`).join(', ')}`);
        await installOutbox(cfg2, cfg2.capture[0]!, db);
        const first = new OutboxSource(cfg2, cfg2.capture[0]!);
        await first.connect();
        const chunk0 = await first.readBatch();
        await chunk0.ack();
        const chunk1 = await first.readBatch(); // read, maybe published, never acknowledged: the crash
        await first.close();
        const second = new OutboxSource(cfg2, cfg2.capture[0]!);
        await second.connect();
        const again = await second.readBatch();
        expect(again.changes.map(keyOf)).toEqual(chunk1.changes.map(keyOf));
        await again.ack();
        const rest: string[] = [];
        for (;;) {
          const b = await second.readBatch();
          await b.ack();
          if (!b.changes.some((c) => c.event.op === 'snapshot')) break;
          rest.push(...b.changes.map(keyOf));
        }
        // every row exactly once, in key order (g, id), across chunk boundaries and the restart
        const expected = Array.from({ length: 350 }, (_, i) => [(i * 7) % 3, i + 1] as const).sort((x, y) => (x[0] - y[0]) || (x[1] - y[1])).map(([g, id]) => `${g}/${id}`);
        expect([...chunk0.changes.map(keyOf), ...again.changes.map(keyOf), ...rest]).toEqual(expected);
        await second.close();
      } finally {
        await uninstallOutbox(cfg2, cfg2.capture[0]!, db, false).catch(() => undefined);
        await db.execute(`DROP TABLE IF EXISTS ${t2}`);
      }
    });
  });
}
