/**
 * The chaos scenario, start to end:
 *
 *  1. private PostgreSQL, MariaDB and Kafka; tables; `capture install`, `applier install`;
 *     capture and applier services for both directions under the supervisor;
 *  2. writers on both sides produce a steady two-way stream (workload.ts) while the
 *     reconciler refreshes accounts again and again;
 *  3. faults at random moments (seeded): every kind once, in random order, then random
 *     kinds until the stream's time is up — kill -9 of each service and of a reconcile,
 *     broker restart, database restarts, a poison message, a value the target cannot hold;
 *  4. the writers stop; with no manual step the suite waits (with a deadline) until every
 *     service is ready again and both databases equal the model, runs one clean reconcile
 *     and `fieldsync verify` in both directions, reads the dead-letter topic, and reports.
 *
 * The report counts faults injected, restarts, events, duplicates absorbed and data lost;
 * `ok` is true only when data lost is 0, verify passed, the dead letters are exactly the
 * injected ones, every service is ready and the final reconcile succeeded.
 */
import { SERVICE_NAMES, installAndStart, startChaosCluster, type ChaosCluster, type ServiceName } from './cluster.js';
import { applierLag, checkDeadLetters, compareWithModel, lostCount, topicMessages, totalLag, type DeadLetterCheck, type ModelDiff } from './checks.js';
import { FAULT_KINDS, FaultInjector, type FaultKind } from './faults.js';
import { ReconcileLoop } from './reconcile-loop.js';
import { Model, Writer, rng } from './workload.js';

