/**
 * The local stack script on its own ports and state directory (so the shared stack the
 * other tests use is never touched): `up` twice, `status`, `down` stops only what it
 * started and leaves the machine's PostgreSQL and MariaDB running.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stack } from '../support/helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('npm run stack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-stack-'));
  const env: NodeJS.ProcessEnv = { ...process.env, FIELDSYNC_STACK_DIR: dir };
  const run = (cmd: string) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/stack.ts', cmd], { env, encoding: 'utf8', timeout: 180_000 });

  afterAll(() => {
    run('down');
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up, is idempotent, and goes down without touching the databases', async () => {
    // Two free ports apart for Kafka (the controller uses port + 1).
    let kafkaPort = await freePort();
    while (await portOpen(kafkaPort + 1)) kafkaPort = await freePort();
    env.FIELDSYNC_KAFKA_PORT = String(kafkaPort);
    env.FIELDSYNC_REGISTRY_PORT = String(await freePort());
    delete env.FIELDSYNC_KAFKA_BROKERS;
    delete env.FIELDSYNC_REGISTRY_URL;

    const first = run('up');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/kafka: up on/);
    const second = run('up');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/kafka: already up/);
    expect(second.stdout).toMatch(/registry: already up/);
    expect(run('status').status).toBe(0);

    const down = run('down');
    expect(down.status, down.stderr).toBe(0);
    expect(await portOpen(kafkaPort)).toBe(false);
    expect(await portOpen(Number(env.FIELDSYNC_REGISTRY_PORT))).toBe(false);
    expect(await portOpen(stack.pgPort)).toBe(true);
    expect(await portOpen(stack.mysqlPort)).toBe(true);
  });

  it('says clearly when a port is taken by something else', async () => {
    const blocker = net.createServer((s) => s.end('not kafka')).listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/stack.ts', 'up'], {
      env: { ...env, FIELDSYNC_KAFKA_PORT: String(port), FIELDSYNC_REGISTRY_PORT: String(await freePort()) }, encoding: 'utf8', timeout: 120_000,
    });
    blocker.close();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`port ${port} is taken`));
  });
});
