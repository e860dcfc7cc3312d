/**
 * CRASH: the applier process is killed with SIGKILL at random moments — while starting,
 * while joining the group, in the middle of a batch transaction — at least 20 times
 * during a 100,000-change stream. A final run drains the topic. The target must then
 * hold exactly the expected state (no lost and no doubled effect under the merge rule)
 * and its stored offsets must equal the topic's end offsets; SIGTERM then stops the last
 * applier cleanly (exit 0).
 *
 * Sizes: FIELDSYNC_CRASH_EVENTS (default 100000) and FIELDSYNC_CRASH_KILLS (default 20).
 * The group session timeout is 6 s (the broker's minimum) so that a killed member's
 * partitions are reassigned quickly. Most of the run time is process start-up and the
 * group join after each kill; on a busy shared machine it takes several minutes, hence
 * the generous test timeout.
 */
import { describe, expect, it } from 'vitest';
import {
  StreamModel, clientsStream, endOffsets, offsetsAtEnd, prng, waitWhileRunning, type ServiceProcess,
} from '../support/applier-harness.js';
import { useApplierRuns } from '../support/applier-run.js';
import { waitFor } from '../support/helpers.js';

/** The kill moment itself (not a wait for a condition): resolves early if the process dies. */
function sleepUnlessExited(p: ServiceProcess, ms: number): Promise<unknown> {
  return Promise.race([p.exited, new Promise((r) => setTimeout(r, ms))]);
}

const EVENTS = Number(process.env.FIELDSYNC_CRASH_EVENTS ?? 100_000);
const KILLS = Number(process.env.FIELDSYNC_CRASH_KILLS ?? 20);

const runs = useApplierRuns();

describe('applier crash', () => {
  it(`converges exactly after ${KILLS} kill -9 during a ${EVENTS}-change stream`, async () => {
    const run = await runs.open({ name: 'crash', partitions: 3, batchSize: 500 });
    const { topic, source, publisher, admin, sink, consumer, applied } = run;
    const stream = clientsStream({ events: EVENTS, keys: Math.max(100, Math.floor(EVENTS / 20)), origin: 'billing', seed: 20261123 });

    // The stream is published in slices between the kills, so the applier is killed while
    // events keep arriving; the first slice is out before the first start.
    const slice = Math.ceil(EVENTS / (KILLS + 1));
    let published = 0;
    const publishSlice = async () => {
      const next = stream.slice(published, published + slice);
      await publisher.publish(next);
      published += next.length;
    };
    await publishSlice();

    const rnd = prng(4242);
    const started = Date.now();
    let killedWhileRunning = 0;
    const progress: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const p = run.startApplier({ FIELDSYNC_LOG_LEVEL: 'info' });
      const publishing = publishSlice();
      // A random moment. Half the kills land early (start-up, connecting, joining the
      // group); the other half after this process committed at least one batch, at a
      // random point of the batches that follow (usually inside a merge transaction).
      if (i % 2 === 0) {
        await sleepUnlessExited(p, 300 + Math.floor(rnd() * 1500));
      } else {
        const before = await applied();
        await waitWhileRunning(p, 'a batch committed by this applier', async () => (await applied()) > before, 90_000, 50);
        await sleepUnlessExited(p, Math.floor(rnd() * 3000));
      }
      if (p.proc.exitCode !== null) throw new Error(`applier exited on its own before kill ${i + 1}:\n${p.output()}`);
      p.kill('SIGKILL');
      expect(await p.exited).toBe('SIGKILL');
      killedWhileRunning++;
      await publishing;
      progress.push((await applied()).toString());
      process.stderr.write(`kill ${i + 1}/${KILLS} at ${Date.now() - started} ms: published ${published}, applied ${progress.at(-1)}\n`);
    }
    while (published < stream.length) await publishSlice();
    expect(killedWhileRunning).toBe(KILLS);

    // the final run drains the topic
    const last = run.startApplier();
    const ends = await endOffsets(admin, topic);
    expect([...ends.values()].reduce((a, b) => a + b, 0n)).toBe(BigInt(EVENTS));
    await waitFor('the target offsets to reach the end of the topic', async () => {
      if (last.proc.exitCode !== null) throw new Error(`final applier exited:\n${last.output()}`);
      return offsetsAtEnd(await sink.storedOffsets(consumer), topic, ends);
    }, 150_000, 500);

    process.stderr.write(`drained at ${Date.now() - started} ms\n`);
    const model = new StreamModel(source);
    for (const e of stream) model.apply(e);
    const rows = await run.targetRows();
    const expected = model.finalRows();
    expect(rows.length).toBe(expected.length);
    expect(rows).toEqual(expected);
    // the kills happened while the stream was being applied, not only before or after it
    expect(new Set(progress).size).toBeGreaterThanOrEqual(Math.floor(KILLS / 2));

    last.kill('SIGTERM');
    expect(await last.exited).toBe(0);
  }, 900_000);
});
