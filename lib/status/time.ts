/** Timestamps read from fieldsync's own tables, as reports print them. */
import { canonicalTimestamp } from '../canonical.js';

/** A timestamp as either driver returns it (UTC text or Date) → ISO 8601 UTC. */
export function isoTime(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  return `${canonicalTimestamp(String(v)).replace(' ', 'T')}Z`;
}
