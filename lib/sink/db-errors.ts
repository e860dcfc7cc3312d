/**
 * Which database errors are DATA errors (this message can never be applied: value out of
 * range, bad value for the type, constraint violation) as opposed to transient ones
 * (connection, deadlock, lock timeout: retried) or programming errors (fail loudly).
 * The applier dead-letters a DataError's message and retries everything retriable.
 */
import { DataError, FieldsyncError, errorMessage, wrap } from '../errors.js';

/** PostgreSQL SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
const PG_DATA_CLASSES = ['22', '23'];

/** MySQL / MariaDB error codes that mean "this row's data is not acceptable". */
const MYSQL_DATA_CODES = new Set([
  'ER_DUP_ENTRY', 'ER_BAD_NULL_ERROR', 'ER_NO_DEFAULT_FOR_FIELD', 'ER_WARN_DATA_OUT_OF_RANGE', 'ER_DATA_OUT_OF_RANGE',
  'ER_DATA_TOO_LONG', 'WARN_DATA_TRUNCATED', 'ER_TRUNCATED_WRONG_VALUE', 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'ER_WRONG_VALUE_FOR_TYPE', 'ER_INVALID_JSON_TEXT', 'ER_INVALID_JSON_TEXT_IN_PARAM', 'ER_INVALID_CHARACTER_STRING',
  'ER_NO_REFERENCED_ROW', 'ER_NO_REFERENCED_ROW_2', 'ER_ROW_IS_REFERENCED', 'ER_ROW_IS_REFERENCED_2',
  'ER_CHECK_CONSTRAINT_VIOLATED', 'ER_CONSTRAINT_FAILED', 'ER_DIVISION_BY_ZERO', 'ER_DATETIME_FUNCTION_OVERFLOW',
  'ER_WARN_NULL_TO_NOTNULL', 'ER_DUP_UNIQUE', 'ER_DUP_KEY', 'ER_CANT_CREATE_GEOMETRY_OBJECT', 'ER_WRONG_VALUE',
]);

export function isDataErrorFromDb(e: unknown): boolean {
  if (e instanceof DataError) return true;
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  if (/^[0-9A-Z]{5}$/.test(code)) return PG_DATA_CLASSES.includes(code.slice(0, 2));
  return MYSQL_DATA_CODES.has(code);
}

/**
 * An error raised while merging into `table`: a DataError naming the table (and the key
 * when the batch held one key) for data problems, otherwise wrapped with its retriability.
 */
export function mergeError(e: unknown, table: string, keyHint: string | undefined): FieldsyncError {
  const where = `${table}${keyHint ? ` key ${keyHint}` : ''}`;
  if (isDataErrorFromDb(e)) {
    const detail = (e as { detail?: unknown }).detail;
    return new DataError(`unable to merge into ${where}: ${errorMessage(e)}${typeof detail === 'string' ? ` (${detail})` : ''}`, e);
  }
  return wrap(`unable to merge into ${where}`, e);
}
