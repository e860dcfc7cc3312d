/**
 * MySQL / MariaDB: a refresh loads and merges its stage table without the plain secondary
 * indexes live has, and adds them back once the merge is done, before anything else reads
 * the stage (window rounds, verify, swap). Kept up to date during the load and the merge,
 * each index is a random insert per row into its own B-tree; added afterwards, InnoDB builds
 * it by sorting, page by page. The definitions are taken verbatim from SHOW CREATE TABLE of
 * the stage (CREATE TABLE … LIKE live made them), so names, columns, prefixes, uniqueness,
 * comments and IGNORED come back exactly.
 *
 * FULLTEXT and SPATIAL indexes stay (their build has other costs and rules: FTS_DOC_ID).
 * A UNIQUE index that the merged rows violate now fails when it is added, before the swap,
 * where it failed during the load or the merge: the refresh aborts either way.
 */
import type { DbRow } from '../dialect.js';
import { mysqlDialect as d } from './dialect.js';

export interface StageIndex { name: string; clause: string }

interface Runner { query(sql: string, params?: readonly unknown[]): Promise<DbRow[]> }

/** Plain KEY and UNIQUE KEY definitions of `t` (not the primary key), in table order. */
export async function deferrableIndexes(s: Runner, t: { schema: string; name: string }): Promise<StageIndex[]> {
  const [row] = await s.query(`SHOW CREATE TABLE ${d.qualified(t)}`);
  return parseDeferrableIndexes(String(row?.['Create Table'] ?? ''));
}

/** The plain KEY and UNIQUE KEY lines of a SHOW CREATE TABLE text (one definition a line). */
export function parseDeferrableIndexes(ddl: string): StageIndex[] {
  const out: StageIndex[] = [];
  for (const line of ddl.split('\n')) {
    const m = /^\s+(?:UNIQUE )?KEY `((?:[^`]|``)+)` /.exec(line);
    if (m) out.push({ name: m[1]!.replaceAll('``', '`'), clause: line.trim().replace(/,$/, '') });
  }
  return out;
}

export function dropIndexesSql(t: { schema: string; name: string }, indexes: readonly StageIndex[]): string {
  return `ALTER TABLE ${d.qualified(t)} ${indexes.map((i) => `DROP INDEX ${d.quote(i.name)}`).join(', ')}`;
}

export function addIndexesSql(t: { schema: string; name: string }, indexes: readonly StageIndex[]): string {
  return `ALTER TABLE ${d.qualified(t)} ${indexes.map((i) => `ADD ${i.clause}`).join(', ')}`;
}
