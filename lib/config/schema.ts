/**
 * The one config schema (zod). Every default lives here; durations are `…Ms`.
 * Unknown keys are errors (`strict`), so a typo fails at start with its field path.
 *
 *   kafka, registry       where events go
 *   databases             every database by logical name (sources and targets alike)
 *   capture[]             which source tables a capture service publishes
 *   applier[]             which topics a target merges, into which tables
 *   reconciler            schedule and jobs of the nightly refresh
 *   http                  metrics / health port per service
 */
import { z } from 'zod';

const identifier = z.string().min(1).max(128);
const durationMs = z.number().int().nonnegative();

export const KafkaConfig = z.strictObject({
  brokers: z.array(z.string().min(1)).min(1),
  clientId: z.string().default('fieldsync'),
  /** Topic name = `<topicPrefix>.<source>.<schema>.<table>`. */
  topicPrefix: z.string().default('fieldsync'),
  partitions: z.number().int().positive().default(3),
  replicationFactor: z.number().int().positive().default(1),
  /**
   * Topic retention. Rebuilding a target by replay needs every event since the table's
   * last snapshot, so the default keeps events forever (-1); a finite value must be
   * longer than the interval between full snapshots/refreshes.
   */
  retentionMs: z.number().int().min(-1).default(-1),
  deadLetterTopic: z.string().default('fieldsync.dead-letter'),
  connectionTimeoutMs: durationMs.default(5000),
  requestTimeoutMs: durationMs.default(30000),
  sasl: z.strictObject({ mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), username: z.string(), password: z.string() }).optional(),
  ssl: z.boolean().default(false),
});

