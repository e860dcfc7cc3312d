/**
 * Capture throughput: events/s from a pre-filled trigger outbox into Kafka, for a
 * PostgreSQL and a MariaDB source, on the local stack.
 *
 * Method: the benchmark's 10-column table (bench/support/table.ts) with the outbox triggers installed gets N rows inserted (N outbox rows,
 * written by the real triggers) while no capture runs; then the capture service starts
 * in-process with the default batch size and we time how long it takes until its stored
 * checkpoint reaches the last outbox sequence, i.e. every event is acknowledged by Kafka
 * (acks = all, idempotent producer, Avro through the registry) and checkpointed.
 * The figure includes connecting, schema registration and topic creation (< 1 s).
 *
 *   npx tsx bench/capture-throughput.ts            N = 100,000 per source
 *   CAPTURE_BENCH_EVENTS=500000 npx tsx bench/capture-throughput.ts
 *   (BENCH_SCALE multiplies the default, as in bench/run.ts)
 *   CAPTURE_BENCH_SOURCES=postgres npx tsx bench/capture-throughput.ts   one source only
 *   CAPTURE_BENCH_BATCH=2000 …                     another batchSize than the default
 *
 * Prints one JSON object: { postgres: { events, seconds, eventsPerSec }, mariadb: { … } }.
 */
import { installOutbox } from '../lib/capture/install.js';
import type { FieldsyncConfig } from '../lib/config/schema.js';
import { openDb } from '../lib/dialect/index.js';
import { startCaptureService } from '../services/capture/service.js';
import { stackConfig, uniqueName } from '../test/support/helpers.js';
import { benchSource, type SourceKind } from './support/source.js';
import { createBenchTable, generatedRowsSql } from './support/table.js';

const EVENTS = Number(process.env.CAPTURE_BENCH_EVENTS ?? 100_000 * Number(process.env.BENCH_SCALE ?? 1));

interface Result {
  events: number; seconds: number; eventsPerSec: number; startupSeconds: number; steadyEventsPerSec: number | null;
  cpuMicrosPerEvent: number; steadyCpuMicrosPerEvent: number | null; batchSize: number;
}

async function measure(kind: SourceKind): Promise<Result> {
  const src = await benchSource(kind, kind === 'postgres' ? 'fsbench' : 'capbench');
  const table = uniqueName('bench_capture');
  const cfg: FieldsyncConfig = stackConfig({
    databases: { src: src.database },
    capture: [{ source: 'src', mode: 'outbox', pollIntervalMs: 50, ...(process.env.CAPTURE_BENCH_BATCH ? { batchSize: Number(process.env.CAPTURE_BENCH_BATCH) } : {}), tables: [{ name: table, snapshot: false }] }],
  });
  const db = openDb(cfg.databases.src!);
  try {
    await createBenchTable(db, table);
    await installOutbox(cfg, cfg.capture[0]!, db);
    const chunk = 20_000;
    for (let lo = 1; lo <= EVENTS; lo += chunk) {
      const hi = Math.min(EVENTS, lo + chunk - 1);
      // the benchmark table's 10 columns, generated in SQL (the triggers write the outbox rows)
      await db.execute(`INSERT INTO ${table} ${generatedRowsSql(kind === 'postgres' ? 'postgres' : 'mysql', lo, hi)}`);
    }
    const outbox = src.outbox;
    const checkpointTable = src.checkpoints;
    const [m] = await db.query(`SELECT max(seq) AS s, count(*) AS n FROM ${outbox}`);
    const last = BigInt(String(m?.s));
    if (Number(m?.n) !== EVENTS) throw new Error(`expected ${EVENTS} outbox rows, found ${String(m?.n)}`);

    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
    // steady state: from the first stored checkpoint (connected, schemas registered, topic
    // created, first batch acknowledged) to the last, over the events in between
    let first: { at: number; position: bigint; cpu: NodeJS.CpuUsage } | undefined;
    for (;;) {
      const [r] = await db.query(`SELECT position FROM ${checkpointTable} WHERE stream = 'outbox'`);
      const position = r ? BigInt(String(r.position)) : 0n;
      if (!first && position > 0n) first = { at: performance.now(), position, cpu: process.cpuUsage() };
      if (position >= last) break;
      await new Promise((res) => setTimeout(res, 10)); // polling the checkpoint, not waiting for a result
    }
    const ended = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    const steadyCpu = process.cpuUsage(first!.cpu);
    const seconds = (ended - started) / 1000;
    await service.runtime.shutdown('bench done');
    const steadyEvents = Number(last - first!.position);
    const steadySeconds = (ended - first!.at) / 1000;
    return {
      events: EVENTS,
      seconds: Math.round(seconds * 100) / 100,
      eventsPerSec: Math.round(EVENTS / seconds),
      startupSeconds: Math.round((first!.at - started) / 10) / 100,
      steadyEventsPerSec: steadySeconds > 0 ? Math.round(steadyEvents / steadySeconds) : null,
      // the capture's own CPU (this process: service + the 10 ms checkpoint poll), steadier than wall time on a busy machine
      cpuMicrosPerEvent: Math.round(((cpu.user + cpu.system) / EVENTS) * 10) / 10,
      // the same over the steady state only (start-up compiles and connects: ~1 s of CPU)
      steadyCpuMicrosPerEvent: steadyEvents > 0 ? Math.round(((steadyCpu.user + steadyCpu.system) / steadyEvents) * 10) / 10 : null,
      batchSize: cfg.capture[0]!.batchSize,
    };
  } finally {
    await src.drop(cfg, db, [table]);
  }
}

const SOURCES = (process.env.CAPTURE_BENCH_SOURCES ?? 'postgres,mariadb').split(',');
const postgres = SOURCES.includes('postgres') ? await measure('postgres') : undefined;
const mariadb = SOURCES.includes('mariadb') ? await measure('mariadb') : undefined;
process.stdout.write(`${JSON.stringify({ postgres, mariadb, method: 'pre-filled outbox drained into Kafka by the capture service; time from service start to checkpoint at the last sequence' }, null, 2)}\n`);
process.exit(0);
