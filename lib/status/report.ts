/** Human-readable rendering of `fieldsync status` (the JSON form is the report itself). */
import type { StatusReport } from './collect.js';

function ago(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function retention(ms: number | null): string {
  if (ms === null) return 'unknown';
  if (ms < 0) return 'forever';
  return ms >= 86_400_000 ? `${(ms / 86_400_000).toFixed(1)} d` : `${(ms / 3_600_000).toFixed(1)} h`;
}

export function formatStatus(r: StatusReport): string {
  const now = Date.parse(r.generatedAt);
  const lines: string[] = [`fieldsync status at ${r.generatedAt}`];
  for (const t of r.tables) {
    lines.push('', `${t.from}  (topic ${t.topic})`);
    if (t.capture) {
      const c = t.capture;
      lines.push(c.error
        ? `  capture ${c.source} (${c.mode}): ${c.error}`
        : `  capture ${c.source} (${c.mode}): position ${c.position ?? 'none yet'}${c.pendingEvents === null ? '' : `, ${c.pendingEvents} change(s) not yet published`}, source lag ${c.lagSeconds === null ? '?' : c.lagSeconds.toFixed(1)} s`);
    } else {
      lines.push('  capture: not configured here');
    }
    if (t.topicError) lines.push(`  topic: ${t.topicError}`);
    else if (t.partitions) lines.push(`  topic: end offset ${t.endOffset} over ${t.partitions.length} partition(s) [${t.partitions.map((p) => `${p.partition}:${p.low}..${p.high}`).join(' ')}], retention ${retention(t.retentionMs)}`);
    if (t.truncated) lines.push('  warning: retention deleted the oldest events of this topic: a replay from the beginning is refused (see docs/replay.md)');
    lines.push(`  dead letters: ${t.deadLetters ?? '?'}`);
    for (const g of t.targets) {
      if (g.error) { lines.push(`  → ${g.target}.${g.table}: ${g.error}`); continue; }
      lines.push(`  → ${g.target}.${g.table}: lag ${g.lagMessages ?? '?'} message(s), last applied ${ago(g.lastAppliedAt, now)}${g.deadLetters ? `, ${g.deadLetters} dead letter(s)` : ''}`);
      lines.push(`      last reconcile: ${g.lastReconcile ? `${g.lastReconcile.result} ${ago(g.lastReconcile.time, now)}${g.lastReconcile.detail ? ` (${g.lastReconcile.detail})` : ''}` : 'never'}`);
    }
  }
  lines.push('', `dead-letter topic ${r.deadLetterTopic}: ${r.deadLetterTotal ?? '?'} message(s)${r.deadLettersComplete ? '' : ' (per-table counts incomplete)'}`);
  return `${lines.join('\n')}\n`;
}