export interface ChaosOptions {
  /** How long the stream runs while faults are injected. */
  streamMs: number;
  /** Changes per second written on each side. */
  ratePerSide: number;
  seed?: number;
  /** Deadline for convergence after the stream stops. */
  convergeTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface ChaosReport {
  ok: boolean;
  problems: string[];
  seed: number;
  durationSeconds: number;
  faults: Record<FaultKind, number>;
  faultsInjected: number;
  restarts: Record<ServiceName, number>;
  /** Exits of a service that no fault caused (it gave up, e.g. on a broker that was down). */
  selfExits: Record<ServiceName, number>;
  reconcile: { runs: number; succeeded: number; failed: number; killed: number; finalExitCode: number | string };
  events: { written: number; inTopics: number; duplicatesAbsorbed: number; missingFromTopics: number; perTopic: Record<string, { written: number; inTopic: number }> };
  deadLetters: DeadLetterCheck;
  dataLost: number;
  /** Messages each applier had not applied when the comparison ended (`<target> <table>`). */
  applierLag: Record<string, number>;
  modelDiff: ModelDiff;
  verify: { pgToMaria: number | string; mariaToPg: number | string };
  ready: Record<ServiceName, boolean>;
  peakRssMiB: Record<string, number>;
  writerErrors: { pg: number; maria: number; last: string[] };
  logsDir: string;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const seed = opts.seed ?? (Date.now() % 1_000_000);
  const random = rng(seed);
  const started = Date.now();
  log(`seed ${seed}`);
  const c: ChaosCluster = await startChaosCluster(log);
  try {
    await installAndStart(c, log);
    const model = new Model();
    const writers = {} as { pg: Writer; maria: Writer };
    writers.pg = new Writer('pg', c.pgDb, model, () => writers.maria.createdIds(), seed + 1, true);
    writers.maria = new Writer('maria', c.mariaDb, model, () => writers.pg.createdIds(), seed + 2, false);
    const reconcile = new ReconcileLoop(c, 'public.accounts', 2000);
    const faults = new FaultInjector(c, writers, model, reconcile, random, log);

    log(`stream: ${opts.ratePerSide} changes/s per side for ${Math.round(opts.streamMs / 1000)} s, with faults`);
    writers.pg.start(opts.ratePerSide);
    writers.maria.start(opts.ratePerSide);
    await sleep(2000);
    reconcile.start();

    // Every kind once in random order, then random kinds while the stream's time lasts.
    const plan: FaultKind[] = [...FAULT_KINDS].sort(() => random() - 0.5);
    const streamEnd = Date.now() + opts.streamMs;
    const gapMs = Math.max(500, Math.floor(opts.streamMs / (FAULT_KINDS.length + 2)));
    for (let i = 0; Date.now() < streamEnd || i < FAULT_KINDS.length; i++) {
      await sleep(gapMs / 2 + random() * gapMs);
      await faults.inject(plan[i] ?? FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!);
    }
    log(`stream stops after ${faults.total} faults`);
    await writers.pg.stop();
    await writers.maria.stop();
    await reconcile.stop();

    return await settleAndReport(c, opts, { seed, started, model, writers, reconcile, faults, log });
  } finally {
    await c.destroy().catch((e: unknown) => log(`clean-up failed: ${String(e)}`));
  }
}

interface RunState {
  seed: number;
  started: number;
  model: Model;
  writers: { pg: Writer; maria: Writer };
  reconcile: ReconcileLoop;
  faults: FaultInjector;
  log: (m: string) => void;
}

async function settleAndReport(c: ChaosCluster, opts: ChaosOptions, s: RunState): Promise<ChaosReport> {
  const { model, log } = s;
  const problems: string[] = [];
  const deadline = Date.now() + (opts.convergeTimeoutMs ?? 180_000);
  const remaining = () => Math.max(1000, deadline - Date.now());

  log('waiting for every service to be ready again ...');
  const ready = {} as Record<ServiceName, boolean>;
  for (const name of SERVICE_NAMES) {
    ready[name] = await c.services[name].waitReady(remaining()).then(() => true, () => false);
    if (!ready[name]) problems.push(`${name} is not ready: ${c.services[name].logTail(5)}`);
  }
  log('final reconcile (no fault) ...');
  const finalExitCode = await s.reconcile.cleanRun();
  if (finalExitCode !== 0) problems.push(`the final reconcile exited ${finalExitCode}`);
  // every kill-reconciler fault must have killed a run in progress (not one already over)
  const reconcilerKills = s.faults.counts['kill-reconciler'];
  if (s.reconcile.killed !== reconcilerKills) problems.push(`${reconcilerKills} kill-reconciler faults killed ${s.reconcile.killed} runs`);

  // Until the deadline, wait for the databases to equal the model; past it, keep waiting
  // (half as long again) only while an applier has not applied its whole topic: a busy
  // machine is slow, not lossy. A target that differs once every applier has applied
  // everything has lost data.
  log('waiting for both databases to equal the model ...');
  const lateDeadline = deadline + (opts.convergeTimeoutMs ?? 180_000) / 2;
  let diff = await compareWithModel(c, model);
  let lag = await applierLag(c).catch(() => ({}));
  while (lostCount(diff) > 0 && Date.now() < (totalLag(lag) > 0 ? lateDeadline : deadline)) {
    await sleep(1000);
    diff = await compareWithModel(c, model);
    lag = await applierLag(c).catch(() => ({}));
  }
  const dataLost = lostCount(diff);
  if (dataLost > 0) {
    const behind = Object.entries(lag).filter(([, n]) => n !== 0).map(([k, n]) => `${k}: ${n < 0 ? 'unknown' : `${n} messages`}`);
    // The lagging appliers' last log lines go into the report: on a CI machine they are all there is.
    const tails = [...new Set(Object.entries(lag).filter(([, n]) => n !== 0).map(([k]) => `applier-${k.split(' ')[0]}`))]
      .filter((n): n is ServiceName => (SERVICE_NAMES as readonly string[]).includes(n)).map((n) => `${n} log: ${c.services[n].logTail(5)}`);
    const why = behind.length ? `appliers not caught up: ${behind.join(', ')}; ${tails.join('; ')}` : 'every applier has applied its whole topic';
    problems.push(`data lost: ${dataLost}; ${why} (${diff.examples.slice(0, 5).join('; ')})`);
  }

  log('fieldsync verify, both directions ...');
  const pgToMaria = await c.run(['verify', '--config', c.configFile, '--source', 'pg', '--target', 'maria'], 'verify-pg-maria').done;
  const mariaToPg = await c.run(['verify', '--config', c.configFile, '--source', 'maria', '--target', 'pg'], 'verify-maria-pg').done;
  if (pgToMaria !== 0) problems.push(`verify pg → maria exited ${pgToMaria}`);
  if (mariaToPg !== 0) problems.push(`verify maria → pg exited ${mariaToPg}`);

  log('reading the dead-letter topic ...');
  const deadLetters = await checkDeadLetters(c, s.faults.injected);
  if (deadLetters.unexpected.length) problems.push(`unexpected dead letters: ${deadLetters.unexpected.join(', ')}`);
  if (deadLetters.missing.length) problems.push(`injected bad messages not dead-lettered: ${deadLetters.missing.join(', ')}`);

  const poisonOn = (topic: string) => s.faults.injected.filter((i) => i.kind === 'poison' && i.topic === topic).length;
  const perTopic: Record<string, { written: number; inTopic: number }> = {
    [c.topics.pgClients]: { written: model.writes.pg.clients, inTopic: (await topicMessages(c, c.topics.pgClients)) - poisonOn(c.topics.pgClients) },
    [c.topics.pgAccounts]: { written: model.writes.pg.accounts, inTopic: await topicMessages(c, c.topics.pgAccounts) },
    [c.topics.mariaClients]: { written: model.writes.maria.clients, inTopic: await topicMessages(c, c.topics.mariaClients) },
  };
  const written = Object.values(perTopic).reduce((a, t) => a + t.written, 0);
  const inTopics = Object.values(perTopic).reduce((a, t) => a + t.inTopic, 0);
  const duplicatesAbsorbed = Object.values(perTopic).reduce((a, t) => a + Math.max(0, t.inTopic - t.written), 0);
  const missingFromTopics = Object.values(perTopic).reduce((a, t) => a + Math.max(0, t.written - t.inTopic), 0);
  if (missingFromTopics > 0) problems.push(`${missingFromTopics} written changes are not in their topics`);

  const restarts = Object.fromEntries(SERVICE_NAMES.map((n) => [n, c.services[n].restarts])) as Record<ServiceName, number>;
  const selfExits = Object.fromEntries(SERVICE_NAMES.map((n) => [n, c.services[n].unexpectedExits - c.services[n].kills])) as Record<ServiceName, number>;
  const peakRssMiB: Record<string, number> = Object.fromEntries(SERVICE_NAMES.map((n) => [n, Math.round(c.services[n].peakRssMiB)]));
  peakRssMiB.reconcile = Math.round(s.reconcile.peakRssMiB);
  const writerErrors = { pg: s.writers.pg.errors, maria: s.writers.maria.errors, last: [s.writers.pg.lastError, s.writers.maria.lastError].filter(Boolean) };

  return {
    ok: problems.length === 0,
    problems,
    seed: s.seed,
    durationSeconds: Math.round((Date.now() - s.started) / 1000),
    faults: s.faults.counts,
    faultsInjected: s.faults.total,
    restarts,
    selfExits,
    reconcile: { runs: s.reconcile.runs, succeeded: s.reconcile.succeeded, failed: s.reconcile.failed, killed: s.reconcile.killed, finalExitCode },
    events: { written, inTopics, duplicatesAbsorbed, missingFromTopics, perTopic },
    deadLetters,
    dataLost,
    applierLag: lag,
    modelDiff: diff,
    verify: { pgToMaria, mariaToPg },
    ready,
    peakRssMiB,
    writerErrors,
    logsDir: c.dir,
  };
}
