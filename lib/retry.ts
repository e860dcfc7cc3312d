/**
 * One retry helper for the whole project: exponential backoff with full jitter, a total
 * deadline, and `bail(err)` for errors that must not be retried. Only errors for which
 * `isRetriable` says yes are retried; anything else is thrown at once.
 */
import { isRetriable } from './errors.js';

export interface RetryOptions {
  /** First delay. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up (throw the last error) after this long in total; Infinity retries forever. */
  maxElapsedMs?: number;
  retries?: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  retriable?: (err: unknown) => boolean;
}

export class BailError extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }
}

export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal?.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function retry<T>(fn: (bail: (e: unknown) => never, attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const initial = opts.initialDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 10_000;
  const maxElapsed = opts.maxElapsedMs ?? Infinity;
  const retries = opts.retries ?? Infinity;
  const canRetry = opts.retriable ?? isRetriable;
  const started = Date.now();
  const bail = (e: unknown): never => { throw new BailError(e); };
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(bail, attempt);
    } catch (e) {
      if (e instanceof BailError) throw e.original;
      const delay = backoffDelay(attempt, initial, max);
      if (!canRetry(e) || attempt >= retries || Date.now() - started + delay > maxElapsed || opts.signal?.aborted) throw e;
      opts.onRetry?.(e, attempt + 1, delay);
      await sleep(delay, opts.signal);
    }
  }
}
