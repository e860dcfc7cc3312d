/**
 * Generates the Grafana dashboards under deploy/grafana/dashboards/ from the compact
 * definitions below: `npx tsx scripts/build-dashboards.ts` rewrites the JSON files, and the
 * unit test test/unit/deploy-dashboards.test.ts fails when a committed JSON file differs from
 * what this script generates (so the JSON is never edited by hand and never drifts).
 *
 * Target: Grafana 11+ (schemaVersion 39). Every panel and variable references the
 * Prometheus datasource by the uid that deploy/grafana/provisioning/datasources declares
 * (PROMETHEUS_UID), so the dashboards load without any manual datasource selection.
 * Queries use only metrics declared in lib/observability/metrics.ts; the tests parse
 * every expression and compare the names with the registry and with the live /metrics of
 * running services.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROMETHEUS_UID = 'fieldsync-prometheus';
const DS = { type: 'prometheus', uid: PROMETHEUS_UID } as const;

type Unit = 'short' | 'ops' | 's' | 'bytes' | 'percentunit' | 'dateTimeFromNow' | 'none';

interface Query { expr: string; legend?: string; instant?: boolean }
interface PanelSpec {
  title: string;
  type?: 'timeseries' | 'stat' | 'state-timeline' | 'bargauge' | 'table';
  unit?: Unit;
  w?: number;
  h?: number;
  queries: Query[];
  description?: string;
  thresholds?: { color: string; value: number | null }[];
  mappings?: unknown[];
  stack?: boolean;
}
interface RowSpec { row: string; panels: PanelSpec[] }
interface VariableSpec { name: string; label: string; query: string; multi?: boolean }
interface DashboardSpec { uid: string; title: string; description: string; variables: VariableSpec[]; rows: RowSpec[]; links?: boolean }

const BREAKER_MAPPINGS = [{
  type: 'value',
  options: { 0: { text: 'closed', color: 'green', index: 0 }, 1: { text: 'half-open', color: 'yellow', index: 1 }, 2: { text: 'open', color: 'red', index: 2 } },
}];
const UP_MAPPINGS = [{ type: 'value', options: { 0: { text: 'not ready', color: 'red', index: 0 }, 1: { text: 'ready', color: 'green', index: 1 } } }];
const GREEN_RED = (redAt: number) => [{ color: 'green', value: null }, { color: 'red', value: redAt }];

function panelJson(p: PanelSpec, id: number, x: number, y: number): Record<string, unknown> {
  const type = p.type ?? 'timeseries';
  const defaults: Record<string, unknown> = { unit: p.unit ?? 'short' };
  if (p.thresholds) defaults.thresholds = { mode: 'absolute', steps: p.thresholds };
  if (p.mappings) defaults.mappings = p.mappings;
  if (type === 'timeseries') {
    defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: p.stack ? 30 : 10, showPoints: 'never', spanNulls: false, stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' } };
    if (p.thresholds) (defaults.custom as Record<string, unknown>).thresholdsStyle = { mode: 'line' };
  }
  const options: Record<string, unknown> =
    type === 'timeseries' ? { legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } }
    : type === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'area', textMode: 'auto', justifyMode: 'auto', orientation: 'auto' }
    : type === 'state-timeline' ? { showValue: 'auto', mergeValues: true, alignValue: 'left', rowHeight: 0.9, legend: { displayMode: 'list', placement: 'bottom', showLegend: true } }
    : type === 'bargauge' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true }
    : { showHeader: true, cellHeight: 'sm' };
  return {
    id,
    type,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: DS,
    gridPos: { h: p.h ?? 8, w: p.w ?? 12, x, y },
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: p.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DS,
      expr: q.expr,
      legendFormat: q.legend ?? '__auto',
      range: !q.instant,
      instant: q.instant ?? false,
      editorMode: 'code',
    })),
  };
}

function variableJson(v: VariableSpec): Record<string, unknown> {
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: DS,
    query: { qryType: 1, query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: v.query,
    refresh: 2,
    sort: 1,
    multi: v.multi ?? true,
    includeAll: true,
    allValue: '.*',
    // a multi-value variable holds lists, a single-value one a plain string
    current: (v.multi ?? true) ? { selected: true, text: ['All'], value: ['$__all'] } : { selected: true, text: 'All', value: '$__all' },
    hide: 0,
    options: [],
    regex: '',
    skipUrlSync: false,
  };
}

export function dashboardJson(spec: DashboardSpec): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({ id: id++, type: 'row', title: row.row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.w ?? 12;
      if (x + w > 24) { x = 0; y += rowHeight; rowHeight = 0; }
      panels.push(panelJson(p, id++, x, y));
      x += w;
      rowHeight = Math.max(rowHeight, p.h ?? 8);
    }
    y += rowHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['fieldsync'],
    timezone: 'utc',
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    links: [{ type: 'dashboards', tags: ['fieldsync'], asDropdown: false, includeVars: false, keepTime: true, title: 'fieldsync', icon: 'external link', targetBlank: false, tooltip: '', url: '' }],
    templating: { list: spec.variables.map(variableJson) },
    panels,
  };
}

const RATE = '$__rate_interval';
const lagQuantiles = (filter: string, by: string) => [
  { expr: `histogram_quantile(0.5, sum by (le${by}) (rate(fieldsync_end_to_end_lag_seconds_bucket${filter}[${RATE}])))`, legend: `p50${by ? ' {{table}}' : ''}` },
  { expr: `histogram_quantile(0.95, sum by (le${by}) (rate(fieldsync_end_to_end_lag_seconds_bucket${filter}[${RATE}])))`, legend: `p95${by ? ' {{table}}' : ''}` },
  { expr: `histogram_quantile(0.99, sum by (le${by}) (rate(fieldsync_end_to_end_lag_seconds_bucket${filter}[${RATE}])))`, legend: `p99${by ? ' {{table}}' : ''}` },
];

export const overview: DashboardSpec = {
  uid: 'fieldsync-overview',
  title: 'fieldsync / Overview',
  description: 'Throughput, lag, errors, dead letters and circuit breakers of every fieldsync capture and applier.',
  variables: [
    { name: 'source', label: 'Source', query: 'label_values(fieldsync_capture_events_total, source)' },
    { name: 'target', label: 'Target', query: 'label_values(fieldsync_applier_events_total, target)' },
  ],
  rows: [
    {
      row: 'Health',
      panels: [
        { title: 'Services ready', type: 'state-timeline', w: 8, h: 6, mappings: UP_MAPPINGS, queries: [{ expr: 'max by (service) (fieldsync_up)', legend: '{{service}}' }], description: '1 when /readyz passes (Kafka and databases reachable, applier lag under its bound).' },
        { title: 'Circuit breakers', type: 'state-timeline', w: 8, h: 6, mappings: BREAKER_MAPPINGS, queries: [{ expr: 'max by (service, name) (fieldsync_circuit_breaker_state)', legend: '{{service}} {{name}}' }] },
        { title: 'Dead letters (1h)', type: 'stat', w: 4, h: 6, thresholds: GREEN_RED(1), queries: [{ expr: `sum(increase(fieldsync_applier_dead_letters_total{target=~"$target"}[1h])) or vector(0)` }] },
        { title: 'End-to-end lag p95', type: 'stat', w: 4, h: 6, unit: 's', thresholds: [{ color: 'green', value: null }, { color: 'orange', value: 10 }, { color: 'red', value: 60 }], queries: [{ expr: `histogram_quantile(0.95, sum by (le) (rate(fieldsync_end_to_end_lag_seconds_bucket{target=~"$target"}[${RATE}])))` }] },
      ],
    },
    {
      row: 'Throughput',
      panels: [
        { title: 'Events captured / s by source', unit: 'ops', stack: true, queries: [{ expr: `sum by (source) (rate(fieldsync_capture_events_total{source=~"$source"}[${RATE}]))`, legend: '{{source}}' }] },
        { title: 'Events applied / s by target', unit: 'ops', stack: true, queries: [{ expr: `sum by (target) (rate(fieldsync_applier_events_total{target=~"$target"}[${RATE}]))`, legend: '{{target}}' }] },
        { title: 'Applied events / s by operation', unit: 'ops', stack: true, queries: [{ expr: `sum by (op) (rate(fieldsync_applier_events_total{target=~"$target"}[${RATE}]))`, legend: '{{op}}' }] },
        { title: 'Merge outcomes (fields / s)', unit: 'ops', description: 'taken: the incoming value was newer; kept: the target held a newer value (e.g. a local edit).', queries: [{ expr: `sum by (outcome) (rate(fieldsync_merge_fields_total{target=~"$target"}[${RATE}]))`, legend: '{{outcome}}' }] },
      ],
    },
    {
      row: 'Lag',
      panels: [
        { title: 'End-to-end lag (apply time − origin commit time)', unit: 's', w: 8, queries: lagQuantiles('{target=~"$target"}', '') },
        { title: 'Source lag (capture behind the newest source change)', unit: 's', w: 8, queries: [{ expr: 'max by (source) (fieldsync_capture_source_lag_seconds{source=~"$source"})', legend: '{{source}}' }] },
        { title: 'Consumer lag (messages) by topic', w: 8, queries: [{ expr: 'sum by (target, topic) (fieldsync_applier_consumer_lag_messages{target=~"$target"})', legend: '{{target}} {{topic}}' }] },
      ],
    },
    {
      row: 'Errors',
      panels: [
        { title: 'Dead letters / s by reason', unit: 'ops', w: 8, queries: [{ expr: `sum by (target, table, reason) (rate(fieldsync_applier_dead_letters_total{target=~"$target"}[${RATE}]))`, legend: '{{target}} {{table}} {{reason}}' }] },
        { title: 'Capture errors and position gaps', unit: 'ops', w: 8, queries: [
          { expr: `sum by (source) (rate(fieldsync_capture_errors_total{source=~"$source"}[${RATE}]))`, legend: 'errors {{source}}' },
          { expr: `sum by (source, table) (increase(fieldsync_capture_position_gap_total{source=~"$source"}[${RATE}]))`, legend: 'gap {{source}} {{table}}' },
        ] },
        { title: 'Applier retries / s', unit: 'ops', w: 8, queries: [{ expr: `sum by (target) (rate(fieldsync_applier_retries_total{target=~"$target"}[${RATE}]))`, legend: '{{target}}' }] },
      ],
    },
    {
      row: 'Batches and processes',
      panels: [
        { title: 'Batch duration p95', unit: 's', w: 8, queries: [
          { expr: `histogram_quantile(0.95, sum by (le, source) (rate(fieldsync_capture_batch_duration_seconds_bucket{source=~"$source"}[${RATE}])))`, legend: 'capture {{source}}' },
          { expr: `histogram_quantile(0.95, sum by (le, target) (rate(fieldsync_applier_batch_duration_seconds_bucket{target=~"$target"}[${RATE}])))`, legend: 'applier {{target}}' },
        ] },
        { title: 'Mean batch size', w: 8, queries: [
          { expr: `sum by (source) (rate(fieldsync_capture_batch_size_sum{source=~"$source"}[${RATE}])) / sum by (source) (rate(fieldsync_capture_batch_size_count{source=~"$source"}[${RATE}]))`, legend: 'capture {{source}}' },
          { expr: `sum by (target) (rate(fieldsync_applier_batch_size_sum{target=~"$target"}[${RATE}])) / sum by (target) (rate(fieldsync_applier_batch_size_count{target=~"$target"}[${RATE}]))`, legend: 'applier {{target}}' },
        ] },
        { title: 'Process memory', unit: 'bytes', w: 8, queries: [
          { expr: 'fieldsync_process_process_resident_memory_bytes', legend: 'RSS {{job}} {{instance}}' },
          { expr: 'fieldsync_process_nodejs_heap_size_used_bytes', legend: 'heap {{job}} {{instance}}' },
        ] },
        { title: 'Process CPU (cores)', unit: 'short', queries: [{ expr: `rate(fieldsync_process_process_cpu_seconds_total[${RATE}])`, legend: '{{job}} {{instance}}' }] },
        { title: 'Event loop lag p99', unit: 's', queries: [{ expr: 'fieldsync_process_nodejs_eventloop_lag_p99_seconds', legend: '{{job}} {{instance}}' }] },
      ],
    },
  ],
};

export const perTable: DashboardSpec = {
  uid: 'fieldsync-table',
  title: 'fieldsync / Table',
  description: 'One synced table: capture and apply rates per operation, lag, merge outcomes, dead letters and its reconcile.',
  variables: [
    { name: 'table', label: 'Table', query: 'label_values(fieldsync_applier_events_total, table)', multi: false },
    { name: 'target', label: 'Target', query: 'label_values(fieldsync_applier_events_total{table=~"$table"}, target)' },
  ],
  rows: [
    {
      row: 'Flow',
      panels: [
        { title: 'Captured / s by operation', unit: 'ops', stack: true, queries: [{ expr: `sum by (op) (rate(fieldsync_capture_events_total{table=~"$table"}[${RATE}]))`, legend: '{{op}}' }] },
        { title: 'Applied / s by operation', unit: 'ops', stack: true, queries: [{ expr: `sum by (target, op) (rate(fieldsync_applier_events_total{table=~"$table", target=~"$target"}[${RATE}]))`, legend: '{{target}} {{op}}' }] },
        { title: 'Snapshot rows / s', unit: 'ops', w: 8, queries: [{ expr: `sum by (source) (rate(fieldsync_capture_snapshot_rows_total{table=~"$table"}[${RATE}]))`, legend: '{{source}}' }] },
        { title: 'End-to-end lag', unit: 's', w: 8, queries: lagQuantiles('{table=~"$table", target=~"$target"}', ', table') },
        { title: 'Merge outcomes (fields / s)', unit: 'ops', w: 8, queries: [{ expr: `sum by (target, outcome) (rate(fieldsync_merge_fields_total{table=~"$table", target=~"$target"}[${RATE}]))`, legend: '{{target}} {{outcome}}' }] },
      ],
    },
    {
      row: 'Problems',
      panels: [
        { title: 'Dead letters by reason (increase)', w: 12, queries: [{ expr: `sum by (target, reason) (increase(fieldsync_applier_dead_letters_total{table=~"$table", target=~"$target"}[${RATE}]))`, legend: '{{target}} {{reason}}' }] },
        { title: 'Capture position gaps (increase)', w: 12, queries: [{ expr: `sum by (source) (increase(fieldsync_capture_position_gap_total{table=~"$table"}[${RATE}]))`, legend: '{{source}}' }] },
      ],
    },
    {
      row: 'Reconcile',
      panels: [
        { title: 'Last successful reconcile', type: 'stat', unit: 'dateTimeFromNow', w: 8, h: 6, queries: [{ expr: 'max(fieldsync_reconcile_last_run_timestamp_seconds{table=~"$table", result="success"}) * 1000', instant: true }] },
        { title: 'Last swap duration', type: 'stat', unit: 's', w: 8, h: 6, queries: [{ expr: 'max(fieldsync_reconcile_swap_duration_seconds{table=~"$table"})', instant: true }] },
        { title: 'Reconcile rows by kind (last 24h)', type: 'bargauge', w: 8, h: 6, queries: [{ expr: 'sum by (kind) (increase(fieldsync_reconcile_rows_total{table=~"$table"}[24h]))', legend: '{{kind}}' }] },
      ],
    },
  ],
};

export const reconciler: DashboardSpec = {
  uid: 'fieldsync-reconciler',
  title: 'fieldsync / Reconciler',
  description: 'The nightly refresh: runs and results, phase durations, swap time and row counts per table.',
  variables: [
    { name: 'table', label: 'Table', query: 'label_values(fieldsync_reconcile_runs_total, table)' },
  ],
  rows: [
    {
      row: 'Runs',
      panels: [
        { title: 'Time since last successful run', type: 'stat', unit: 's', w: 8, h: 6, thresholds: [{ color: 'green', value: null }, { color: 'orange', value: 86400 }, { color: 'red', value: 93600 }], queries: [{ expr: 'time() - max by (table) (fieldsync_reconcile_last_run_timestamp_seconds{table=~"$table", result="success"})', legend: '{{table}}', instant: true }] },
        { title: 'Last run per table and result', type: 'table', w: 8, h: 6, unit: 'dateTimeFromNow', queries: [{ expr: 'max by (table, result) (fieldsync_reconcile_last_run_timestamp_seconds{table=~"$table"}) * 1000', legend: '{{table}} {{result}}', instant: true }] },
        { title: 'Runs by result (24h)', type: 'bargauge', w: 8, h: 6, queries: [{ expr: 'sum by (table, result) (increase(fieldsync_reconcile_runs_total{table=~"$table"}[24h]))', legend: '{{table}} {{result}}' }] },
      ],
    },
    {
      row: 'Phases',
      panels: [
        { title: 'Mean phase duration', unit: 's', stack: true, queries: [{ expr: `sum by (phase) (rate(fieldsync_reconcile_phase_duration_seconds_sum{table=~"$table"}[1h])) / sum by (phase) (rate(fieldsync_reconcile_phase_duration_seconds_count{table=~"$table"}[1h]))`, legend: '{{phase}}' }] },
        { title: 'Phase durations of the last day', type: 'bargauge', unit: 's', queries: [{ expr: 'sum by (table, phase) (increase(fieldsync_reconcile_phase_duration_seconds_sum{table=~"$table"}[24h]))', legend: '{{table}} {{phase}}' }] },
        { title: 'Swap duration (last run)', unit: 's', thresholds: [{ color: 'green', value: null }, { color: 'red', value: 5 }], queries: [{ expr: 'max by (table) (fieldsync_reconcile_swap_duration_seconds{table=~"$table"})', legend: '{{table}}' }] },
        { title: 'Rows by kind (24h)', type: 'bargauge', queries: [{ expr: 'sum by (table, kind) (increase(fieldsync_reconcile_rows_total{table=~"$table"}[24h]))', legend: '{{table}} {{kind}}' }] },
      ],
    },
  ],
};

export const DASHBOARDS: Record<string, DashboardSpec> = {
  'fieldsync-overview.json': overview,
  'fieldsync-table.json': perTable,
  'fieldsync-reconciler.json': reconciler,
};

export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'deploy', 'grafana', 'dashboards');

export function renderDashboards(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, spec] of Object.entries(DASHBOARDS)) out[file] = `${JSON.stringify(dashboardJson(spec), null, 2)}\n`;
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [file, text] of Object.entries(renderDashboards())) {
    writeFileSync(join(DASHBOARD_DIR, file), text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
