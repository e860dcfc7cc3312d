/**
 * The Kubernetes manifests, rendered by kustomize (`kubectl kustomize`, kustomize v5 is
 * built into the kubectl this machine has) and validated object by object against the
 * Kubernetes API schemas of the `kubernetes-models` package (construct with the kind's
 * class, `.validate()`); the optional ServiceMonitor against the prometheus-operator CRD
 * schema. Then what the schemas cannot say: capture has one replica and Recreate, the
 * applier has no more replicas than partitions, probes hit /healthz and /readyz on the
 * configured metrics port, pods are non-root with a read-only root filesystem, selectors
 * of Services and the PodDisruptionBudget match the pods, and every ConfigMap/Secret
 * reference resolves to a rendered object whose config the real loader accepts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IContainer, IPodSpec, IPodTemplateSpec } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../lib/config/load.js';
import { DEPLOY } from '../support/deploy-files.js';

const K8S = join(DEPLOY, 'k8s');

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/CronJob': CronJob,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

interface Obj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> }

function kustomize(dir: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

/** The example overlay plus optional components, through a temporary kustomization. */
function kustomizeWithComponents(components: string[]): Obj[] {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-kustomize-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
      'resources:', `  - ${relative(dir, join(K8S, 'overlays', 'example'))}`,
      'components:', ...components.map((c) => `  - ${relative(dir, join(K8S, 'components', c))}`), ''].join('\n'));
    return kustomize(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function validateAll(objs: Obj[]): string[] {
  const problems: string[] = [];
  for (const o of objs) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) { problems.push(`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion}/${o.kind}`); continue; }
    // kustomize wraps long base64 Secret values over several lines; the API server's base64
    // decoder skips the line breaks, the schema's `byte` format does not: unwrap them first.
    const data = o.kind === 'Secret' && o.data ? { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, v.replace(/\s+/g, '')])) } : o;
    try { new Model(data as never).validate(); } catch (e) { problems.push(`${o.kind} ${o.metadata.name}: ${String(e)}`); }
  }
  return problems;
}

const byKind = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return o;
};
const podTemplate = (o: Obj): IPodTemplateSpec => (o.kind === 'CronJob'
  ? ((o.spec as { jobTemplate: { spec: { template: IPodTemplateSpec } } }).jobTemplate.spec.template)
  : (o.spec as { template: IPodTemplateSpec }).template);
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('kubectl kustomize renders the base, the example overlay and the component', () => {
  it('has kubectl with kustomize', () => {
    const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Kustomize Version: v5/);
  });

  for (const [name, render] of [
    ['base', () => kustomize(join(K8S, 'base'))],
    ['overlays/example', () => kustomize(join(K8S, 'overlays', 'example'))],
    ['overlays/example + components/prometheus-operator', () => kustomizeWithComponents(['prometheus-operator'])],
    ['overlays/example + components/reconciler-service', () => kustomizeWithComponents(['reconciler-service'])],
  ] as const) {
    it(`${name}: every object validates against its Kubernetes API schema`, () => {
      const objs = render();
      expect(objs.length).toBeGreaterThanOrEqual(7);
      expect(validateAll(objs)).toEqual([]);
    });
  }

  it('the validator catches a broken object (so the checks above mean something)', () => {
    const objs = kustomize(join(K8S, 'base'));
    const broken = structuredClone(byKind(objs, 'Deployment', 'fieldsync-capture'));
    (podTemplate(broken).spec!.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'nine';
    expect(validateAll([broken])).toHaveLength(1);
    const noSelector = structuredClone(byKind(objs, 'Deployment', 'fieldsync-applier'));
    delete (noSelector.spec as { selector?: unknown }).selector;
    expect(validateAll([noSelector])).toHaveLength(1);
  });
});

