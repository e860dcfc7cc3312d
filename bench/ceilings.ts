/**
 * Ceilings: what the databases and the broker take when nothing but the raw path runs, on
 * the same 10-column table (bench/support/table.ts), the same machine and in the same run
 * as the fieldsync figures they are compared with.
 *
 *   bulk load      MariaDB LOAD DATA LOCAL INFILE / PostgreSQL COPY FROM STDIN, one connection
 *   upsert         1,000-row multi-row upserts (INSERT … ON DUPLICATE KEY UPDATE / ON CONFLICT),
 *                  once into an empty table (inserts) and once over the same keys (updates)
 *   set merge      one statement INSERT … SELECT … upsert of a staged table into a live one
 *                  holding the same keys (the reconciler's merge has this as its ceiling)
 *   swap           an atomic rename of two tables (RENAME TABLE / renames in one transaction)
 *   kafka          org.apache.kafka.tools.ProducerPerformance from the stack's Kafka jars, on
 *                  the same broker, records the size of a fieldsync change event
 *
 * Each figure is rows (records) per second of wall time around the operation only; table
 * creation and clean-up are outside the timed part. `tsx bench/ceilings.ts` runs them alone.
 */
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kafka, logLevel } from '../lib/kafka/kafkajs.js';
import { from as copyFrom } from 'pg-copy-streams';
import { openMysql } from '../lib/dialect/mysql/db.js';
import { openPostgres } from '../lib/dialect/postgres/db.js';
import type { Db } from '../lib/dialect/dialect.js';
import { stack, uniqueName } from '../test/support/helpers.js';
import { fmt, kafkaLibs, machineInfo, markdownTable, scaled, writeResult, type ResultRow } from './support/env.js';
import { BENCH_COLUMNS, NON_KEY_COLUMNS, benchLine, createBenchTable, multiRowUpsert } from './support/table.js';

export interface DbCeilings {
  bulkLoadRowsPerSec: number;
  upsertInsertRowsPerSec: number;
  upsertUpdateRowsPerSec: number;
  setMergeRowsPerSec: number;
  setMergeSeconds: number;
  swapMs: number;
  rows: { bulk: number; upsert: number; merge: number };
}

export interface KafkaCeiling {
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  p99LatencyMs: number;
  records: number;
  recordSize: number;
}

export interface Ceilings {
  mariadb: DbCeilings;
  postgres: DbCeilings;
  kafka: KafkaCeiling;
}

export interface CeilingOptions {
  bulkRows?: number;
  upsertRows?: number;
  mergeRows?: number;
  kafkaRecords?: number;
  /** Bytes per Kafka record; default: about the size of a fieldsync event of the bench table. */
  recordSize?: number;
  log?: (msg: string) => void;
}

const perSec = (rows: number, ms: number) => Math.round(rows / (ms / 1000));

