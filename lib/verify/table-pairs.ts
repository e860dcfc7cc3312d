/**
 * Which tables `fieldsync verify --source S --target T` compares, from the config:
 *
 *  1. the applier of target T: every table it merges `from` source S (`into` its table);
 *  2. else, when S is itself an applier target (e.g. a live target and a target rebuilt by
 *     replay), the tables both appliers merge from the same `from`;
 *  3. else the reconciler jobs from S to T.
 *
 * `--table X` narrows the list to the pairs whose source or target table is X; a pair
 * the config does not know is given as `source_table=target_table` (or just `name` for
 * the same name on both sides).
 */
import type { FieldsyncConfig } from '../config/schema.js';
import { splitTableName } from '../dialect/introspect.js';
import { ConfigError } from '../errors.js';

export interface TableRef {
  schema: string;
  name: string;
}

export interface TablePair {
  source: TableRef;
  target: TableRef;
}

/** The default schema of a dialect: PostgreSQL `public`, MySQL the connection's database (''). */
function defaultSchema(cfg: FieldsyncConfig, db: string): string {
  return cfg.databases[db]?.dialect === 'postgres' ? 'public' : cfg.databases[db]?.dialect === 'mssql' ? 'dbo' : '';
}

/** A table name as configured, in a database: `schema.table` or `table` (default schema). */
export function tableIn(cfg: FieldsyncConfig, db: string, qualified: string): TableRef {
  // MySQL has no schemas inside a database: there `db.table` names another database.
  return splitTableName(qualified, defaultSchema(cfg, db));
}

/**
 * The target table an applier table entry writes: `into`, else the source table's own name
 * (without its schema) in the target's default schema.
 */
export function applierTargetTable(cfg: FieldsyncConfig, target: string, from: string, into: string | undefined): TableRef {
  if (into) return tableIn(cfg, target, into);
  const sourceTable = from.slice(from.indexOf('.') + 1);
  return { schema: defaultSchema(cfg, target), name: splitTableName(sourceTable).name };
}

/** `<source>.<table>` → the source database name and the table as configured there. */
export function splitFrom(from: string): { source: string; table: string } {
  const i = from.indexOf('.');
  return { source: from.slice(0, i), table: from.slice(i + 1) };
}

function pairsFromConfig(cfg: FieldsyncConfig, source: string, target: string): TablePair[] {
  const targetAppliers = cfg.applier.filter((a) => a.target === target);
  const direct: TablePair[] = [];
  for (const a of targetAppliers) {
    for (const t of a.tables) {
      const f = splitFrom(t.from);
      if (f.source === source) direct.push({ source: tableIn(cfg, source, f.table), target: applierTargetTable(cfg, target, t.from, t.into) });
    }
  }
  if (direct.length) return direct;

  const sourceAppliers = cfg.applier.filter((a) => a.target === source);
  const twin: TablePair[] = [];
  for (const sa of sourceAppliers) {
    for (const st of sa.tables) {
      for (const ta of targetAppliers) {
        for (const tt of ta.tables) {
          if (tt.from === st.from) twin.push({ source: applierTargetTable(cfg, source, st.from, st.into), target: applierTargetTable(cfg, target, tt.from, tt.into) });
        }
      }
    }
  }
  if (twin.length) return twin;

  return cfg.reconciler.jobs
    .filter((j) => j.source === source && j.target === target)
    .map((j) => ({ source: tableIn(cfg, source, j.table), target: j.into ? tableIn(cfg, target, j.into) : applierTargetTable(cfg, target, `${source}.${j.table}`, undefined) }));
}

const display = (t: TableRef) => (t.schema ? `${t.schema}.${t.name}` : t.name);

/** Resolve the table pairs to compare; throws a ConfigError naming what is missing. */
export function resolveTablePairs(cfg: FieldsyncConfig, source: string, target: string, tables: string[] = []): TablePair[] {
  for (const db of [source, target]) {
    if (!cfg.databases[db]) throw new ConfigError(`unknown database "${db}" (known: ${Object.keys(cfg.databases).join(', ')})`);
  }
  const known = pairsFromConfig(cfg, source, target);
  if (tables.length === 0) {
    if (known.length === 0) throw new ConfigError(`no tables to compare between "${source}" and "${target}": the config has no applier or reconcile job between them; name them with --table`);
    return known;
  }
  const out: TablePair[] = [];
  for (const spec of tables) {
    const eq = spec.indexOf('=');
    if (eq >= 0) {
      out.push({ source: tableIn(cfg, source, spec.slice(0, eq)), target: tableIn(cfg, target, spec.slice(eq + 1)) });
      continue;
    }
    const matches = known.filter((p) => display(p.source) === spec || p.source.name === spec || display(p.target) === spec || p.target.name === spec);
    if (matches.length) out.push(...matches);
    else out.push({ source: tableIn(cfg, source, spec), target: tableIn(cfg, target, spec) });
  }
  return out;
}
