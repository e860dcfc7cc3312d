/**
 * Encodes and decodes change events in the Confluent wire format (magic byte 0, 4-byte
 * schema id, Avro body) through a Confluent-compatible schema registry.
 *
 * - Registration goes through @kafkajs/confluent-schema-registry, one subject per topic
 *   (`<topic>-key`, `<topic>-value`), with the configured compatibility set on the subject.
 * - Decoding fetches the writer schema by id (cached forever: ids are immutable) and
 *   rebuilds the table's columns from it, so a new column flows without a restart.
 * - A message that cannot be decoded throws DataError: the applier dead-letters it; it
 *   is never logged and skipped.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import type { RegistryConfig } from '../config/schema.js';
import type { ChangeEvent, ChangeOp } from '../event/change-event.js';
import { DataError, FieldsyncError, wrap } from '../errors.js';
import { retry } from '../retry.js';
import type { ColumnSpec, Row, TableSchema } from '../types.js';
import { compileEnvelopeReader, envelopeReaderFor, type EnvelopeReader, type ReadEnvelope } from './event-reader.js';
import { AvroOut, compileEventWriter, type EventWriter, NO_ROOM } from './event-writer.js';
import { type AvroSchema, avroTypeOf, ENVELOPE_OPS, keySchema, rowFromAvro, tableFromValueSchema, valueSchema } from './table-avro.js';

export interface RegisteredTable {
  topic: string;
  table: TableSchema;
  keyId: number;
  valueId: number;
  keyType: avro.Type;
  valueType: avro.Type;
  /** Writes this table's keys and envelopes (the same bytes keyType and valueType would). */
  writer: EventWriter;
}

export interface DecodedEvent {
  table: TableSchema;
  event: ChangeEvent;
  valueSchemaId: number;
}

interface WriterSchema {
  type: avro.Type;
  table?: TableSchema;
  /** Reads the envelope without avsc, when the schema is exactly the one fieldsync generates for `table`. */
  reader?: EnvelopeReader | undefined;
}

/** Envelope `Op` symbol → operation (avsc reads the enum as its symbol). */
const OPS: Record<string, ChangeOp> = Object.fromEntries(ENVELOPE_OPS.map((op) => [op.toUpperCase(), op]));

/** Encoding slab size: a few hundred messages; one larger than this is encoded on its own. */
const SLAB_BYTES = 256 * 1024;

export function frame(schemaId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeInt32BE(schemaId, 1);
  return Buffer.concat([head, body]);
}

export function unframe(buf: Buffer): { schemaId: number; body: Buffer } {
  if (buf.length < 5 || buf.readUInt8(0) !== 0) throw new DataError('message is not in the Confluent wire format (magic byte 0)');
  return { schemaId: buf.readInt32BE(1), body: buf.subarray(5) };
}

export class EventCodec {
  private readonly registry: SchemaRegistry;
  private readonly writers = new Map<number, Promise<WriterSchema>>();
  /** Writer schemas already fetched (ids are immutable: never evicted). */
  private readonly known = new Map<number, WriterSchema>();
  private readonly registered = new Map<string, RegisteredTable>();
  private readonly compatibilitySet = new Set<string>();
  private readonly keyColumns = new WeakMap<TableSchema, ColumnSpec[]>();
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabPos = 0;
  private readonly out = new AvroOut(this.slab, 0);

  constructor(private readonly cfg: RegistryConfig) {
    const auth = cfg.username ? { username: cfg.username, password: cfg.password ?? '' } : undefined;
    this.registry = new SchemaRegistry({ host: cfg.url, ...(auth ? { auth } : {}) });
  }

  /** Register (or find) the key and value schemas of a table's topic. Idempotent and cached. */
  async register(topic: string, table: TableSchema): Promise<RegisteredTable> {
    const ks = keySchema(topic, table);
    const vs = valueSchema(topic, table);
    const cacheKey = `${topic}\u0000${JSON.stringify(vs)}`;
    const hit = this.registered.get(cacheKey);
    if (hit) return hit;
    const [keyId, valueId] = await Promise.all([this.registerSubject(`${topic}-key`, ks), this.registerSubject(`${topic}-value`, vs)]);
    const reg: RegisteredTable = { topic, table, keyId, valueId, keyType: avroTypeOf(ks), valueType: avroTypeOf(vs), writer: compileEventWriter(table) };
    this.registered.set(cacheKey, reg);
    const keyWriter: WriterSchema = { type: reg.keyType };
    const valueWriter: WriterSchema = { type: reg.valueType, table, reader: compileEnvelopeReader(table) };
    this.writers.set(keyId, Promise.resolve(keyWriter));
    this.writers.set(valueId, Promise.resolve(valueWriter));
    this.known.set(keyId, keyWriter);
    this.known.set(valueId, valueWriter);
    return reg;
  }