export const RegistryConfig = z.strictObject({
  /** Confluent-compatible API base, e.g. http://registry:8080/apis/ccompat/v7 */
  url: z.url(),
  username: z.string().optional(),
  password: z.string().optional(),
  compatibility: z.enum(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FULL', 'NONE']).default('BACKWARD'),
});

export const DatabaseConfig = z.strictObject({
  dialect: z.enum(['postgres', 'mysql', 'mssql']),
  /** Connection URL; put secrets in `${ENV_VAR}` references. */
  url: z.string().min(1),
  /** Origin id stamped on changes first made in this database. Defaults to the database's name. */
  origin: identifier.optional(),
  /** Schema holding fieldsync's own tables (outbox, checkpoints, offsets). */
  fieldsyncSchema: identifier.default('fieldsync'),
  poolSize: z.number().int().positive().default(4),
  /**
   * Only for MySQL: use `INSERT … AS new ON DUPLICATE KEY UPDATE col = new.col` (MySQL 8.0.19+)
   * instead of `VALUES(col)` (MariaDB, older MySQL). Detected from the server when unset.
   */
  rowAlias: z.boolean().optional(),
});

export const CaptureTableConfig = z.strictObject({
  /** `schema.table` (PostgreSQL, SQL Server) or `table` / `database.table` (MySQL). */
  name: z.string().min(1),
  /** Required when the table has no primary key. */
  keyColumns: z.array(identifier).min(1).optional(),
  /** Publish existing rows (op = snapshot) when the table is first seen. */
  snapshot: z.boolean().default(true),
  /** SQL Server CDC only: the capture instance, default `<schema>_<table>`. */
  captureInstance: z.string().optional(),
});

export const CaptureConfig = z.strictObject({
  source: identifier,
  mode: z.enum(['outbox', 'cdc']),
  /**
   * Wait after a poll that published nothing. This is also the wait for in-flight writers on
   * the outbox to commit (a read held back by the visibility barrier publishes nothing), so it
   * adds directly to end-to-end latency: 50 ms gave p99 ≈ 0.2 s at 5,000 changes/s where
   * 200 ms gave ≈ 0.64 s (npm run bench, end to end).
   */
  pollIntervalMs: durationMs.default(50),
  /** Events read per poll and published per producer batch. */
  batchSize: z.number().int().positive().default(5000),
  maxBatchBytes: z.number().int().positive().default(8 * 1024 * 1024),
  snapshotChunkSize: z.number().int().positive().default(10000),
  /** Outbox rows are deleted once in Kafka and older than this. */
  outboxRetentionMs: durationMs.default(0),
  /** SQL Server CDC: what to do when the saved LSN is older than the capture instance's minimum (cleanup ran). */
  onCdcGap: z.enum(['stop', 'resnapshot']).default('stop'),
  /**
   * MySQL outbox: how long a gap in the outbox sequence may stay a gap before the reader
   * passes it as rolled back, when InnoDB's running transactions cannot be inspected (and
   * in any case). Keep it well above the longest write transaction.
   */
  outboxGapGraceMs: durationMs.default(60000),
  /** MySQL outbox: how often the captured tables' columns are re-checked (new column → triggers regenerated). */
  schemaCheckIntervalMs: durationMs.default(10000),
  /** Circuit breaker in front of each capture source (a timeout of 0 means none: a poll is never abandoned mid-way). */
  breaker: z.strictObject({
    timeoutMs: durationMs.default(0),
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    resetTimeoutMs: durationMs.default(5000),
    volumeThreshold: z.number().int().nonnegative().default(3),
    /** Ceiling of the exponential backoff (with jitter) between failed polls. */
    retryMaxDelayMs: durationMs.default(30000),
  }).prefault({}),
  tables: z.array(CaptureTableConfig).min(1),
});

export const ApplierTableConfig = z.strictObject({
  /** `<source>.<table as in capture>`, e.g. `billing.public.clients`. */
  from: z.string().min(1),
  /** Target table (`schema.table` or `table`); defaults to the source table's name. */
  into: z.string().min(1).optional(),
  /** Add new nullable source columns to the target table automatically. */
  autoEvolve: z.boolean().default(true),
  /** Create the target table from the source schema if it does not exist. */
  createTable: z.boolean().default(true),
});

export const ApplierConfig = z.strictObject({
  target: identifier,
  /** Consumer group; defaults to `fieldsync-applier-<target>`. Advisory only: offsets live in the target. */
  groupId: z.string().optional(),
  batchSize: z.number().int().positive().default(2000),
  batchMaxWaitMs: durationMs.default(50),
  /** /readyz reports not-ready when the consumer lag exceeds this many seconds. */
  maxReadyLagMs: durationMs.default(60000),
  /** Kafka group session timeout: how soon a crashed applier's partitions are reassigned (broker minimum 6000). */
  sessionTimeoutMs: durationMs.default(30000),
  breaker: z.strictObject({
    timeoutMs: durationMs.default(30000),
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    resetTimeoutMs: durationMs.default(5000),
    volumeThreshold: z.number().int().nonnegative().default(3),
  }).prefault({}),
  tables: z.array(ApplierTableConfig).min(1),
});

export const ReconcileJobConfig = z.strictObject({
  source: identifier,
  /** Source table, as in capture. */
  table: z.string().min(1),
  target: identifier,
  into: z.string().min(1).optional(),
  /** A source column holding the row's last change time; without it the read start time is the version. */
  versionColumn: identifier.optional(),
  /** Abort before the swap if counts differ by more than this fraction beyond concurrent changes. */
  maxCountDrift: z.number().min(0).max(1).default(0.001),
});

export const ReconcilerConfig = z.strictObject({
  /** Cron expression for the long-running reconciler service. */
  schedule: z.string().optional(),
  backupsToKeep: z.number().int().nonnegative().default(2),
  stageBatchRows: z.number().int().positive().default(50000),
  jobs: z.array(ReconcileJobConfig).default([]),
});

export const HttpConfig = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(9464),
});

export const FieldsyncConfig = z.strictObject({
  kafka: KafkaConfig,
  registry: RegistryConfig,
  databases: z.record(identifier, DatabaseConfig),
  capture: z.array(CaptureConfig).default([]),
  applier: z.array(ApplierConfig).default([]),
  reconciler: ReconcilerConfig.prefault({}),
  http: HttpConfig.prefault({}),
});

export type FieldsyncConfig = z.infer<typeof FieldsyncConfig>;
export type KafkaConfig = z.infer<typeof KafkaConfig>;
export type RegistryConfig = z.infer<typeof RegistryConfig>;
export type DatabaseConfig = z.infer<typeof DatabaseConfig>;
export type CaptureConfig = z.infer<typeof CaptureConfig>;
export type CaptureTableConfig = z.infer<typeof CaptureTableConfig>;
export type ApplierConfig = z.infer<typeof ApplierConfig>;
export type ApplierTableConfig = z.infer<typeof ApplierTableConfig>;
export type ReconcilerConfig = z.infer<typeof ReconcilerConfig>;
export type ReconcileJobConfig = z.infer<typeof ReconcileJobConfig>;
