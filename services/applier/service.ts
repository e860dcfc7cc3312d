/**
 * The applier service: one ApplyPipeline per configured target (or the targets chosen on
 * the command line) in one process, around the shared runtime (health server, SIGTERM).
 *
 *   /readyz  per target: the Kafka consumer is connected, the target answers a cheap
 *            query, the lag is below applier.maxReadyLagMs, and no table is blocked.
 *   SIGTERM  each pipeline finishes its flush in flight (rows and offsets commit
 *            together, or not at all), the consumer leaves the group, exit 0.
 *   failure  a pipeline that stops on an error (e.g. a retention gap, a programming
 *            error) shuts the service down with exit code 1: never skip and carry on.
 */
import { ApplyPipeline } from '../../lib/apply/pipeline.js';
import { latestTopicTable, tableRoutes } from '../../lib/apply/routes.js';
import type { ApplierConfig, FieldsyncConfig } from '../../lib/config/schema.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { ConfigError, errorMessage, wrap } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';
import { dbReachable, lagBelow } from '../../lib/observability/readiness.js';
import { startServiceRuntime } from '../../lib/observability/runtime.js';
import { retry } from '../../lib/retry.js';
import { createSink } from '../../lib/sink/index.js';

const log = logger('applier');

export function selectAppliers(cfg: FieldsyncConfig, targets: string[] | undefined): ApplierConfig[] {
  if (cfg.applier.length === 0) throw new ConfigError('the config has no applier section');
  if (!targets || targets.length === 0) return cfg.applier;
  return targets.map((t) => {
    const a = cfg.applier.find((x) => x.target === t);
    if (!a) throw new ConfigError(`no applier for target "${t}" in the config (known: ${cfg.applier.map((x) => x.target).join(', ')})`);
    return a;
  });
}

/**
 * `fieldsync applier install`: fieldsync's tables in each target, and for every table
 * whose topic already has a schema, the target table, its clock and tomb tables and the
 * local-edit triggers. Tables without a schema yet are prepared by the running applier
 * when their first event arrives.
 */
export async function installApplier(cfg: FieldsyncConfig, targets?: string[]): Promise<{ target: string; prepared: string[]; pending: string[] }[]> {
  const out: { target: string; prepared: string[]; pending: string[] }[] = [];
  const auth = cfg.registry.username ? { username: cfg.registry.username, password: cfg.registry.password ?? '' } : undefined;
  for (const a of selectAppliers(cfg, targets)) {
    const sink = createSink(cfg, a.target);
    const probe = openDb(cfg.databases[a.target]!, { poolSize: 1 });
    const report = { target: a.target, prepared: [] as string[], pending: [] as string[] };
    try {
      await retry(() => sink.connect(), { maxElapsedMs: 60_000 });
      await sink.install();
      for (const route of tableRoutes(cfg, a)) {
        // the topic's newest schema; before anything was published, the target table's own
        // columns (two-way sync: the table exists on both sides and its local edits must be
        // stamped from the start, before the first event arrives)
        const source = await latestTopicTable(cfg.registry.url, route.topic, auth)
          ?? await readTableSchema(probe, route.into.schema, route.into.name);
        if (!source) {
          report.pending.push(route.from);
          log.info({ target: a.target, table: route.from, topic: route.topic }, 'no schema published yet and no target table: the applier prepares this table when its first event arrives');
          continue;
        }
        await sink.prepareTable(source, route.into, { autoEvolve: route.config.autoEvolve, createTable: route.config.createTable });
        report.prepared.push(route.from);
        log.info({ target: a.target, table: route.from, into: route.into }, 'target table, clock, tomb and triggers ready');
      }
    } catch (e) {
      throw wrap(`unable to install applier target ${a.target}`, e);
    } finally {
      await sink.close().catch(() => undefined);
      await probe.close().catch(() => undefined);
    }
    out.push(report);
  }
  return out;
}

export async function runApplierService(cfg: FieldsyncConfig, targets?: string[], opts: { install?: boolean } = {}): Promise<void> {
  const appliers = selectAppliers(cfg, targets);
  const rt = await startServiceRuntime({ service: 'applier', http: cfg.http });
  try {
    if (opts.install) await installApplier(cfg, targets);
    for (const a of appliers) {
      const db = cfg.databases[a.target]!;
      const sink = createSink(cfg, a.target);
      rt.onShutdown(`sink ${a.target}`, () => sink.close());
      await retry(() => sink.connect(), { maxElapsedMs: 120_000, signal: rt.signal });
      await retry(() => sink.install(), { maxElapsedMs: 120_000, signal: rt.signal });
      const probe = openDb(db, { poolSize: 1 });
      rt.onShutdown(`probe ${a.target}`, () => probe.close());
      const pipeline = new ApplyPipeline({ config: cfg, applier: a, sink });
      rt.addReadinessCheck(`consumer ${a.target}`, () => Promise.resolve(pipeline.isConnected() ? undefined : 'Kafka consumer not connected'));
      rt.addReadinessCheck(`target ${a.target}`, dbReachable(probe));
      rt.addReadinessCheck(`lag ${a.target}`, lagBelow(() => pipeline.lagMs() / 1000, a.maxReadyLagMs));
      rt.addReadinessCheck(`tables ${a.target}`, () => {
        const blocked = pipeline.blockedTables();
        return Promise.resolve(blocked.length ? blocked.map((b) => `${b.table}: ${b.error}`).join('; ') : undefined);
      });
      // registered last: runs first at shutdown, before the sink it uses is closed
      rt.onShutdown(`pipeline ${a.target}`, () => pipeline.stop());
      await pipeline.start();
      pipeline.wait().catch((e: unknown) => { void rt.shutdown(`applier ${a.target} failed: ${errorMessage(e)}`, 1); });
    }
  } catch (e) {
    if (!rt.signal.aborted) {
      log.error({ err: e }, `applier failed to start: ${errorMessage(e)}`);
      await rt.shutdown(`start failed: ${errorMessage(e)}`, 1);
    }
  }
  await rt.stopped;
}
