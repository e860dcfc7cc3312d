/**
 * Rebalances: two applier processes in one consumer group share a target. The second
 * joins mid-stream (the partitions are split: each process seeks the partitions it gets to
 * the offsets stored in the target, not to the group's advisory commit), then the first
 * is killed with SIGKILL mid-stream (its partitions move to the survivor after the session
 * timeout, again from the target's offsets). The target ends exactly at the expected
 * state with its offsets at the topic's end.
 */
import { describe, expect, it } from 'vitest';
import {
  StreamModel, clientsStream, endOffsets, offsetsAtEnd, waitForLog, waitWhileRunning,
} from '../support/applier-harness.js';
import { useApplierRuns } from '../support/applier-run.js';

const runs = useApplierRuns();

describe('applier rebalance', () => {
  it('two members share the partitions, one joins and one dies mid-stream, the target is exact', async () => {
    const run = await runs.open({ name: 'rebal', partitions: 4, batchSize: 300 });
    const { topic, source, publisher, admin, sink, consumer, applied } = run;
    const stream = clientsStream({ events: 12_000, keys: 800, origin: 'billing', seed: 31 });

    await publisher.publish(stream.slice(0, 4000));
    const a = run.startApplier({ FIELDSYNC_LOG_LEVEL: 'info' });
    await waitWhileRunning(a, 'the first member to apply', async () => (await applied()) > 0n, 60_000);

    // the second member joins: a rebalance while the first is applying
    const b = run.startApplier({ FIELDSYNC_LOG_LEVEL: 'info' });
    await waitForLog(b, /"assignment":\{"[^"]+":\[\d/);
    await publisher.publish(stream.slice(4000, 8000));
    // the second member read its partitions' positions from the target and applies them
    await waitWhileRunning(b, 'the second member to apply its partitions', async () => /partition position/.test(b.output()) && (await applied()) > 4000n, 90_000);

    // the first dies without leaving the group; the survivor takes its partitions over
    await publisher.publish(stream.slice(8000));
    a.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const ends = await endOffsets(admin, topic);
    await waitWhileRunning(b, 'the survivor to apply everything', async () => offsetsAtEnd(await sink.storedOffsets(consumer), topic, ends), 120_000);

    const model = new StreamModel(source);
    for (const e of stream) model.apply(e);
    expect(await run.targetRows()).toEqual(model.finalRows());
    // the survivor was assigned partitions twice (join, then takeover)
    expect((b.output().match(/partitions assigned/g) ?? []).length).toBeGreaterThanOrEqual(2);
    b.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 240_000);
});
