/**
 * The circuit breaker in front of the target (opossum). It counts transient failures of
 * Sink.apply (connection lost, timeouts, deadlocks); data errors are not the target's
 * fault and do not count. While it is open every call fails at once with an "open"
 * error: the pipeline pauses its partitions (nothing more is fetched, memory stays
 * bounded) and keeps the failed batch; after `resetTimeoutMs` the next call is the
 * half-open probe, and when it succeeds the breaker closes and the pipeline resumes.
 * Nothing is skipped: the batch that failed is the batch that is retried.
 */
import CircuitBreaker from 'opossum';
import type { ApplierConfig } from '../config/schema.js';
import { DataError } from '../errors.js';
import { BREAKER_STATE, breakerState } from '../observability/metrics.js';

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface BreakerHooks {
  onOpen?: () => void;
  onHalfOpen?: () => void;
  onClose?: () => void;
}

type Action = () => Promise<unknown>;

/** True for the error opossum rejects with while the breaker is open. */
export function isBreakerOpenError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'EOPENBREAKER';
}

export class TargetBreaker {
  private readonly breaker: CircuitBreaker<[Action], unknown>;
  private current: BreakerState = 'closed';

  constructor(service: string, readonly name: string, cfg: ApplierConfig['breaker'], hooks: BreakerHooks = {}) {
    this.breaker = new CircuitBreaker<[Action], unknown>((fn: Action) => fn(), {
      timeout: cfg.timeoutMs > 0 ? cfg.timeoutMs : false,
      errorThresholdPercentage: cfg.errorThresholdPercentage,
      resetTimeout: cfg.resetTimeoutMs,
      volumeThreshold: cfg.volumeThreshold,
      // a data error is the message's fault, not the target's: it must not open the breaker
      errorFilter: (e: unknown) => e instanceof DataError,
    });
    const set = (s: BreakerState) => {
      this.current = s;
      breakerState.set({ service, name }, BREAKER_STATE[s]);
    };
    set('closed');
    this.breaker.on('open', () => { set('open'); hooks.onOpen?.(); });
    this.breaker.on('halfOpen', () => { set('halfOpen'); hooks.onHalfOpen?.(); });
    this.breaker.on('close', () => { set('closed'); hooks.onClose?.(); });
  }

  get state(): BreakerState {
    return this.current;
  }

  fire<T>(fn: () => Promise<T>): Promise<T> {
    return this.breaker.fire(fn) as Promise<T>;
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