describe('the example overlay, as it would be applied', () => {
  const objs = kustomize(join(K8S, 'overlays', 'example'));
  const secret = objs.find((o) => o.kind === 'Secret')!;
  const env = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  const configMap = objs.find((o) => o.kind === 'ConfigMap')!;
  const cfg = parseConfig((parseAllDocuments(configMap.data!['fieldsync.yaml']!)[0]!).toJS(), 'configmap fieldsync.yaml', env);
  const capture = byKind(objs, 'Deployment', 'fieldsync-capture');
  const applier = byKind(objs, 'Deployment', 'fieldsync-applier');
  const cron = byKind(objs, 'CronJob', 'fieldsync-reconciler');
  const workloads = [capture, applier, cron];

  it('capture: one replica, Recreate; applier: replicas up to the partition count', () => {
    expect(capture.spec!.replicas).toBe(1);
    expect((capture.spec!.strategy as { type: string }).type).toBe('Recreate');
    expect(applier.spec!.replicas as number).toBeGreaterThan(1);
    expect(applier.spec!.replicas as number).toBeLessThanOrEqual(cfg.kafka.partitions);
  });

  it('the reconciler is a CronJob that never overlaps and runs `fieldsync reconcile`', () => {
    expect(cron.spec!.concurrencyPolicy).toBe('Forbid');
    expect(podTemplate(cron).spec!.containers[0]!.args?.[0]).toBe('reconcile');
    expect(cfg.reconciler.jobs.length).toBeGreaterThan(0);
  });

  it('every container: config from the rendered ConfigMap, credentials from the rendered Secret, resources, non-root read-only', () => {
    for (const w of workloads) {
      const spec: IPodSpec = podTemplate(w).spec!;
      expect(spec.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(spec.automountServiceAccountToken).toBe(false);
      const volumes = Object.fromEntries((spec.volumes ?? []).map((v) => [v.name, v]));
      for (const c of spec.containers as IContainer[]) {
        expect(c.securityContext?.readOnlyRootFilesystem, c.name).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
        expect(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${c.name} resources`).toBeTruthy();
        expect(c.image).toBe('registry.example.com/fieldsync:0.1.0');
        expect(c.envFrom?.[0]?.secretRef?.name).toBe(secret.metadata.name);
        const configMount = c.volumeMounts?.find((m) => m.mountPath === '/etc/fieldsync');
        expect(volumes[configMount!.name]?.configMap?.name).toBe(configMap.metadata.name);
        expect(c.args?.slice(c.args.indexOf('--config'), c.args.indexOf('--config') + 2)).toEqual(['--config', '/etc/fieldsync/fieldsync.yaml']);
        const t = c.args?.indexOf('--target') ?? -1;
        if (t >= 0) expect(cfg.applier.map((a) => a.target)).toContain(c.args![t + 1]);
      }
    }
  });

  it('capture and applier probe /healthz (startup, liveness) and /readyz (readiness) on the metrics port, and are scraped', () => {
    for (const w of [capture, applier]) {
      const tpl = podTemplate(w);
      const c = tpl.spec!.containers[0]!;
      expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
      expect(c.startupProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
      expect(tpl.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(cfg.http.port) });
      expect(c.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(cfg.http.port);
    }
  });

  it('Services and the PodDisruptionBudget select the pods they are meant for', () => {
    for (const [svcName, w] of [['fieldsync-capture', capture], ['fieldsync-applier', applier]] as const) {
      const svc = byKind(objs, 'Service', svcName);
      const s = svc.spec as { selector: Record<string, string>; ports: { name: string; targetPort: string }[] };
      expect(selects(s.selector, podTemplate(w).metadata?.labels)).toBe(true);
      expect(selects(s.selector, podTemplate(w === capture ? applier : capture).metadata?.labels)).toBe(false);
      expect(s.ports[0]).toMatchObject({ name: 'metrics', targetPort: 'metrics' });
    }
    const pdb = byKind(objs, 'PodDisruptionBudget', 'fieldsync-applier');
    expect(selects((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podTemplate(applier).metadata?.labels)).toBe(true);
    expect(objs.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'fieldsync-example')).toBe(true);
  });
});

describe('components/reconciler-service', () => {
  it('replaces the CronJob by a scraped, probed, single-replica `fieldsync reconciler` Deployment with a schedule in the config', () => {
    const objs = kustomizeWithComponents(['reconciler-service']);
    expect(objs.some((o) => o.kind === 'CronJob')).toBe(false);
    const rec = byKind(objs, 'Deployment', 'fieldsync-reconciler');
    expect(rec.spec!.replicas).toBe(1);
    const tpl = podTemplate(rec);
    const c = tpl.spec!.containers[0]!;
    expect(c.args?.[0]).toBe('reconciler');
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
    expect(tpl.metadata?.annotations?.['prometheus.io/scrape']).toBe('true');
    const configMap = objs.find((o) => o.kind === 'ConfigMap')!;
    const secret = objs.find((o) => o.kind === 'Secret')!;
    const env = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    const cfg = parseConfig((parseAllDocuments(configMap.data!['fieldsync.yaml']!)[0]!).toJS(), 'configmap fieldsync.yaml', env);
    expect(cfg.reconciler.schedule).toBeTruthy();
  });
});
