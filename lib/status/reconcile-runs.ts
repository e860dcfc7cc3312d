/**
 * The last reconcile run per table, from the target's reconcile runs table (written by
 * the reconciler: lib/reconcile/runs.ts). A target that was never reconciled has no such
 * table yet: no runs.
 */
import type { Db } from '../dialect/dialect.js';
import { lastRuns } from '../reconcile/runs.js';

export interface ReconcileRun {
  table: string;
  /** When the run finished (or started, while it runs). */
  time: string | null;
  /** running, success, failure or interrupted. */
  result: string;
  detail?: string | undefined;
}

export async function lastReconcileRuns(db: Db, fieldsyncSchema: string): Promise<ReconcileRun[]> {
  const runs = await lastRuns(db, fieldsyncSchema);
  return runs.map((r) => ({ table: r.table, time: r.finishedAt ?? r.startedAt, result: r.result, detail: r.message ?? undefined }));
}
