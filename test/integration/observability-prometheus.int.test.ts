/**
 * A real Prometheus scrapes a running capture and applier during a small stream:
 *
 *   PostgreSQL table (trigger outbox) --capture--> Kafka --applier--> MariaDB table
 *
 * Both services run as child processes (`node bin/fieldsync.mjs capture|applier`), each on
 * its own free metrics port; Prometheus (Debian's package) runs on a free loopback port,
 * scrapes both every second and loads the project's alert rules. Then:
 *   - the end-to-end lag quantile and the applied-events rate return data;
 *   - every metric name used by the dashboards and alert rules is in the live /metrics of
 *     the running services (histogram _bucket/_sum/_count count as the histogram);
 *   - every dashboard expression is accepted by Prometheus' query engine;
 *   - the alert rules loaded and evaluate without errors.
 * Size: FIELDSYNC_OBS_ROWS rows (default 600) written over a few seconds.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { spawnFieldsync, killAll, writeTempConfig, type ServiceProcess } from '../support/applier-harness.js';
import { alertExpressions, dashboardExpressions, dashboards, DEPLOY, PROMETHEUS_SYNTHETIC } from '../support/deploy-files.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { freePort } from '../support/private-db.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus-server.js';
import { baseMetricName, exposedMetricTypes, metricNames } from '../support/promql.js';

const ROWS = Number(process.env.FIELDSYNC_OBS_ROWS ?? 600);
const table = uniqueName('obs');
const fsSchema = uniqueName('fs');
const pg = openPostgres(stack.pgUrl());
const maria = openMysql(stack.mysqlUrl());
const procs: ServiceProcess[] = [];
const cleanup: (() => unknown)[] = [];
let prom: PrometheusServer;
let capturePort: number;
let applierPort: number;

function config(httpPort: number, prefix: string): FieldsyncConfig {
  return stackConfig({
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
    databases: {
      billing: { dialect: 'postgres', url: stack.pgUrl(), fieldsyncSchema: fsSchema, origin: uniqueName('o') },
      invoice: { dialect: 'mysql', url: stack.mysqlUrl() },
    },
    capture: [{ source: 'billing', mode: 'outbox', pollIntervalMs: 100, tables: [{ name: `public.${table}` }] }],
    // its own consumer group: the default one (fieldsync-applier-invoice) is shared with other
    // tests, and joining it waited up to 30 s for members those tests had killed
    applier: [{ target: 'invoice', groupId: uniqueName('g-obs'), batchMaxWaitMs: 50, tables: [{ from: `billing.public.${table}`, into: table }] }],
    http: { host: '127.0.0.1', port: httpPort },
  });
}

async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Grafana variables and macros replaced so Prometheus can run the dashboard query as is. */
function runnable(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '30s').replace(/\$\{?[A-Za-z_]\w*\}?/g, '.*');
}

beforeAll(async () => {
  await pg.execute(`CREATE TABLE public.${pg.dialect.quote(table)} (id bigint PRIMARY KEY, email text, balance numeric(12,2), seen_at timestamptz(6))`);
  cleanup.push(async () => {
    await pg.execute(`DROP TABLE IF EXISTS public.${pg.dialect.quote(table)}`);
    await pg.execute(`DROP SCHEMA IF EXISTS ${pg.dialect.quote(fsSchema)} CASCADE`);
    await maria.execute(`DROP TABLE IF EXISTS ${maria.dialect.quote(table)}`);
  });
  capturePort = await freePort();
  applierPort = await freePort();
  const prefix = uniqueName('t');
  const captureFile = writeTempConfig(config(capturePort, prefix));
  const applierFile = writeTempConfig(config(applierPort, prefix));
  cleanup.push(captureFile.remove, applierFile.remove);

  const install = spawnFieldsync(['capture', '--config', captureFile.path, 'install', '--config', captureFile.path]);
  procs.push(install);
  expect(await install.exited, install.output()).toBe(0);

  procs.push(spawnFieldsync(['capture', '--config', captureFile.path]));
  procs.push(spawnFieldsync(['applier', '--config', applierFile.path]));
  prom = await startPrometheus({
    jobs: { 'fieldsync-capture': [`127.0.0.1:${capturePort}`], 'fieldsync-applier': [`127.0.0.1:${applierPort}`] },
    ruleFiles: [join(DEPLOY, 'prometheus', 'alerts.yml')],
  });
  cleanup.push(() => prom.stop());
  for (const port of [capturePort, applierPort]) {
    await waitFor(`the service on :${port} to be ready`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 90_000, 250);
  }
  // Prometheus's first scrapes come a few seconds after it starts: the stream must not be
  // over before Prometheus has seen both services once
  await waitFor('Prometheus to have scraped both services', async () => {
    const r = await prom.query('up{job=~"fieldsync.*"} == 1');
    return (r.data?.result.length ?? 0) === 2;
  }, 60_000, 250);
}, 180_000);

afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  await pg.close();
  await maria.close();
});

