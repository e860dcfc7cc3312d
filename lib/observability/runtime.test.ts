/**
 * The shared service runtime and readiness checks: /readyz is 503 while the service is
 * starting (no check registered), follows its checks, bounds a hanging check by its
 * deadline; SIGTERM aborts the signal, runs the shutdown hooks in reverse order while
 * /readyz says "shutting down", reports a failing hook with exit code 1 and closes the
 * server last. Real HTTP on a loopback port; no mocks of the server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/helpers.js';
import { dbReachable, lagBelow, withDeadline } from './readiness.js';
import { startServiceRuntime, type ServiceRuntime } from './runtime.js';

const started: ServiceRuntime[] = [];
afterEach(async () => {
  for (const rt of started.splice(0)) await rt.shutdown('test end');
});

async function runtime(exitCodes: number[] = [], handleSignals = false): Promise<ServiceRuntime> {
  const rt = await startServiceRuntime({ service: `unit-${started.length}`, http: { host: '127.0.0.1', port: 0 }, handleSignals, onStopped: (c) => exitCodes.push(c), shutdownTimeoutMs: 2000 });
  started.push(rt);
  return rt;
}
const get = async (rt: ServiceRuntime, path: string) => {
  const r = await fetch(`http://127.0.0.1:${rt.port}${path}`);
  return { status: r.status, text: await r.text() };
};

describe('service runtime', () => {
  it('is alive at once, not ready until a check is registered, then follows its checks', async () => {
    const rt = await runtime();
    expect((await get(rt, '/healthz')).status).toBe(200);
    const starting = await get(rt, '/readyz');
    expect(starting.status).toBe(503);
    expect(starting.text).toMatch(/starting/);
    let reason: string | undefined = 'database down';
    rt.addReadinessCheck('target', () => Promise.resolve(reason));
    expect(await get(rt, '/readyz')).toEqual({ status: 503, text: 'not ready\ntarget: database down\n' });
    expect((await get(rt, '/metrics')).text).toMatch(/fieldsync_up\{service="unit-0"\} 0/);
    reason = undefined;
    expect(await get(rt, '/readyz')).toEqual({ status: 200, text: 'ready\n' });
    expect((await get(rt, '/metrics')).text).toMatch(/fieldsync_up\{service="unit-0"\} 1/);
    rt.addReadinessCheck('thrower', () => Promise.reject(new Error('boom')));
    expect((await get(rt, '/readyz')).text).toContain('thrower: boom');
    rt.removeReadinessCheck('thrower');
    expect((await get(rt, '/readyz')).status).toBe(200);
  });

  it('SIGTERM: aborts the signal, runs hooks in reverse order while not ready, closes the server, exit code 0', async () => {
    const codes: number[] = [];
    const listenersBefore = process.listenerCount('SIGTERM');
    const rt = await runtime(codes, true);
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore + 1);
    rt.addReadinessCheck('ok', () => Promise.resolve(undefined));
    const order: string[] = [];
    let readyDuringShutdown: number | undefined;
    rt.onShutdown('first opened', () => { order.push('first'); });
    rt.onShutdown('last opened', async () => {
      order.push('last');
      readyDuringShutdown = (await get(rt, '/readyz')).status;
    });
    process.emit('SIGTERM', 'SIGTERM');
    await rt.stopped;
    expect(rt.signal.aborted).toBe(true);
    expect(order).toEqual(['last', 'first']);
    expect(readyDuringShutdown).toBe(503);
    expect(codes).toEqual([0]);
    await expect(fetch(`http://127.0.0.1:${rt.port}/healthz`)).rejects.toThrow();
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore);
  });

  it('a failing or hanging hook is reported with exit code 1 and the other hooks still run', async () => {
    const codes: number[] = [];
    const rt = await runtime(codes);
    const ran: string[] = [];
    rt.onShutdown('a', () => { ran.push('a'); });
    rt.onShutdown('hangs', () => new Promise<void>(() => undefined));
    rt.onShutdown('fails', () => { throw new Error('close failed'); });
    await rt.shutdown('test');
    await rt.shutdown('again'); // idempotent
    expect(ran).toEqual(['a']);
    expect(codes).toEqual([1]);
  });
});

describe('readiness checks', () => {
  it('a hanging database query is "not ready" after the deadline, a failing one at once', async () => {
    const hanging = dbReachable({ query: () => new Promise(() => undefined) }, 50);
    expect(await hanging()).toBe('database did not answer within 50 ms');
    const failing = dbReachable({ query: () => Promise.reject(new Error('ECONNREFUSED')) }, 1000);
    expect(await failing()).toBe('database failed: ECONNREFUSED');
    const fine = dbReachable({ query: () => Promise.resolve([]) }, 1000);
    expect(await fine()).toBeUndefined();
    expect(await withDeadline(() => Promise.resolve('x'), 10, 'probe')).toBe('x');
  });

  it('lag below a bound; unknown lag is ready', async () => {
    let lag: number | undefined;
    const check = lagBelow(() => lag, 60_000, 'consumer lag');
    expect(await check()).toBeUndefined();
    lag = 59;
    expect(await check()).toBeUndefined();
    lag = 61.25;
    expect(await check()).toBe('consumer lag 61.3 s is above 60.0 s');
  });
});

describe('fieldsync_up without anyone polling /readyz', () => {
  it('the runtime evaluates its checks periodically', async () => {
    const rt = await startServiceRuntime({ service: 'unit-periodic', http: { host: '127.0.0.1', port: 0 }, handleSignals: false, onStopped: () => undefined, readinessIntervalMs: 50 });
    started.push(rt);
    const up = async () => /fieldsync_up\{service="unit-periodic"\} (\d)/.exec((await get(rt, '/metrics')).text)?.[1];
    expect(await up()).toBe('0');
    rt.addReadinessCheck('ok', () => Promise.resolve(undefined));
    expect(await waitFor('fieldsync_up to turn 1 by itself', async () => ((await up()) === '1' ? '1' : undefined), 5000, 20)).toBe('1');
  });
});
