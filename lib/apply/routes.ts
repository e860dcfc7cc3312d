/**
 * Routes of one applier entry: which topic feeds which target table. A configured
 * `from: <source>.<table as in capture>` is read from the topic
 * topicName(kafka, source, table) and merged into `into` (default: the source table's
 * own name; in PostgreSQL targets in schema `public`, in MySQL targets in the
 * connection's database).
 */
import type { ApplierConfig, ApplierTableConfig, FieldsyncConfig } from '../config/schema.js';
import { ConfigError, FieldsyncError, wrap } from '../errors.js';
import { splitTableName } from '../dialect/introspect.js';
import { tableFromValueSchema, type AvroSchema } from '../avro/table-avro.js';
import { topicName } from '../kafka/client.js';
import { retry } from '../retry.js';
import type { TableSchema } from '../types.js';

export interface TableRoute {
  /** The configured `from`. */
  from: string;
  source: string;
  topic: string;
  into: { schema: string; name: string };
  /** Label for metrics: the target table's name (never a row key). */
  label: string;
  config: ApplierTableConfig;
}

export function tableRoutes(cfg: FieldsyncConfig, applier: ApplierConfig): TableRoute[] {
  const db = cfg.databases[applier.target];
  if (!db) throw new ConfigError(`applier target "${applier.target}" is not a configured database`);
  const defaultSchema = db.dialect === 'postgres' ? 'public' : '';
  return applier.tables.map((t) => {
    const dot = t.from.indexOf('.');
    if (dot <= 0 || dot === t.from.length - 1) throw new ConfigError(`applier ${applier.target}: tables.from "${t.from}" must be <source>.<table>`);
    const source = t.from.slice(0, dot);
    const table = t.from.slice(dot + 1);
    const sourceName = splitTableName(table).name;
    const into = splitTableName(t.into ?? sourceName, defaultSchema);
    if (!into.schema) into.schema = defaultSchema;
    return { from: t.from, source, topic: topicName(cfg.kafka, source, table), into, label: into.name, config: t };
  });
}

export function consumerIdentity(applier: ApplierConfig): string {
  return applier.groupId ?? `fieldsync-applier-${applier.target}`;
}

/**
 * The newest value schema registered for a topic (subject `<topic>-value`), as the
 * table it describes; undefined when nothing was published to the topic yet.
 */
export async function latestTopicTable(registryUrl: string, topic: string, auth?: { username: string; password: string }): Promise<TableSchema | undefined> {
  return (await latestTopicSchema(registryUrl, topic, auth))?.table;
}

/** The newest value schema of a topic with its registry id (the id its events carry). */
export async function latestTopicSchema(registryUrl: string, topic: string, auth?: { username: string; password: string }): Promise<{ id: number; table: TableSchema } | undefined> {
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
  let res: Response;
  try {
    res = await retry(async () => {
      const r = await fetch(`${registryUrl}/subjects/${encodeURIComponent(`${topic}-value`)}/versions/latest`, { headers })
        .catch((e: unknown) => { throw new FieldsyncError(`unable to reach the schema registry: ${(e as Error).message}`, { retriable: true }); });
      if (r.status >= 500) throw new FieldsyncError(`registry answered ${r.status}`, { retriable: true });
      return r;
    }, { maxElapsedMs: 30_000 });
  } catch (e) {
    throw wrap(`unable to read the latest schema of ${topic}`, e);
  }
  if (res.status === 404) return undefined;
  if (!res.ok) throw new FieldsyncError(`unable to read the latest schema of ${topic}: registry answered ${res.status}`);
  const body = (await res.json()) as { schema: string; id: number };
  return { id: body.id, table: tableFromValueSchema(JSON.parse(body.schema) as AvroSchema) };
}
