/**
 * What the /readyz tests on a private MariaDB (observability-readyz*.int.test.ts) share: the
 * private server (the shared servers are never stopped) with the service processes and
 * cleanups of the file's tests, and a wait for a given /readyz status.
 */
import { afterAll, beforeAll } from 'vitest';
import { killAll, type ServiceProcess } from './applier-harness.js';
import { waitFor } from './helpers.js';
import { startPrivateMariadb, type PrivateDb } from './private-db.js';

export interface PrivateMariadbFixture {
  /** The private server, with a database `app` (started before the file's tests). */
  readonly maria: PrivateDb;
  /** Processes killed after the file. */
  readonly procs: ServiceProcess[];
  /** Run after the processes are killed, last pushed first, before the server is destroyed. */
  readonly cleanup: (() => unknown)[];
}

/** Starts the private MariaDB before the tests of the file (call at its top level) and destroys it after. */
export function usePrivateMariadb(): PrivateMariadbFixture {
  let maria: PrivateDb | undefined;
  const procs: ServiceProcess[] = [];
  const cleanup: (() => unknown)[] = [];
  beforeAll(async () => {
    maria = await startPrivateMariadb({ databases: ['app'] });
  }, 120_000);
  afterAll(async () => {
    await killAll(procs);
    for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
    await maria?.destroy();
  });
  return {
    get maria() {
      if (!maria) throw new Error('the private MariaDB starts in beforeAll: use it inside a test');
      return maria;
    },
    procs,
    cleanup,
  };
}

export interface ReadyzAnswer { status: number; text: string }

async function readyz(port: number): Promise<ReadyzAnswer> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: r.status, text: await r.text() };
}

/** Waits for /readyz to answer `status`; on timeout the error carries the last answer. */
export async function waitForReadyz(port: number, status: number, what: string, timeoutMs = 60_000): Promise<ReadyzAnswer> {
  let last: ReadyzAnswer | undefined;
  try {
    return await waitFor(what, async () => { last = await readyz(port); return last.status === status ? last : undefined; }, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${String(e)}; last /readyz answer: ${last ? `${last.status} ${last.text}` : 'none'}`);
  }
}
