/**
 * Test harness for the applier's integration tests: publish change events to a table's
 * topic exactly as capture does (EventCodec, key = primary key), spawn the applier as a
 * child process (`node bin/fieldsync.mjs applier --config <tmp yaml>`) for kill -9 tests,
 * read a target table in canonical form, and compare stored offsets with end offsets.
 *
 * `StreamModel` is the expected final state of a stream whose stamps increase per key
 * (one origin, events produced in order): then last-writer-wins is plain sequential
 * application — insert sets every column and makes the row present, update sets the
 * changed columns without creating a row, delete removes the row.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Admin, Producer } from 'kafkajs';
import { stringify } from 'yaml';
import { EventCodec, type RegisteredTable } from '../../lib/avro/codec.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { createKafka, ensureTopics } from '../../lib/kafka/client.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { waitFor } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Publishes change events to one table's topic, as capture would. */
export class EventPublisher {
  private producer: Producer | undefined;
  private reg: RegisteredTable | undefined;
  readonly codec: EventCodec;

  constructor(private readonly cfg: FieldsyncConfig, readonly topic: string, private table: TableSchema) {
    this.codec = new EventCodec(cfg.registry);
  }

  async connect(): Promise<void> {
    const kafka = createKafka(this.cfg.kafka, 'test-publisher');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, this.cfg.kafka, [this.topic]);
    await admin.disconnect();
    this.reg = await this.codec.register(this.topic, this.table);
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  get registered(): RegisteredTable {
    if (!this.reg) throw new Error('EventPublisher.connect() first');
    return this.reg;
  }

  /** Register a new version of the table (schema evolution) for the following events. */
  async evolve(table: TableSchema): Promise<RegisteredTable> {
    this.table = table;
    this.reg = await this.codec.register(this.topic, table);
    return this.reg;
  }

  async publish(events: ChangeEvent[]): Promise<void> {
    const reg = this.registered;
    for (let i = 0; i < events.length; i += 2000) {
      const messages = events.slice(i, i + 2000).map((e) => this.codec.encode(reg, e));
      await this.producer!.send({ topic: this.topic, acks: -1, messages });
    }
  }

  /** Raw messages (poison tests): the value bytes are sent as given. */
  async publishRaw(messages: { key: Buffer | null; value: Buffer }[]): Promise<void> {
    await this.producer!.send({ topic: this.topic, acks: -1, messages });
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
  }
}

/** The sum of the end offsets (high watermarks) of a topic's partitions, per partition. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const wm = await admin.fetchTopicOffsets(topic);
  return new Map(wm.map((w) => [w.partition, BigInt(w.high)]));
}

/** True when the offsets stored in the target reach every partition's end offset. */
export function offsetsAtEnd(stored: { topic: string; partition: number; nextOffset: string }[], topic: string, ends: Map<number, bigint>): boolean {
  for (const [p, end] of ends) {
    if (end === 0n) continue;
    const s = stored.find((o) => o.topic === topic && o.partition === p);
    if (!s || BigInt(s.nextOffset) !== end) return false;
  }
  return true;
}

/** The rows of a table in canonical form, sorted by key (for equality checks). */
export async function readCanonical(db: Db, table: TableSchema, qualified: string): Promise<Row[]> {
  const rows = await db.query(`SELECT * FROM ${qualified}`);
  const out = rows.map((r) => Object.fromEntries(table.columns.map((c) => [c.name, db.dialect.fromDb(r[c.name], c.type)])) as Row);
  return sortRows(out, table.key);
}

export function sortRows(rows: Row[], key: string[]): Row[] {
  const k = (r: Row) => key.map((c) => String(r[c])).join('\u0000');
  const num = key.length === 1;
  return [...rows].sort((a, b) => {
    if (num) {
      const x = a[key[0]!], y = b[key[0]!];
      if ((typeof x === 'bigint' || typeof x === 'number') && (typeof y === 'bigint' || typeof y === 'number')) return x < y ? -1 : x > y ? 1 : 0;
    }
    return k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0;
  });
}

/** Expected final state of a stream with increasing stamps per key (see the header). */
export class StreamModel {
  private readonly rows = new Map<string, { present: boolean; values: Row }>();

  constructor(private readonly table: TableSchema) {}

  apply(e: ChangeEvent): void {
    const id = this.table.key.map((k) => String(e.key[k])).join('\u0000');
    const cur = this.rows.get(id) ?? { present: false, values: { ...e.key } };
    if (e.op === 'insert' || e.op === 'snapshot') {
      cur.present = true;
      for (const c of this.table.columns) cur.values[c.name] = e.after?.[c.name] ?? null;
    } else if (e.op === 'update') {
      for (const c of e.changed) cur.values[c] = e.after?.[c] ?? null;
    } else {
      cur.present = false;
    }
    this.rows.set(id, cur);
  }

  finalRows(): Row[] {
    const out = [...this.rows.values()].filter((r) => r.present).map((r) => {
      const row: Row = {};
      for (const c of this.table.columns) row[c.name] = r.values[c.name] ?? null;
      return row;
    });
    return sortRows(out, this.table.key);
  }
}