  private async registerSubject(subject: string, schema: AvroSchema): Promise<number> {
    if (!this.compatibilitySet.has(subject)) {
      await this.setCompatibility(subject);
      this.compatibilitySet.add(subject);
    }
    try {
      return await retry(async () => {
        const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
        return id;
      }, { maxElapsedMs: 30_000, retriable: (e) => !/incompatible|409|422/i.test(String((e as Error).message)) });
    } catch (e) {
      throw wrap(`unable to register schema for subject ${subject}`, e);
    }
  }

  private async setCompatibility(subject: string): Promise<void> {
    const res = await fetch(`${this.cfg.url}/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...this.authHeader() },
      body: JSON.stringify({ compatibility: this.cfg.compatibility }),
    }).catch((e: unknown) => { throw wrap(`unable to reach the schema registry at ${this.cfg.url}`, Object.assign(e as object, { retriable: true })); });
    if (!res.ok) throw new FieldsyncError(`unable to set compatibility of ${subject}: registry answered ${res.status} ${await res.text()}`);
  }

  private authHeader(): Record<string, string> {
    if (!this.cfg.username) return {};
    return { authorization: `Basic ${Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ''}`).toString('base64')}` };
  }

  encode(reg: RegisteredTable, e: ChangeEvent): { key: Buffer; value: Buffer } {
    return { key: this.framed(reg, e, true), value: this.framed(reg, e, false) };
  }

  /**
   * Wire-format bytes of an event's key or value, written straight into a shared slab and returned
   * as a view of it: no per-message buffers to allocate and copy. A slab is never written
   * again once full (the views handed out still point into it): a fresh one replaces it.
   * A message larger than a slab gets slabs doubled in size until one holds it.
   */
  private framed(reg: RegisteredTable, e: ChangeEvent, isKey: boolean): Buffer {
    const out = this.out;
    for (;;) {
      const start = this.slabPos;
      out.buf = this.slab;
      out.pos = start + 5;
      try {
        if (isKey) reg.writer.key(out, e.key);
        else reg.writer.value(out, e);
      } catch (err) {
        if (err !== NO_ROOM) throw err;
        // a fresh slab; twice as large when the message did not fit even an empty one
        this.slab = Buffer.allocUnsafe(start === 0 ? this.slab.length * 2 : SLAB_BYTES);
        this.slabPos = 0;
        continue;
      }
      this.slab.writeUInt8(0, start);
      this.slab.writeInt32BE(isKey ? reg.keyId : reg.valueId, start + 1);
      this.slabPos = out.pos;
      return this.slab.subarray(start, out.pos);
    }
  }

  /** The key columns of a table, in key order (looked up once per table schema). */
  private keyColumnsOf(table: TableSchema): ColumnSpec[] {
    let cols = this.keyColumns.get(table);
    if (!cols) {
      cols = table.key.map((k) => table.columns.find((c) => c.name === k)!);
      this.keyColumns.set(table, cols);
    }
    return cols;
  }

  /** Whether messages of a known writer schema are read by event-reader.ts (true for the envelopes fieldsync writes) rather than by avsc. */
  readsCompiled(schemaId: number): boolean {
    return Boolean(this.known.get(schemaId)?.reader);
  }

  /** The writer schema for an id, fetched once. Unknown ids are data errors (dead-letter). */
  private writer(id: number): Promise<WriterSchema> {
    let w = this.writers.get(id);
    if (!w) {
      w = this.fetchSchema(id).then((schema) => {
        const isEnvelope = schema.name === 'Envelope' && Boolean(schema['fieldsync.table']);
        const table = isEnvelope ? tableFromValueSchema(schema) : undefined;
        const writer: WriterSchema = { type: avroTypeOf(schema), ...(table ? { table, reader: envelopeReaderFor(schema, table) } : {}) };
        this.known.set(id, writer);
        return writer;
      });
      w.catch(() => this.writers.delete(id)); // let a transient failure be retried
      this.writers.set(id, w);
    }
    return w;
  }

