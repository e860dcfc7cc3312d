/**
 * Metric names used by a PromQL expression, found with Prometheus' own PromQL grammar
 * (@prometheus-io/lezer-promql), not with regular expressions: a name is the Identifier of
 * a VectorSelector, or the value of a `__name__="…"` matcher. An expression that does not
 * parse is an error, so a typo in a dashboard fails the test instead of hiding a metric.
 *
 * Grafana's macros ($__rate_interval, $__interval, $__range) are replaced by a duration
 * before parsing; template variables inside label matcher strings ("$table") are left
 * alone since they are plain strings to PromQL. Grafana's variable query
 * `label_values(metric, label)` is reduced to its metric selector.
 */
import { parser } from '@prometheus-io/lezer-promql';

const GRAFANA_DURATION_MACROS = /\$(?:__rate_interval|__interval|__range|\{__rate_interval\}|\{__interval\}|\{__range\})/g;

export function expandGrafanaMacros(expr: string): string {
  return expr.replace(GRAFANA_DURATION_MACROS, '5m');
}

/** `label_values(selector, label)` → `selector`; `label_values(label)` → undefined (no metric). */
export function grafanaVariableQueryExpr(query: string): string | undefined {
  const withMetric = /^\s*label_values\(\s*(.+),\s*[A-Za-z_]\w*\s*\)\s*$/s.exec(query);
  if (withMetric) return withMetric[1];
  if (/^\s*label_values\(\s*[A-Za-z_]\w*\s*\)\s*$/.test(query)) return undefined;
  return query;
}

export function metricNames(expr: string): string[] {
  const text = expandGrafanaMacros(expr);
  const tree = parser.parse(text);
  const names = new Set<string>();
  const errors: number[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(text.slice(id.from, id.to));
      }
      if (node.name === 'UnquotedLabelMatcher') {
        const label = node.node.getChild('LabelName');
        const value = node.node.getChild('StringLiteral');
        if (label && value && text.slice(label.from, label.to) === '__name__') names.add(text.slice(value.from + 1, value.to - 1));
      }
    },
  });
  if (errors.length) throw new Error(`PromQL does not parse at offset ${errors[0]}: ${text}`);
  return [...names].sort();
}

/** Each vector selector of an expression: its metric name and the label names it matches on. */
export function selectors(expr: string): { name: string; labels: string[] }[] {
  const text = expandGrafanaMacros(expr);
  const out: { name: string; labels: string[] }[] = [];
  parser.parse(text).iterate({
    enter: (node) => {
      if (node.name !== 'VectorSelector') return;
      const id = node.node.getChild('Identifier');
      const matchers = node.node.getChild('LabelMatchers');
      const labels: string[] = [];
      if (matchers) {
        matchers.toTree().iterate({
          enter: (m) => {
            if (m.name === 'LabelName' && m.node.parent?.name === 'UnquotedLabelMatcher') labels.push(text.slice(matchers.from + m.from, matchers.from + m.to));
          },
        });
      }
      if (id) out.push({ name: text.slice(id.from, id.to), labels });
    },
  });
  return out;
}

/** The name a series belongs to: histogram/summary series `_bucket`, `_sum`, `_count` count as their metric. */
export function baseMetricName(series: string, histograms: ReadonlySet<string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (series.endsWith(suffix) && histograms.has(series.slice(0, -suffix.length))) return series.slice(0, -suffix.length);
  }
  return series;
}

/** Metric families in Prometheus text format: name → type (from the `# TYPE` lines). */
export function exposedMetricTypes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], m[2]);
  }
  return out;
}

/** Every series name a text exposition holds (histograms expand to _bucket/_sum/_count). */
export function exposedSeriesNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const [name, type] of exposedMetricTypes(text)) {
    out.add(name);
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
  }
  return out;
}