/** Write a config to a temp YAML file for a child process; returns the path and a cleanup. */
export function writeTempConfig(cfg: FieldsyncConfig): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-cfg-'));
  const path = join(dir, 'fieldsync.yaml');
  writeFileSync(path, stringify(cfg));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ServiceProcess {
  readonly proc: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => { for (const p of running) try { p.kill('SIGKILL'); } catch { /* gone */ } });

/** Spawn `node bin/fieldsync.mjs <args>` (tsx is used automatically). */
export function spawnFieldsync(args: string[], env: Record<string, string> = {}): ServiceProcess {
  const proc = spawn(process.execPath, [join(root, 'bin', 'fieldsync.mjs'), ...args], {
    cwd: root,
    env: { ...process.env, FIELDSYNC_LOG_LEVEL: process.env.FIELDSYNC_LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString()).slice(-20_000); };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => { running.delete(proc); resolve(code ?? signal ?? 'unknown'); });
  });
  return {
    proc,
    output: () => out,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => { try { proc.kill(signal); } catch { /* gone */ } },
  };
}

/** Stop every child still running (afterAll). */
export async function killAll(procs: ServiceProcess[]): Promise<void> {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => Promise.race([p.exited, waitFor('exit', () => p.proc.exitCode !== null || p.proc.signalCode !== null, 10_000).catch(() => 'timeout')])));
}

// ---------------------------------------------------------------- generated streams

/** The `clients` table of the seed scenario, as billing publishes it. */
export function clientsTable(name = 'clients', schema = 'public'): TableSchema {
  return {
    schema, name, key: ['id'],
    columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
      { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
      { name: 'phone', type: { kind: 'string', maxLength: 40 }, nullable: true },
      { name: 'balance', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
      { name: 'seen_at', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true },
    ],
  };
}

/** A small deterministic PRNG (mulberry32) so a failing stream can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clientsRow(id: bigint, rnd: () => number, serial: number): Row {
  const cents = BigInt(Math.floor(rnd() * 2e9)) - 1_000_000_000n;
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  const micros = 1_700_000_000_000_000n + BigInt(Math.floor(rnd() * 1e15));
  const d = new Date(Number(micros / 1000n)).toISOString().replace('T', ' ').slice(0, 19);
  return {
    id,
    email: rnd() < 0.1 ? null : `c${id}.${serial}@exämple.org`,
    phone: rnd() < 0.1 ? null : `+49 ${Math.floor(rnd() * 1e9)}`,
    balance: `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`,
    seen_at: `${d}.${(micros % 1_000_000n).toString().padStart(6, '0')}`,
  };
}

/**
 * A random stream on the clients table: inserts, single/multi-column updates (also of
 * absent rows: they must not create one), deletes and re-inserts, with commit times that
 * increase across the whole stream (so StreamModel gives the expected final state).
 */
export function clientsStream(opts: { events: number; keys: number; origin: string; seed: number; startMicros?: bigint; firstId?: bigint }): ChangeEvent[] {
  const rnd = prng(opts.seed);
  const first = opts.firstId ?? 1n;
  const present = new Map<bigint, Row>();
  let t = opts.startMicros ?? 1_760_000_000_000_000n;
  const out: ChangeEvent[] = [];
  const fields = ['email', 'phone', 'balance', 'seen_at'];
  for (let i = 0; i < opts.events; i++) {
    t += BigInt(1 + Math.floor(rnd() * 1000));
    const id = first + BigInt(Math.floor(rnd() * opts.keys));
    const cur = present.get(id);
    const r = rnd();
    const base = { origin: opts.origin, commitTimeMicros: t, position: `outbox:${i + 1}`, key: { id } };
    if (!cur && r < 0.85) {
      const row = clientsRow(id, rnd, i);
      present.set(id, row);
      out.push({ ...base, op: 'insert', after: row, changed: ['id', ...fields] });
    } else if (cur && r < 0.1) {
      present.delete(id);
      out.push({ ...base, op: 'delete', after: null, changed: [] });
    } else {
      const next = clientsRow(id, rnd, i);
      const changed = fields.filter(() => rnd() < 0.4);
      if (changed.length === 0) changed.push(fields[Math.floor(rnd() * fields.length)]!);
      const after: Row = { ...(cur ?? next) };
      for (const c of changed) after[c] = next[c] ?? null;
      if (cur) present.set(id, after);
      out.push({ ...base, op: 'update', after, changed });
    }
  }
  return out;
}

/** waitFor, but fail at once (with the child's output) when the service process exits. */
export async function waitWhileRunning<T>(p: ServiceProcess, what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 200): Promise<T> {
  let done = false;
  const died = p.exited.then((code) => {
    if (!done) throw new Error(`the service exited (${code}) while waiting for ${what}:\n${p.output()}`);
    return undefined as never;
  });
  try {
    return await Promise.race([waitFor(what, probe, timeoutMs, intervalMs), died]);
  } finally {
    done = true;
  }
}

/** Wait until the service logged a line matching `pattern` (spawn it with FIELDSYNC_LOG_LEVEL=info). */
export function waitForLog(p: ServiceProcess, pattern: RegExp, timeoutMs = 60_000): Promise<true> {
  return waitWhileRunning(p, `log line ${pattern}`, () => Promise.resolve(pattern.test(p.output())), timeoutMs, 100);
}
