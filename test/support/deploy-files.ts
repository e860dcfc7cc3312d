/**
 * Reads the deployment artefacts under deploy/ for the tests: dashboards, their PromQL
 * (panel targets and variable queries), the alert rules' expressions, and the metric
 * names the shared registry declares.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { registry } from '../../lib/observability/metrics.js';
import { grafanaVariableQueryExpr } from './promql.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY = join(REPO_ROOT, 'deploy');

/** Series Prometheus writes itself for every target (allowed in rules, never exposed by a service). */
export const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

export interface Dashboard {
  file: string;
  json: Record<string, unknown> & { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } };
}
export interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { type: string; uid: string }; targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[] }
export interface Variable { name: string; type: string; datasource?: { type: string; uid: string }; query: string | { query: string } }

export function dashboards(): Dashboard[] {
  const dir = join(DEPLOY, 'grafana', 'dashboards');
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard['json'] }));
}

/** Every PromQL expression of a dashboard, with where it is (for failure messages). */
export function dashboardExpressions(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of d.json.panels) for (const t of p.targets ?? []) out.push({ where: `${d.file} panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of d.json.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const expr = grafanaVariableQueryExpr(q);
    if (expr !== undefined) out.push({ where: `${d.file} variable $${v.name}`, expr });
  }
  return out;
}

interface RuleFile { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] }

export function alertExpressions(): { where: string; expr: string }[] {
  const doc = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8')) as RuleFile;
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `alerts.yml ${r.alert ?? r.record}`, expr: r.expr })));
}

/** Metric names and types declared in lib/observability/metrics.ts (the shared registry). */
export async function declaredMetrics(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await registry.getMetricsAsJSON()) out.set(m.name, String(m.type));
  return out;
}

export function provisionedDatasourceUids(): string[] {
  const doc = parseYaml(readFileSync(join(DEPLOY, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')) as { datasources: { uid: string; type: string }[] };
  return doc.datasources.filter((d) => d.type === 'prometheus').map((d) => d.uid);
}

/** Label names each declared metric carries (from the shared registry). */
export function declaredLabels(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    out.set(name, [...((m as unknown as { labelNames?: readonly string[] }).labelNames ?? [])]);
  }
  return out;
}
