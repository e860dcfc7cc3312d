/**
 * kill -9 of the capture process (`node bin/fieldsync.mjs capture --config <file>`) in
 * the middle of a 50,000-change stream, then a restart: every change is in Kafka, in order
 * per row, and the only duplicates are those of the batch that was not acknowledged.
 *
 * CAPTURE_CRASH_CHANGES sets the size of the stream (default 50,000);
 * CAPTURE_CRASH_SOURCE=maria runs it on a MariaDB outbox instead of PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { exited, useOutboxCapture, writeConfigFile } from '../support/capture-harness.js';
import { waitFor } from '../support/helpers.js';

const CHANGES = Number(process.env.CAPTURE_CRASH_CHANGES ?? 50_000);
const BATCH = 2000;
const KIND = process.env.CAPTURE_CRASH_SOURCE === 'maria' ? 'maria' : 'pg';
const p = (i: number) => (KIND === 'pg' ? `$${i}` : '?');

describe(`capture process killed with SIGKILL (${KIND === 'pg' ? 'PostgreSQL' : 'MariaDB'} outbox)`, () => {
  const capture = useOutboxCapture(KIND, BATCH);
  const checkpoint = capture.checkpoint;

  it(`kill -9 in the middle of a ${CHANGES}-change stream loses nothing; duplicates only from the unacknowledged batch`, async () => {
    const { cfg, table, topic, collector, db } = await capture.setup('crash');
    const file = writeConfigFile(cfg);
    let child = capture.spawn(['capture', '--config', file]);

    const rows = CHANGES / 2;
    const chunk = 500;
    let killed = false;
    // first half of the changes: inserts; second half: one update per row
    for (let phase = 0; phase < 2; phase++) {
      for (let lo = 1; lo <= rows; lo += chunk) {
        const hi = Math.min(rows, lo + chunk - 1);
        if (phase === 0) {
          await db.execute(KIND === 'pg'
            ? `INSERT INTO ${table} (id, v) SELECT g, 0 FROM generate_series($1::int, $2::int) g`
            : `INSERT INTO ${table} (id, v) SELECT seq, 0 FROM seq_${lo}_to_${hi}`, KIND === 'pg' ? [lo, hi] : []);
        } else {
          await db.execute(`UPDATE ${table} SET v = v + 1 WHERE id BETWEEN ${p(1)} AND ${p(2)}`, [lo, hi]);
        }
        if (!killed && collector.of(topic).length >= CHANGES / 5) {
          child.kill('SIGKILL');
          expect(await exited(child)).toBe(null); // killed by the signal, no exit code
          killed = true;
          child = capture.spawn(['capture', '--config', file]);
        }
      }
      // make sure the capture is mid-stream when it is killed, even on a fast writer
      if (!killed) await waitFor('part of the stream in Kafka', () => collector.of(topic).length >= CHANGES / 5, 60_000);
    }
    if (!killed) {
      child.kill('SIGKILL');
      await exited(child);
      killed = true;
      child = capture.spawn(['capture', '--config', file]);
    }
    const positions = () => new Set(collector.of(topic).map((e) => e.event.position));
    await waitFor(`all ${CHANGES} changes in Kafka`, () => positions().size >= CHANGES, 120_000, 250).catch((e: unknown) => {
      throw new Error(`${String(e)}\nchild output:\n${child.output.join('')}`);
    });
    const events = collector.of(topic);
    const perRow = new Map<number, string[]>();
    for (const e of events) {
      const id = Number(e.event.key.id);
      perRow.set(id, [...(perRow.get(id) ?? []), `${e.event.op}:${String(e.event.after?.v)}`]);
    }
    expect(perRow.size).toBe(rows);
    for (const [id, ops] of perRow) {
      // in order per row; a duplicate repeats the same event right after itself (re-read batch)
      const distinct = ops.filter((o, i) => i === 0 || o !== ops[i - 1]);
      expect(distinct, `row ${id}`).toEqual(['insert:0', 'update:1']);
    }
    const duplicates = events.length - positions().size;
    const counts = new Map<string, number>();
    for (const e of events) counts.set(e.event.position, (counts.get(e.event.position) ?? 0) + 1);
    const dupSeqs = [...counts].filter(([, n]) => n > 1).map(([p]) => BigInt(p.slice('outbox:'.length))).sort((x, y) => (x < y ? -1 : 1));
    expect(duplicates).toBeLessThanOrEqual(BATCH);
    if (dupSeqs.length > 0) expect(dupSeqs[dupSeqs.length - 1]! - dupSeqs[0]!).toBeLessThan(BigInt(BATCH)); // one batch's range
    await waitFor('the checkpoint at the last change', async () => (await checkpoint()) >= BigInt(events.reduce((m, e) => Math.max(m, Number(e.event.position.slice(7))), 0)));
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

});