function lineStream(from: number, to: number, v = 0, chunk = 2000): Readable {
  let next = from;
  return new Readable({
    read() {
      if (next >= to) { this.push(null); return; }
      let s = '';
      const end = Math.min(to, next + chunk);
      for (let id = next; id < end; id++) s += benchLine(id, v);
      next = end;
      this.push(s);
    },
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function bulkLoad(db: Db, pgUrl: string | undefined, table: string, rows: number, v = 0): Promise<number> {
  if (db.dialect.name === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: pgUrl, options: '-c TimeZone=UTC' });
    await client.connect();
    try {
      return await timed(() => pipeline(lineStream(0, rows, v), client.query(copyFrom(`COPY "${table}" (${BENCH_COLUMNS.join(', ')}) FROM STDIN`))));
    } finally {
      await client.end();
    }
  }
  const mysql = (await import('mysql2/promise')).default;
  const conn = await mysql.createConnection({ uri: stack.mysqlUrl(), flags: ['+LOCAL_FILES'] });
  try {
    await conn.query("SET time_zone = '+00:00'");
    return await timed(() => conn.query({
      sql: `LOAD DATA LOCAL INFILE 'bench.tsv' INTO TABLE \`${table}\` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' (${BENCH_COLUMNS.join(', ')})`,
      infileStreamFactory: () => lineStream(0, rows, v),
    }));
  } finally {
    await conn.end();
  }
}

async function upserts(db: Db, table: string, rows: number, v: number): Promise<number> {
  const dialect = db.dialect.name === 'postgres' ? 'postgres' : 'mysql';
  return timed(async () => {
    for (let i = 0; i < rows; i += 1000) {
      const { sql, params } = multiRowUpsert(dialect, table, i, Math.min(rows, i + 1000), v);
      await db.execute(sql, params);
    }
  });
}

async function dbCeilings(kind: 'postgres' | 'mysql', o: Required<Omit<CeilingOptions, 'log'>> & { log: (m: string) => void }): Promise<DbCeilings> {
  const pgUrl = stack.pgUrl();
  const db: Db = kind === 'postgres' ? openPostgres(pgUrl, { poolSize: 2 }) : openMysql(stack.mysqlUrl(), { poolSize: 2 });
  const q = (s: string) => db.dialect.quote(s);
  const base = uniqueName(`ceil_${kind === 'postgres' ? 'pg' : 'my'}`);
  const [bulk, up, live, stage, other] = ['bulk', 'up', 'live', 'stage', 'other'].map((s) => `${base}_${s}`) as [string, string, string, string, string];
  try {
    for (const t of [bulk, up, live, stage, other]) await createBenchTable(db, t);
    o.log(`${kind}: bulk load of ${fmt(o.bulkRows)} rows`);
    const bulkMs = await bulkLoad(db, pgUrl, bulk, o.bulkRows);
    o.log(`${kind}: 1,000-row upserts of ${fmt(o.upsertRows)} rows (insert, then update)`);
    const upInsMs = await upserts(db, up, o.upsertRows, 0);
    const upUpdMs = await upserts(db, up, o.upsertRows, 1);
    o.log(`${kind}: set-based merge of ${fmt(o.mergeRows)} × ${fmt(o.mergeRows)} rows`);
    await bulkLoad(db, pgUrl, live, o.mergeRows, 0);
    await bulkLoad(db, pgUrl, stage, o.mergeRows, 1);
    if (kind === 'postgres') { await db.execute(`ANALYZE ${q(live)}`); await db.execute(`ANALYZE ${q(stage)}`); }
    const cols = BENCH_COLUMNS.join(', ');
    const mergeSql = kind === 'postgres'
      ? `INSERT INTO ${q(live)} (${cols}) SELECT ${cols} FROM ${q(stage)} ON CONFLICT (id) DO UPDATE SET ${NON_KEY_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`
      : `INSERT INTO ${q(live)} (${cols}) SELECT ${cols} FROM ${q(stage)} ON DUPLICATE KEY UPDATE ${NON_KEY_COLUMNS.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
    const mergeMs = await timed(() => db.execute(mergeSql));
    o.log(`${kind}: atomic swap`);
    const swapMs = kind === 'postgres'
      ? await timed(() => db.transaction(async (tx) => {
        await tx.execute(`ALTER TABLE ${q(live)} RENAME TO ${q(`${base}_tmp`)}`);
        await tx.execute(`ALTER TABLE ${q(other)} RENAME TO ${q(live)}`);
        await tx.execute(`ALTER TABLE ${q(`${base}_tmp`)} RENAME TO ${q(other)}`);
      }))
      : await timed(() => db.execute(`RENAME TABLE ${q(live)} TO ${q(`${base}_tmp`)}, ${q(other)} TO ${q(live)}, ${q(`${base}_tmp`)} TO ${q(other)}`));
    return {
      bulkLoadRowsPerSec: perSec(o.bulkRows, bulkMs),
      upsertInsertRowsPerSec: perSec(o.upsertRows, upInsMs),
      upsertUpdateRowsPerSec: perSec(o.upsertRows, upUpdMs),
      setMergeRowsPerSec: perSec(o.mergeRows, mergeMs),
      setMergeSeconds: Math.round(mergeMs) / 1000,
      swapMs: Math.round(swapMs * 100) / 100,
      rows: { bulk: o.bulkRows, upsert: o.upsertRows, merge: o.mergeRows },
    };
  } finally {
    for (const t of [bulk, up, live, stage, other, `${base}_tmp`]) await db.execute(`DROP TABLE IF EXISTS ${q(t)}`).catch(() => undefined);
    await db.close();
  }
}

/** Kafka's own producer benchmark on the same broker, into a fresh topic with 3 partitions. */
export async function kafkaCeiling(records: number, recordSize: number, brokers = stack.kafkaBrokers): Promise<KafkaCeiling> {
  const topic = uniqueName('ceiling_producer');
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    const r = spawnSync('java', ['-Xmx512m', '-cp', `${kafkaLibs()}/*`, 'org.apache.kafka.tools.ProducerPerformance',
      '--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${brokers.join(',')}`, 'acks=all', 'enable.idempotence=true', 'linger.ms=5', 'batch.size=262144', 'compression.type=none'],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`unable to run Kafka's ProducerPerformance: exit ${r.status}\n${r.stderr.split('\n').slice(-10).join('\n')}`);
    // Last line: "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, p50, p95, p99, p99.9"
    const last = r.stdout.trim().split('\n').filter((l) => l.includes('records sent')).pop() ?? '';
    const m = /([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency.*?([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th/.exec(last);
    if (!m) throw new Error(`unable to read ProducerPerformance's summary: ${last || r.stdout.slice(-500)}`);
    return { recordsPerSec: Math.round(Number(m[1])), mbPerSec: Number(m[2]), avgLatencyMs: Number(m[3]), p99LatencyMs: Number(m[6]), records, recordSize };
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

export async function measureCeilings(opts: CeilingOptions = {}): Promise<Ceilings> {
  const o = {
    bulkRows: opts.bulkRows ?? scaled(300_000),
    upsertRows: opts.upsertRows ?? scaled(100_000),
    mergeRows: opts.mergeRows ?? scaled(300_000),
    kafkaRecords: opts.kafkaRecords ?? scaled(1_000_000),
    recordSize: opts.recordSize ?? 190,
    log: opts.log ?? (() => undefined),
  };
  const mariadb = await dbCeilings('mysql', o);
  const postgres = await dbCeilings('postgres', o);
  o.log(`kafka: ProducerPerformance, ${fmt(o.kafkaRecords)} records of ${o.recordSize} bytes`);
  const kafka = await kafkaCeiling(o.kafkaRecords, o.recordSize);
  return { mariadb, postgres, kafka };
}

export function ceilingsMarkdown(c: Ceilings): string {
  const rows: ResultRow[] = [];
  for (const [name, d] of [['MariaDB', c.mariadb], ['PostgreSQL', c.postgres]] as const) {
    rows.push({ ceiling: `${name} bulk load (${name === 'MariaDB' ? 'LOAD DATA LOCAL INFILE' : 'COPY'})`, rows: d.rows.bulk, 'rows/s': d.bulkLoadRowsPerSec });
    rows.push({ ceiling: `${name} 1,000-row upsert, new keys`, rows: d.rows.upsert, 'rows/s': d.upsertInsertRowsPerSec });
    rows.push({ ceiling: `${name} 1,000-row upsert, existing keys`, rows: d.rows.upsert, 'rows/s': d.upsertUpdateRowsPerSec });
    rows.push({ ceiling: `${name} one-statement set merge (${fmt(d.setMergeSeconds, 2)} s)`, rows: d.rows.merge, 'rows/s': d.setMergeRowsPerSec });
    rows.push({ ceiling: `${name} atomic swap (ms)`, rows: null, 'rows/s': d.swapMs });
  }
  rows.push({ ceiling: `Kafka ProducerPerformance (${c.kafka.recordSize} B records, acks=all; p99 ${c.kafka.p99LatencyMs} ms)`, rows: c.kafka.records, 'rows/s': c.kafka.recordsPerSec });
  return markdownTable(rows);
}

if (process.argv[1]?.endsWith('ceilings.ts')) {
  const log = (m: string) => process.stdout.write(`[ceilings] ${m}\n`);
  const c = await measureCeilings({ log });
  const files = writeResult('ceilings', 'Ceilings (same machine, same run)', machineInfo(), c, ceilingsMarkdown(c));
  process.stdout.write(`${JSON.stringify(c, null, 2)}\n[ceilings] wrote ${files.md}\n`);
}
