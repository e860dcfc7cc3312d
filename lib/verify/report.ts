/** Human-readable rendering of a verify result (the JSON form is the result object itself). */
import type { ClockInfo, Difference, TableVerifyResult, VerifyResult } from './verify.js';

const q = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v));
const clock = (c: ClockInfo | undefined) => (c ? `${c.time} by ${c.origin}` : '-');

function describe(d: Difference): string {
  const key = Object.entries(d.key).map(([k, v]) => `${k}=${q(v)}`).join(', ');
  const clocks = `clocks: source ${clock(d.sourceClock)}, target ${clock(d.targetClock)}`;
  switch (d.kind) {
    case 'value': return `[${key}] column ${d.column}: source ${q(d.sourceValue)} ≠ target ${q(d.targetValue)} (${clocks})`;
    case 'missing_in_target': return `[${key}] row missing in the target (${clocks})`;
    case 'missing_in_source': return `[${key}] row only in the target (${clocks})`;
  }
}

function table(t: TableVerifyResult): string[] {
  const lines = [`  ${t.source} → ${t.target}: ${t.equal ? 'EQUAL' : 'DIFFERENT'}`];
  for (const p of t.schemaProblems) lines.push(`    schema: ${p}`);
  if (t.columnsOnlyInTarget.length) lines.push(`    columns only in the target (not compared): ${t.columnsOnlyInTarget.join(', ')}`);
  lines.push(`    rows: source ${t.sourceRows}, target ${t.targetRows}; chunks ${t.chunks}, mismatching ${t.mismatchedChunks}`);
  lines.push(`    checksum: source ${t.sourceChecksum || '-'}, target ${t.targetChecksum || '-'}`);
  lines.push(`    true mismatches: ${t.mismatches}; fields the target owns (newer there): ${t.targetOwned}`);
  if (t.differences.length) {
    lines.push(`    first ${t.differences.length} mismatch(es):`);
    for (const d of t.differences) lines.push(`      ${describe(d)}`);
  }
  if (t.owned.length) {
    lines.push(`    first ${t.owned.length} target-owned difference(s):`);
    for (const d of t.owned) lines.push(`      ${describe(d)}`);
  }
  return lines;
}

export function formatVerifyResult(r: VerifyResult): string {
  const lines = [`verify ${r.source} → ${r.target}`];
  for (const t of r.tables) lines.push(...table(t));
  lines.push(r.equal ? 'result: EQUAL' : 'result: DIFFERENT');
  return `${lines.join('\n')}\n`;
}
