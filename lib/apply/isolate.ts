/**
 * Finds the messages of a batch that fail for a data reason (value out of range,
 * constraint violation) by bisection, so that one bad message goes to the dead-letter
 * topic and the rest of the batch is still applied.
 *
 * `tryApply(subset)` merges a subset WITHOUT storing offsets. Because the merge is
 * idempotent, committing good subsets early is harmless: the caller afterwards applies
 * all good items again together with the offsets, in one transaction, so a crash at any
 * point re-reads the batch and converges to the same state.
 *
 * A DataError of a single item marks it bad; any other error (transient or programming)
 * is thrown to the caller, which retries the whole batch or stops.
 */
import { DataError } from '../errors.js';

export interface IsolationResult<T> {
  good: T[];
  bad: { item: T; error: DataError }[];
}

export async function isolateDataErrors<T>(items: T[], tryApply: (subset: T[]) => Promise<void>): Promise<IsolationResult<T>> {
  const good: T[] = [];
  const bad: { item: T; error: DataError }[] = [];
  const visit = async (subset: T[]): Promise<void> => {
    if (subset.length === 0) return;
    try {
      await tryApply(subset);
      good.push(...subset);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      if (subset.length === 1) {
        bad.push({ item: subset[0]!, error: e });
        return;
      }
      const mid = Math.ceil(subset.length / 2);
      await visit(subset.slice(0, mid));
      await visit(subset.slice(mid));
    }
  };
  await visit(items);
  return { good, bad };
}