  private async fetchSchema(id: number): Promise<AvroSchema> {
    const res = await retry(async () => {
      const r = await fetch(`${this.cfg.url}/schemas/ids/${id}`, { headers: this.authHeader() })
        .catch((e: unknown) => { throw Object.assign(new FieldsyncError(`unable to reach the schema registry: ${(e as Error).message}`), { retriable: true }); });
      if (r.status >= 500) throw new FieldsyncError(`registry answered ${r.status}`, { retriable: true });
      return r;
    }, { maxElapsedMs: 60_000 });
    if (res.status === 404) throw new DataError(`schema id ${id} is not in the registry`);
    if (!res.ok) throw new FieldsyncError(`unable to fetch schema ${id}: registry answered ${res.status}`);
    const body = (await res.json()) as { schema: string };
    try {
      return JSON.parse(body.schema) as AvroSchema;
    } catch {
      throw new DataError(`schema id ${id} is not JSON`);
    }
  }

  async decode(keyBuf: Buffer | null, valueBuf: Buffer): Promise<DecodedEvent> {
    const { schemaId } = unframe(valueBuf);
    const w = await this.writer(schemaId);
    let r = this.decodeWith(w, keyBuf, valueBuf, schemaId);
    if ('needKeySchema' in r) {
      await this.writer(r.needKeySchema); // a delete: its key is decoded with the key's schema
      r = this.decodeWith(w, keyBuf, valueBuf, schemaId);
      if ('needKeySchema' in r) throw new DataError(`schema id ${r.needKeySchema} of the message key is unknown`);
    }
    return r;
  }

  /**
   * decode() without awaiting, for a message whose writer schemas were already fetched (the
   * applier's hot path: a promise per message costs about as much as the decoding);
   * undefined when a schema still has to be fetched. Throws DataError exactly as decode().
   */
  decodeKnown(keyBuf: Buffer | null, valueBuf: Buffer): DecodedEvent | undefined {
    const { schemaId } = unframe(valueBuf);
    const w = this.known.get(schemaId);
    if (!w) return undefined;
    const r = this.decodeWith(w, keyBuf, valueBuf, schemaId);
    return 'needKeySchema' in r ? undefined : r;
  }

  private decodeWith(w: WriterSchema, keyBuf: Buffer | null, valueBuf: Buffer, schemaId: number): DecodedEvent | { needKeySchema: number } {
    const body = valueBuf.subarray(5);
    if (!w.table) throw new DataError(`schema id ${schemaId} is not a fieldsync change envelope`);
    const table = w.table;
    let env: ReadEnvelope;
    try {
      env = w.reader ? w.reader(body) : readWithAvsc(w.type, body, table);
    } catch (e) {
      throw new DataError(`unable to decode message with schema ${schemaId}: ${(e as Error).message}`, e);
    }
    const after = env.after;
    let key: Row;
    if (after) {
      key = {};
      for (const k of table.key) key[k] = after[k] ?? null;
    } else {
      if (!keyBuf) throw new DataError('delete event without a message key');
      const k = unframe(keyBuf);
      const kw = this.known.get(k.schemaId);
      if (!kw) return { needKeySchema: k.schemaId };
      try {
        key = rowFromAvro(kw.type.fromBuffer(k.body) as Record<string, unknown>, this.keyColumnsOf(table));
      } catch (e) {
        throw new DataError(`unable to decode message key with schema ${k.schemaId}: ${(e as Error).message}`, e);
      }
    }
    return {
      table,
      valueSchemaId: schemaId,
      event: { op: env.op, origin: env.origin, commitTimeMicros: env.commitTimeMicros, position: env.position, key, after, changed: env.changed },
    };
  }
}

/** An envelope read by avsc (a writer schema other than the one fieldsync generates for its table). */
function readWithAvsc(type: avro.Type, body: Buffer, table: TableSchema): ReadEnvelope {
  const rec = type.fromBuffer(body) as { op: string; origin: string; commitTimeMicros: bigint; position: string; changed: string[]; after: Record<string, unknown> | null };
  const op = OPS[rec.op];
  if (!op) throw new DataError(`unknown operation ${rec.op}`);
  return { op, origin: rec.origin, commitTimeMicros: rec.commitTimeMicros, position: rec.position, changed: rec.changed, after: rec.after ? rowFromAvro(rec.after, table.columns) : null };
}
