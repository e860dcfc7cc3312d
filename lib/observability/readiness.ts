/**
 * Readiness checks the services plug into /readyz. A check returns undefined when the
 * dependency is usable and a short reason otherwise; it never throws past its caller and
 * never hangs: every probe runs under a deadline, because a database that is stopped
 * (or a host that drops packets) can leave a query waiting far longer than a Kubernetes
 * probe's timeout, and a probe that times out is the same "not ready" as a refused one,
 * only later.
 *
 *   dbReachable(db)            SELECT 1 on the pool (target or source database)
 *   kafkaReachable(kafka)      describeCluster on a lazily connected admin client
 *   kafkaClientConnected(c)    follows a producer's or consumer's connect/disconnect/crash events
 *   lagBelow(lag, maxMs)       a lag in seconds (or undefined while unknown) under a bound
 */
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import type { Db } from '../dialect/dialect.js';
import { errorMessage } from '../errors.js';
import type { ReadinessCheck } from './http.js';

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

/** Resolve with the probe's reason, or with a timeout reason once `timeoutMs` has passed. */
export async function withDeadline(probe: () => Promise<string | undefined>, timeoutMs: number, what: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${what} did not answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([probe().catch((e: unknown) => `${what} failed: ${errorMessage(e)}`), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The database answers a trivial query through the service's own pool. */
export function dbReachable(db: Pick<Db, 'query'>, timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): ReadinessCheck {
  return () => withDeadline(async () => {
    await db.query('SELECT 1');
    return undefined;
  }, timeoutMs, 'database');
}

/**
 * The Kafka cluster answers a metadata request. The admin client is created on first use
 * and kept; after a failure it is dropped so the next probe reconnects from scratch.
 */
export function kafkaReachable(kafka: Pick<Kafka, 'admin'>, timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): ReadinessCheck & { close(): Promise<void> } {
  let admin: Admin | undefined;
  const check = (() => withDeadline(async () => {
    try {
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 ? undefined : 'kafka reports no brokers';
    } catch (e) {
      const stale = admin;
      admin = undefined;
      await stale?.disconnect().catch(() => undefined);
      throw e;
    }
  }, timeoutMs, 'kafka')) as ReadinessCheck & { close(): Promise<void> };
  check.close = async () => {
    const a = admin;
    admin = undefined;
    await a?.disconnect().catch(() => undefined);
  };
  return check;
}

/**
 * Follows a producer's or consumer's own connection events: ready between CONNECT and
 * DISCONNECT/CRASH. Register it before calling connect() so the first event is seen.
 */
export function kafkaClientConnected(client: Producer | Consumer, name = 'kafka client'): ReadinessCheck {
  let state: string | undefined = `${name} not connected yet`;
  // Producer and consumer share the `on(event, listener)` shape; only the event names differ.
  const emitter = client as unknown as { on(event: string, listener: () => void): unknown; events: Record<string, string> };
  const { CONNECT, DISCONNECT, CRASH } = emitter.events;
  if (CONNECT) emitter.on(CONNECT, () => { state = undefined; });
  if (DISCONNECT) emitter.on(DISCONNECT, () => { state = `${name} disconnected`; });
  if (CRASH) emitter.on(CRASH, () => { state = `${name} crashed`; });
  return () => Promise.resolve(state);
}

/** Ready while `lagSeconds()` is known and at most `maxMs`; unknown lag (nothing measured yet) counts as ready. */
export function lagBelow(lagSeconds: () => number | undefined, maxMs: number, what = 'lag'): ReadinessCheck {
  return () => {
    const lag = lagSeconds();
    if (lag === undefined || lag * 1000 <= maxMs) return Promise.resolve(undefined);
    return Promise.resolve(`${what} ${lag.toFixed(1)} s is above ${(maxMs / 1000).toFixed(1)} s`);
  };
}
