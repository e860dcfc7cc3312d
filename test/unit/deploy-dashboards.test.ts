/**
 * Grafana dashboards and alert rules against the metrics that exist: every PromQL
 * expression (panel targets, variable queries, alert rules) parses with Prometheus' own
 * grammar, and every metric it names is declared in lib/observability/metrics.ts
 * (histogram series _bucket/_sum/_count count as the histogram). The live /metrics of
 * running services is compared in test/integration/observability-prometheus.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, PROMETHEUS_UID, renderDashboards } from '../../scripts/build-dashboards.js';
import { alertExpressions, dashboardExpressions, dashboards, declaredLabels, declaredMetrics, PROMETHEUS_SYNTHETIC, provisionedDatasourceUids } from '../support/deploy-files.js';
import { baseMetricName, grafanaVariableQueryExpr, metricNames, selectors } from '../support/promql.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEPLOY } from '../support/deploy-files.js';

async function unknownNames(exprs: { where: string; expr: string }[], allowSynthetic: boolean): Promise<string[]> {
  const declared = await declaredMetrics();
  const histograms = new Set([...declared].filter(([, t]) => t === 'histogram').map(([n]) => n));
  const problems: string[] = [];
  for (const { where, expr } of exprs) {
    for (const name of metricNames(expr)) {
      const base = baseMetricName(name, histograms);
      if (declared.has(base) && (base === name || histograms.has(base))) continue;
      if (allowSynthetic && PROMETHEUS_SYNTHETIC.has(name)) continue;
      problems.push(`${where}: ${name}`);
    }
  }
  return problems;
}

describe('PromQL metric-name extraction', () => {
  it('finds selectors inside functions, aggregations, binary operators and __name__ matchers', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le, table) (rate(a_bucket{table=~"$table"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(x_total[5m])) / on(target) group_left sum(y) > 3 and z offset 1h')).toEqual(['x_total', 'y', 'z']);
    expect(metricNames('time() - max by (table) ({__name__="last_run", result="success"}) > 26 * 3600')).toEqual(['last_run']);
    expect(metricNames('vector(0)')).toEqual([]);
  });
  it('rejects an expression that does not parse', () => {
    expect(() => metricNames('sum(rate(x[5m])')).toThrow(/does not parse/);
  });
  it('reduces Grafana variable queries to their selector', () => {
    expect(grafanaVariableQueryExpr('label_values(fieldsync_applier_events_total{table=~"$table"}, target)')).toBe('fieldsync_applier_events_total{table=~"$table"}');
    expect(grafanaVariableQueryExpr('label_values(table)')).toBeUndefined();
  });
  it('flags a panel on a metric that no service declares', async () => {
    const problems = await unknownNames([{ where: 'made-up panel', expr: 'rate(fieldsync_applier_events_total[5m]) + rate(fieldsync_not_a_metric_total[5m])' }, { where: 'made-up bucket', expr: 'fieldsync_up_bucket' }], false);
    expect(problems).toEqual(['made-up panel: fieldsync_not_a_metric_total', 'made-up bucket: fieldsync_up_bucket']);
  });
});

describe('Grafana dashboards', () => {
  const all = dashboards();

  it('are the three generated dashboards, identical to scripts/build-dashboards.ts output', () => {
    const rendered = renderDashboards();
    expect(all.map((d) => d.file).sort()).toEqual(Object.keys(DASHBOARDS).sort());
    for (const d of all) expect(readFileSync(join(DEPLOY, 'grafana', 'dashboards', d.file), 'utf8'), `${d.file} is stale: run npx tsx scripts/build-dashboards.ts`).toBe(rendered[d.file]);
  });

  it('load in Grafana 11+: schemaVersion >= 39, unique uids and panel ids, panels inside the 24-column grid', () => {
    expect(new Set(all.map((d) => d.json.uid)).size).toBe(all.length);
    for (const d of all) {
      expect(d.json.schemaVersion, d.file).toBeGreaterThanOrEqual(39);
      const ids = d.json.panels.map((p) => p.id);
      expect(new Set(ids).size, `${d.file} panel ids`).toBe(ids.length);
      for (const p of d.json.panels) {
        expect(p.gridPos.x + p.gridPos.w, `${d.file} ${p.title}`).toBeLessThanOrEqual(24);
        if (p.type !== 'row') expect(p.targets?.length, `${d.file} ${p.title} has queries`).toBeGreaterThan(0);
      }
    }
  });

  it('reference the provisioned Prometheus datasource by uid everywhere', () => {
    const uids = provisionedDatasourceUids();
    expect(uids).toEqual([PROMETHEUS_UID]);
    for (const d of all) {
      for (const p of d.json.panels.filter((x) => x.type !== 'row')) {
        expect(p.datasource, `${d.file} ${p.title}`).toEqual({ type: 'prometheus', uid: PROMETHEUS_UID });
        for (const t of p.targets ?? []) expect(t.datasource?.uid, `${d.file} ${p.title} ${t.refId}`).toBe(PROMETHEUS_UID);
      }
      for (const v of d.json.templating.list) expect(v.datasource?.uid, `${d.file} $${v.name}`).toBe(PROMETHEUS_UID);
    }
  });

  it('have template variables, and the per-table dashboard a `table` variable used by its panels', () => {
    for (const d of all) expect(d.json.templating.list.length, d.file).toBeGreaterThan(0);
    const perTable = all.find((d) => d.json.uid === 'fieldsync-table');
    expect(perTable?.json.templating.list.map((v) => v.name)).toContain('table');
    const exprs = dashboardExpressions(perTable!).filter((e) => e.where.includes('panel'));
    expect(exprs.every((e) => e.expr.includes('$table'))).toBe(true);
  });

  it('use only metrics declared in lib/observability/metrics.ts, in expressions that parse', async () => {
    const exprs = all.flatMap(dashboardExpressions);
    expect(exprs.length).toBeGreaterThan(30);
    expect(await unknownNames(exprs, false)).toEqual([]);
  });
});

describe('alert rules', () => {
  it('cover lag, dead letters, breaker, reconcile failed / not run, and position gap', () => {
    const names = alertExpressions().map((a) => a.where.replace('alerts.yml ', ''));
    for (const a of ['FieldsyncEndToEndLagHigh', 'FieldsyncDeadLettersIncreasing', 'FieldsyncCircuitBreakerOpen', 'FieldsyncReconcileFailed', 'FieldsyncReconcileNotRun', 'FieldsyncCapturePositionGap']) expect(names).toContain(a);
  });
  it('use only declared metrics (and Prometheus\' own `up`)', async () => {
    expect(await unknownNames(alertExpressions(), true)).toEqual([]);
  });
});

describe('label matchers of dashboards and alert rules', () => {
  it('only match on labels the metric has (or the target labels Prometheus adds)', async () => {
    const labels = declaredLabels();
    const histograms = new Set([...(await declaredMetrics())].filter(([, t]) => t === 'histogram').map(([n]) => n));
    const targetLabels = ['job', 'instance', '__name__'];
    const problems: string[] = [];
    for (const { where, expr } of [...dashboards().flatMap(dashboardExpressions), ...alertExpressions()]) {
      for (const sel of selectors(expr)) {
        const base = baseMetricName(sel.name, histograms);
        const allowed = [...(labels.get(base) ?? []), ...targetLabels, ...(sel.name.endsWith('_bucket') ? ['le'] : [])];
        if (PROMETHEUS_SYNTHETIC.has(sel.name)) continue;
        for (const l of sel.labels) if (!allowed.includes(l)) problems.push(`${where}: ${sel.name}{${l}}`);
      }
    }
    expect(problems).toEqual([]);
  });
  it('catch a matcher on a label the metric does not have', () => {
    const labels = declaredLabels();
    expect(labels.get('fieldsync_capture_events_total')).toEqual(['source', 'table', 'op']);
    expect(selectors('rate(fieldsync_capture_events_total{target="x"}[5m])')[0]!.labels.filter((l) => !labels.get('fieldsync_capture_events_total')!.includes(l))).toEqual(['target']);
  });
});
