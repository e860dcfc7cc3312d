/** Reads a table's columns and primary key from the catalog into the shared TableSchema. */
import { DataError } from '../errors.js';
import { checkColumnNames, type TableSchema } from '../types.js';
import type { Db, NativeColumn } from './dialect.js';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Returns undefined when the table does not exist. */
export async function readTableSchema(db: Db, schema: string, name: string, keyColumns?: string[]): Promise<TableSchema | undefined> {
  const d = db.dialect;
  const schemaExpr = d.name === 'mysql' ? (schema ? '?' : 'DATABASE()') : '?';
  const defaultSchema = d.name === 'mssql' ? 'dbo' : 'public';
  const params = d.name === 'mysql' && !schema ? [name] : [schema || defaultSchema, name];
  const p1 = d.name === 'mysql' ? schemaExpr : d.param(1);
  const p2 = d.name === 'mysql' ? '?' : d.param(2);
  const cols = await db.query(
    `SELECT column_name AS name, data_type AS data_type, ${d.name === 'mysql' ? 'column_type' : 'NULL'} AS column_type,
            character_maximum_length AS char_len, numeric_precision AS num_prec, numeric_scale AS num_scale,
            datetime_precision AS dt_prec, is_nullable AS nullable
       FROM information_schema.columns
      WHERE table_schema = ${p1} AND table_name = ${p2}
      ORDER BY ordinal_position`, params);
  if (cols.length === 0) return undefined;
  const columns = cols.map((r) => {
    const nc: NativeColumn = {
      name: String(r.name),
      dataType: String(r.data_type).toLowerCase(),
      columnType: r.column_type ? String(r.column_type) : undefined,
      charMaxLength: num(r.char_len),
      numericPrecision: num(r.num_prec),
      numericScale: num(r.num_scale),
      datetimePrecision: num(r.dt_prec),
      nullable: String(r.nullable) === 'YES',
    };
    return { name: nc.name, type: d.columnType(nc), nullable: nc.nullable };
  });
  let key = keyColumns;
  if (!key) {
    const pk = await db.query(
      `SELECT kcu.column_name AS name
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = ${p1} AND tc.table_name = ${p2}
        ORDER BY kcu.ordinal_position`, params);
    key = pk.map((r) => String(r.name));
  }
  const resolvedSchema = d.name === 'mysql' && !schema ? '' : schema || defaultSchema;
  if (key.length === 0) {
    throw new DataError(`table ${resolvedSchema ? `${resolvedSchema}.` : ''}${name} has no primary key: give keyColumns for it in the config`);
  }
  for (const k of key) if (!columns.some((c) => c.name === k)) throw new DataError(`table ${name}: key column "${k}" does not exist`);
  checkColumnNames(`${resolvedSchema ? `${resolvedSchema}.` : ''}${name}`, columns.map((c) => c.name));
  return { schema: resolvedSchema, name, columns, key };
}

/** Split a configured `schema.table` (or `table`) name. */
export function splitTableName(qualified: string, defaultSchema = ''): { schema: string; name: string } {
  const i = qualified.lastIndexOf('.');
  return i < 0 ? { schema: defaultSchema, name: qualified } : { schema: qualified.slice(0, i), name: qualified.slice(i + 1) };
}
