import { describe, expect, it } from 'vitest';
import { DataError, FieldsyncError } from '../errors.js';
import { BREAKER_STATE, registry } from '../observability/metrics.js';
import { waitFor } from '../../test/support/helpers.js';
import { TargetBreaker, isBreakerOpenError } from './breaker.js';

const cfg = { timeoutMs: 1000, errorThresholdPercentage: 50, resetTimeoutMs: 100, volumeThreshold: 2 };

async function stateMetric(name: string): Promise<number | undefined> {
  const m = await registry.getSingleMetric('fieldsync_circuit_breaker_state')?.get();
  return m?.values.find((v) => v.labels.name === name)?.value;
}

describe('TargetBreaker', () => {
  it('opens after transient failures, fails fast while open, closes after a good half-open probe', async () => {
    const events: string[] = [];
    const b = new TargetBreaker('applier', 'unit-open', cfg, { onOpen: () => events.push('open'), onHalfOpen: () => events.push('half'), onClose: () => events.push('close') });
    const down = () => Promise.reject(new FieldsyncError('connection refused', { retriable: true }));
    await expect(b.fire(down)).rejects.toThrow('connection refused');
    await expect(b.fire(down)).rejects.toThrow('connection refused');
    expect(b.state).toBe('open');
    expect(await stateMetric('unit-open')).toBe(BREAKER_STATE.open);
    let called = false;
    const err = await b.fire(async () => { called = true; }).catch((e: unknown) => e);
    expect(isBreakerOpenError(err)).toBe(true);
    expect(called).toBe(false);
    await waitFor('half-open', () => b.state === 'halfOpen', 2000, 10);
    await expect(b.fire(async () => 'ok')).resolves.toBe('ok');
    expect(b.state).toBe('closed');
    expect(await stateMetric('unit-open')).toBe(BREAKER_STATE.closed);
    expect(events).toEqual(['open', 'half', 'close']);
    b.shutdown();
  });

  it('does not count data errors against the target', async () => {
    const b = new TargetBreaker('applier', 'unit-data', cfg);
    for (let i = 0; i < 5; i++) await expect(b.fire(() => Promise.reject(new DataError('bad row')))).rejects.toThrow('bad row');
    expect(b.state).toBe('closed');
    b.shutdown();
  });
});
