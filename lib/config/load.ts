/**
 * Loads and validates the YAML config. Every error names the file, the field path and
 * what was expected. `${VAR}` (and `${VAR:-default}`) references are replaced from the
 * environment before validation; a missing variable is an error naming the field.
 * Secrets are never printed: `redact()` gives a copy safe to log.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { originCode } from '../stamp.js';
import { FieldsyncConfig } from './schema.js';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function pathString(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

function substituteEnv(node: Json, path: (string | number)[], env: NodeJS.ProcessEnv, file: string): Json {
  if (typeof node === 'string') {
    return node.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (dflt !== undefined) return dflt;
      throw new ConfigError(`${file}: ${pathString(path)}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => substituteEnv(v, [...path, i], env, file));
  if (node && typeof node === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(node)) out[k] = substituteEnv(v, [...path, k], env, file);
    return out;
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Validate an already-parsed document (used by tests and by `loadConfig`). */
export function parseConfig(doc: unknown, file = '<config>', env: NodeJS.ProcessEnv = process.env): FieldsyncConfig {
  const substituted = substituteEnv((doc ?? {}) as Json, [], env, file);
  const result = FieldsyncConfig.safeParse(substituted);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${file}: ${pathString(i.path)}: ${describeIssue(i)}`);
    throw new ConfigError(`invalid config:\n${lines.join('\n')}`);
  }
  const cfg = result.data;
  checkReferences(cfg, file);
  return cfg;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): FieldsyncConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`unable to read config ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  return parseConfig(doc, file, env);
}

/** Cross-field checks zod cannot express: references between sections, origin collisions. */
function checkReferences(cfg: FieldsyncConfig, file: string): void {
  const errors: string[] = [];
  const dbNames = Object.keys(cfg.databases);
  const needDb = (name: string, path: string) => {
    if (!cfg.databases[name]) errors.push(`${file}: ${path}: unknown database "${name}" (known: ${dbNames.join(', ') || 'none'})`);
  };
  cfg.capture.forEach((c, i) => {
    needDb(c.source, `capture[${i}].source`);
    if (c.mode === 'cdc' && cfg.databases[c.source] && cfg.databases[c.source]?.dialect !== 'mssql') {
      errors.push(`${file}: capture[${i}].mode: "cdc" needs an mssql database, "${c.source}" is ${cfg.databases[c.source]?.dialect}`);
    }
  });
  cfg.applier.forEach((a, i) => {
    needDb(a.target, `applier[${i}].target`);
    if (cfg.databases[a.target]?.dialect === 'mssql') errors.push(`${file}: applier[${i}].target: SQL Server is a source only; targets are postgres or mysql`);
    a.tables.forEach((t, j) => {
      const source = t.from.split('.')[0] ?? '';
      needDb(source, `applier[${i}].tables[${j}].from`);
    });
  });
  cfg.reconciler.jobs.forEach((j, i) => {
    needDb(j.source, `reconciler.jobs[${i}].source`);
    needDb(j.target, `reconciler.jobs[${i}].target`);
  });
  const codes = new Map<number, string>();
  for (const name of dbNames) {
    const origin = originOf(cfg, name);
    const code = originCode(origin);
    const other = codes.get(code);
    if (other !== undefined && other !== origin) {
      errors.push(`${file}: databases.${name}.origin: origin "${origin}" has the same tie-break code as "${other}"; choose another origin id`);
    }
    codes.set(code, origin);
  }
  if (errors.length) throw new ConfigError(`invalid config:\n${errors.map((e) => `  ${e}`).join('\n')}`);
}

export function originOf(cfg: FieldsyncConfig, database: string): string {
  const db = cfg.databases[database];
  if (!db) throw new ConfigError(`unknown database "${database}"`);
  return db.origin ?? database;
}

/** A copy of the config with credentials masked, safe to log or print. */
export function redact(cfg: FieldsyncConfig): FieldsyncConfig {
  const copy = structuredClone(cfg);
  for (const db of Object.values(copy.databases)) db.url = db.url.replace(/\/\/([^:@/]+):([^@]*)@/, '//$1:***@');
  if (copy.registry.password) copy.registry.password = '***';
  if (copy.kafka.sasl) copy.kafka.sasl.password = '***';
  return copy;
}
