/**
 * Errors carry `retriable` (as in KafkaJS): transient failures (connection lost, deadlock,
 * lock timeout, broker not available) are retried with backoff; data errors (value out of
 * range, constraint violation, undecodable message) are not — they go to a dead-letter
 * topic or stop the pipeline; programming errors are never retried.
 */
export class FieldsyncError extends Error {
  readonly retriable: boolean;
  override readonly cause: unknown;
  constructor(message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message);
    this.name = 'FieldsyncError';
    this.retriable = opts.retriable ?? false;
    this.cause = opts.cause;
  }
}

/** Bad or unexpected data in one message/row: dead-letter it, keep the stream going. */
export class DataError extends FieldsyncError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, cause });
    this.name = 'DataError';
  }
}

/** Invalid configuration: names the file and the field path. */
export class ConfigError extends FieldsyncError {
  constructor(message: string) {
    super(message, { retriable: false });
    this.name = 'ConfigError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Wrap an error with a verb phrase saying what was being done: "unable to read outbox: ...". */
export function wrap(what: string, e: unknown): FieldsyncError {
  const retriable = isRetriable(e);
  return new FieldsyncError(`${what}: ${errorMessage(e)}`, { retriable, cause: e });
}

const TRANSIENT_CODES = new Set([
  // network
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT',
  // MySQL / MariaDB
  'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_QUERY_INTERRUPTED',
  'ECONNCLOSED', 'ESOCKET',
  // PostgreSQL SQLSTATE: serialization failure, deadlock, admin shutdown, cannot connect now, connection failures
  '40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '55P03',
]);

/**
 * Transient MariaDB errors the mysql2 driver has no symbolic name for (its `code` is then
 * unset), by number: 1927 ER_CONNECTION_KILLED — MariaDB kills every client connection when
 * it shuts down.
 */
const TRANSIENT_MARIADB_ERRNOS = new Set([1927]);

/** Transient errors worth retrying. Unknown errors are not retriable (fail loudly). */
export function isRetriable(e: unknown): boolean {
  if (e instanceof FieldsyncError) return e.retriable;
  if (typeof e !== 'object' || e === null) return false;
  const rec = e as { code?: unknown; retriable?: unknown; errno?: unknown; message?: unknown };
  if (rec.retriable === true) return true;
  // KafkaJS gives up on a connection after its own retries and wraps the (retriable) cause in
  // a non-retriable error; at our level — a broker restarting while a service starts — the
  // cause decides, so a service keeps trying instead of exiting.
  const name = (e as { name?: unknown }).name;
  if ((name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSNonRetriableError') && 'cause' in e) {
    return isRetriable((e as { cause?: unknown }).cause);
  }
  if (typeof rec.code === 'string' && TRANSIENT_CODES.has(rec.code)) return true;
  const msg = typeof rec.message === 'string' ? rec.message : '';
  if (typeof rec.errno === 'number' && TRANSIENT_MARIADB_ERRNOS.has(rec.errno)) return true;
  return /Connection terminated|connection is in closed state|Can't add new command when connection is in closed state|Client has encountered a connection error|read ECONNRESET|socket hang up/i.test(msg);
}
