/**
 * Every fieldsync metric, declared in one place with its help text. Prefix `fieldsync_`,
 * unit suffixes, few labels (table, op, target, source, phase, partition) and never a row key.
 * Services import the metric objects from here; dashboards and alert rules are tested
 * against the names exposed by running services.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fieldsync_process_' });

const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 50000];
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

// ---- capture ----
export const eventsCaptured = new Counter({ name: 'fieldsync_capture_events_total', help: 'Change events published to Kafka by capture, per table and operation.', labelNames: ['source', 'table', 'op'] as const, registers: [registry] });
export const captureBatchSize = new Histogram({ name: 'fieldsync_capture_batch_size', help: 'Events per capture batch.', labelNames: ['source'] as const, buckets: BATCH_SIZE_BUCKETS, registers: [registry] });
export const captureBatchDuration = new Histogram({ name: 'fieldsync_capture_batch_duration_seconds', help: 'Time to read, publish and acknowledge one capture batch.', labelNames: ['source'] as const, buckets: SECONDS_BUCKETS, registers: [registry] });
export const sourceLag = new Gauge({ name: 'fieldsync_capture_source_lag_seconds', help: 'How far the acknowledged capture position is behind the newest change in the source, in seconds.', labelNames: ['source'] as const, registers: [registry] });
export const capturePositionGap = new Counter({ name: 'fieldsync_capture_position_gap_total', help: 'Times the saved position was no longer available in the source (e.g. SQL Server CDC cleanup ran past it).', labelNames: ['source', 'table'] as const, registers: [registry] });
export const captureErrors = new Counter({ name: 'fieldsync_capture_errors_total', help: 'Failed capture polls (retried with backoff).', labelNames: ['source'] as const, registers: [registry] });
export const snapshotRows = new Counter({ name: 'fieldsync_capture_snapshot_rows_total', help: 'Rows published by initial snapshots.', labelNames: ['source', 'table'] as const, registers: [registry] });

// ---- applier ----
export const eventsApplied = new Counter({ name: 'fieldsync_applier_events_total', help: 'Change events merged into the target, per table and operation.', labelNames: ['target', 'table', 'op'] as const, registers: [registry] });
export const deadLetters = new Counter({ name: 'fieldsync_applier_dead_letters_total', help: 'Messages sent to the dead-letter topic because they could not be decoded or applied.', labelNames: ['target', 'table', 'reason'] as const, registers: [registry] });
export const applyBatchSize = new Histogram({ name: 'fieldsync_applier_batch_size', help: 'Events per applied batch.', labelNames: ['target'] as const, buckets: BATCH_SIZE_BUCKETS, registers: [registry] });
export const applyBatchDuration = new Histogram({ name: 'fieldsync_applier_batch_duration_seconds', help: 'Time to merge one batch and commit it with its offsets.', labelNames: ['target'] as const, buckets: SECONDS_BUCKETS, registers: [registry] });
export const endToEndLag = new Histogram({ name: 'fieldsync_end_to_end_lag_seconds', help: 'Apply time minus origin commit time of each applied event.', labelNames: ['target', 'table'] as const, buckets: SECONDS_BUCKETS, registers: [registry] });
export const consumerLag = new Gauge({ name: 'fieldsync_applier_consumer_lag_messages', help: 'Messages between the applied offset and the end of each partition.', labelNames: ['target', 'topic', 'partition'] as const, registers: [registry] });
export const lastAppliedTime = new Gauge({ name: 'fieldsync_applier_last_applied_timestamp_seconds', help: 'Unix time of the last applied batch per target.', labelNames: ['target'] as const, registers: [registry] });
export const mergeFields = new Counter({ name: 'fieldsync_merge_fields_total', help: 'Merge outcomes per field: taken (incoming was newer) or kept (target was newer).', labelNames: ['target', 'table', 'outcome'] as const, registers: [registry] });
export const applyRetries = new Counter({ name: 'fieldsync_applier_retries_total', help: 'Transient apply failures retried with backoff.', labelNames: ['target'] as const, registers: [registry] });
export const tableBlocked = new Gauge({ name: 'fieldsync_applier_table_blocked', help: '1 while a table\'s partitions are paused because its schema cannot be applied (e.g. a new column with autoEvolve off).', labelNames: ['target', 'table'] as const, registers: [registry] });

// ---- shared ----
export const breakerState = new Gauge({ name: 'fieldsync_circuit_breaker_state', help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.', labelNames: ['service', 'name'] as const, registers: [registry] });
export const up = new Gauge({ name: 'fieldsync_up', help: '1 when the service is ready (connected to Kafka and its databases).', labelNames: ['service'] as const, registers: [registry] });

// ---- reconciler ----
export const reconcilePhaseDuration = new Histogram({ name: 'fieldsync_reconcile_phase_duration_seconds', help: 'Duration of each reconcile phase (stage, merge, window, verify, swap, cleanup).', labelNames: ['table', 'phase'] as const, buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900, 3600], registers: [registry] });
export const reconcileRows = new Counter({ name: 'fieldsync_reconcile_rows_total', help: 'Rows handled by reconcile, per table and kind (staged, kept_fields, taken_fields, deleted, window_merged).', labelNames: ['table', 'kind'] as const, registers: [registry] });
export const reconcileSwapDuration = new Gauge({ name: 'fieldsync_reconcile_swap_duration_seconds', help: 'Duration of the last atomic swap, per table.', labelNames: ['table'] as const, registers: [registry] });
export const reconcileLastRun = new Gauge({ name: 'fieldsync_reconcile_last_run_timestamp_seconds', help: 'Unix time of the last reconcile run per table and result (success, failure).', labelNames: ['table', 'result'] as const, registers: [registry] });
export const reconcileRuns = new Counter({ name: 'fieldsync_reconcile_runs_total', help: 'Reconcile runs per table and result.', labelNames: ['table', 'result'] as const, registers: [registry] });

export const BREAKER_STATE = { closed: 0, halfOpen: 1, open: 2 } as const;