describe('Prometheus scrapes capture and applier during a stream', () => {
  it('end-to-end lag and applied-events rate return data; the alert rules evaluate', async () => {
    // the stream: inserts in small transactions over a few seconds, then an update of every row
    const q = `public.${pg.dialect.quote(table)}`;
    const perTx = 25;
    for (let id = 1; id <= ROWS; id += perTx) {
      const ids = Array.from({ length: Math.min(perTx, ROWS - id + 1) }, (_, i) => id + i);
      await pg.execute(`INSERT INTO ${q} (id, email, balance, seen_at) SELECT i, 'c' || i || '@example.com', i * 1.25, now() FROM unnest($1::bigint[]) AS i`, [ids]);
      await new Promise((r) => setTimeout(r, 100)); // pacing of the writer (the test waits by polling below)
    }
    await pg.execute(`UPDATE ${q} SET balance = balance + 1`);
    const target = maria.dialect.quote(table);
    await waitFor(`${ROWS} updated rows in the MariaDB target`, async () => {
      const rows = await maria.query(`SELECT count(*) AS n FROM ${target} WHERE balance = id * 1.25 + 1`).catch(() => [{ n: 0 }]);
      return Number(rows[0]?.n) === ROWS;
    }, 120_000, 250);

    const hasData = async (expr: string) => {
      const r = await prom.query(expr);
      expect(r.status, `${expr}: ${r.error ?? ''}`).toBe('success');
      const values = (r.data?.result ?? []).map((s) => Number(s.value[1])).filter((v) => Number.isFinite(v));
      return values.length > 0 ? values : undefined;
    };
    // The p95 over all observations so far: a rate() form has no data when the scrapes that
    // bracket the stream's increase are missed (seen on a loaded machine: the quantile of
    // all-zero rates is NaN); the dashboards' rate() queries are checked by the next test.
    const lag = await waitFor('the end-to-end lag p95 from Prometheus', () => hasData('histogram_quantile(0.95, sum by (le) (fieldsync_end_to_end_lag_seconds_bucket))'), 60_000, 1000);
    expect(lag[0]).toBeGreaterThanOrEqual(0);
    // rate() needs two scrapes around an increase: should the applier apply the whole stream
    // between two scrapes (scrapes time out on a loaded machine), the series first appears at
    // its final value and shows no increase; so the stream goes on (one change per poll) until
    // the rate shows
    let tick = 0;
    const rate = await waitFor('the applied-events rate from Prometheus', async () => {
      await pg.execute(`UPDATE ${q} SET email = $1 WHERE id = 1`, [`tick${++tick}@example.com`]);
      const v = await hasData(`sum(rate(fieldsync_applier_events_total{table="${table}"}[2m]))`);
      return v && v[0]! > 0 ? v : undefined;
    }, 60_000, 1000);
    expect(rate[0]).toBeGreaterThan(0);
    // the scrape lags the stream by up to one scrape interval: poll until the counter has caught up
    const captured = await waitFor('every captured event counted in Prometheus', async () => {
      const v = await hasData('sum(fieldsync_capture_events_total)');
      return v && v[0]! >= 2 * ROWS ? v : undefined;
    }, 30_000, 1000);
    expect(captured[0]).toBeGreaterThanOrEqual(2 * ROWS);
    const applied = await waitFor('every applied event counted', async () => {
      const v = await hasData(`sum(fieldsync_applier_events_total{table="${table}"})`);
      return v && v[0]! >= 2 * ROWS ? v : undefined;
    }, 30_000, 1000);
    expect(applied[0]).toBeGreaterThanOrEqual(2 * ROWS);
    process.stdout.write(`observability: ${ROWS} rows + ${ROWS} updates; Prometheus p95 end-to-end lag ${lag[0]!.toFixed(3)} s, applied rate ${rate[0]!.toPrecision(2)} events/s (2 min window)\n`);

    // both targets are up for Prometheus, and the project's rules loaded and evaluate cleanly
    const up = await hasData('min(up{job=~"fieldsync.*"})');
    expect(up?.[0]).toBe(1);
    const rules = await prom.api<{ data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } }>('/api/v1/rules');
    const all = rules.data.groups.flatMap((g) => g.rules);
    expect(all.length).toBe(alertExpressions().length);
    await waitFor('every alert rule evaluated', async () => {
      const r = await prom.api<{ data: { groups: { rules: { health: string }[] }[] } }>('/api/v1/rules');
      return r.data.groups.flatMap((g) => g.rules).every((x) => x.health === 'ok');
    }, 30_000, 500);
  }, 240_000);

  it('every metric of the dashboards and alert rules is exposed by the running services', async () => {
    const exposed = new Map([...exposedMetricTypes(await metricsText(capturePort)), ...exposedMetricTypes(await metricsText(applierPort))]);
    const histograms = new Set([...exposed].filter(([, t]) => t === 'histogram').map(([n]) => n));
    const exprs = [...dashboards().flatMap(dashboardExpressions), ...alertExpressions()];
    const missing: string[] = [];
    for (const { where, expr } of exprs) {
      for (const name of metricNames(expr)) {
        const base = baseMetricName(name, histograms);
        if (!exposed.has(base) && !PROMETHEUS_SYNTHETIC.has(name)) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    // the applier really exposes its series with labels (not only the declarations)
    expect(await metricsText(applierPort)).toMatch(new RegExp(`fieldsync_end_to_end_lag_seconds_bucket\\{[^}]*table="${table}"`));
  });

  it('Prometheus accepts every dashboard query, and the core panels show data', async () => {
    const failures: string[] = [];
    for (const { where, expr } of dashboards().flatMap(dashboardExpressions)) {
      const r = await prom.query(runnable(expr));
      if (r.status !== 'success') failures.push(`${where}: ${r.error ?? 'error'}`);
    }
    expect(failures).toEqual([]);
    const overview = dashboards().find((d) => d.json.uid === 'fieldsync-overview')!;
    for (const title of ['Events applied / s by target', 'End-to-end lag (apply time − origin commit time)', 'Events captured / s by source']) {
      const panel = overview.json.panels.find((p) => p.title === title)!;
      const r = await prom.query(runnable(panel.targets![0]!.expr));
      expect(r.data?.result.length, title).toBeGreaterThan(0);
    }
  });
});
