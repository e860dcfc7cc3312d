/**
 * The lifecycle every fieldsync service shares, so that services stay thin:
 *
 *   const rt = await startServiceRuntime({ service: 'applier', http: cfg.http });
 *   rt.addReadinessCheck('target', dbReachable(db));
 *   rt.onShutdown('consumer', () => consumer.disconnect());
 *   await runLoop(rt.signal);          // the loop stops when rt.signal aborts
 *   await rt.shutdown('loop ended');   // or let SIGTERM do it
 *
 * Start: the health server (/metrics, /healthz, /readyz) listens on config `http` before
 * anything connects, so /healthz answers while the service is still starting and /readyz
 * says why it is not ready yet: until the service has registered its first readiness
 * check, /readyz answers 503 "starting". `fieldsync_up{service}` follows the readiness result.
 *
 * Stop: the first SIGTERM or SIGINT aborts `signal` (the service finishes the batch in
 * flight and stops reading), then the shutdown hooks run in reverse registration order
 * (last opened, first closed), each under the shared shutdown deadline, and the health
 * server closes last so that Kubernetes sees /readyz fail while the pod drains. A second
 * signal exits at once with code 130 (operator insists). Hooks that throw are logged and
 * the remaining hooks still run: a half-closed service must not keep its other resources.
 */
import type { Logger } from '../log.js';
import { logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { evaluateReadiness, startHealthServer, type HealthServer, type ReadinessCheck } from './http.js';
import { up } from './metrics.js';

export interface ServiceRuntimeOptions {
  /** Service name used in logs and in the `service` label of fieldsync_up. */
  service: string;
  http: { host: string; port: number };
  log?: Logger;
  /** Total time the shutdown hooks get before the process gives up on them. */
  shutdownTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers (off in tests that drive shutdown themselves). */
  handleSignals?: boolean;
  /**
   * How often the runtime evaluates its readiness checks by itself, so that fieldsync_up
   * is current even where nothing polls /readyz (0 = only on /readyz).
   */
  readinessIntervalMs?: number;
  /** Called after shutdown finished; the default exits the process with `exitCode`. */
  onStopped?: (exitCode: number) => void;
}

export interface ServiceRuntime {
  /** The port the health server listens on (useful with port 0). */
  readonly port: number;
  /** Aborted when shutdown starts; pass it to loops, sleeps and retries. */
  readonly signal: AbortSignal;
  /** Resolves when shutdown has completed. */
  readonly stopped: Promise<void>;
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  removeReadinessCheck(name: string): void;
  /** Hooks run in reverse order of registration at shutdown. */
  onShutdown(name: string, hook: () => Promise<void> | void): void;
  /** Start the shutdown (idempotent). A non-zero exit code marks a failed service. */
  shutdown(reason: string, exitCode?: number): Promise<void>;
}

export async function startServiceRuntime(opts: ServiceRuntimeOptions): Promise<ServiceRuntime> {
  const log = opts.log ?? logger(opts.service);
  const timeoutMs = opts.shutdownTimeoutMs ?? 25_000; // below Kubernetes' default 30 s grace period
  const checks: Record<string, ReadinessCheck> = {};
  const hooks: { name: string; hook: () => Promise<void> | void }[] = [];
  const abort = new AbortController();
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => { resolveStopped = r; });
  let shuttingDown: Promise<void> | undefined;

  // While shutting down the service is alive but must receive no new work. Before the
  // service registered any check of its own it is still starting (connecting, installing):
  // an empty list of checks must not read as "ready".
  checks.lifecycle = () => Promise.resolve(abort.signal.aborted ? 'shutting down'
    : Object.keys(checks).length === 1 ? 'starting: no readiness check registered yet' : undefined);
  up.set({ service: opts.service }, 0);
  const server: HealthServer = await startHealthServer(opts.service, opts.http.host, opts.http.port, checks);
  // fieldsync_up must not depend on someone calling /readyz (alerts read it); unref'd: it never keeps the process alive
  let evaluating = false;
  const readinessTimer = (opts.readinessIntervalMs ?? 5000) > 0 ? setInterval(() => {
    if (evaluating || abort.signal.aborted) return;
    evaluating = true;
    void evaluateReadiness(opts.service, checks).finally(() => { evaluating = false; });
  }, opts.readinessIntervalMs ?? 5000).unref() : undefined;
  log.info({ host: opts.http.host, port: server.port }, 'health server listening (/metrics /healthz /readyz)');

  const onSignal = (sig: NodeJS.Signals) => {
    if (shuttingDown) {
      log.warn({ signal: sig }, 'second signal during shutdown: exiting now');
      process.exit(130);
    }
    void runtime.shutdown(`received ${sig}`, 0);
  };
  if (opts.handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  const runtime: ServiceRuntime = {
    port: server.port,
    signal: abort.signal,
    stopped,
    addReadinessCheck(name, check) { checks[name] = check; },
    removeReadinessCheck(name) { delete checks[name]; },
    onShutdown(name, hook) { hooks.push({ name, hook }); },
    shutdown(reason, exitCode = 0) {
      shuttingDown ??= (async () => {
        log.info({ reason }, 'shutting down');
        abort.abort(new Error(reason));
        clearInterval(readinessTimer);
        up.set({ service: opts.service }, 0);
        const deadline = Date.now() + timeoutMs;
        let code = exitCode;
        for (const { name, hook } of [...hooks].reverse()) {
          const left = deadline - Date.now();
          const outcome = await Promise.race([
            Promise.resolve().then(hook).then(() => 'done', (e: unknown) => `failed: ${errorMessage(e)}`),
            new Promise<string>((r) => setTimeout(() => r(`did not finish within the shutdown deadline`), Math.max(0, left)).unref()),
          ]);
          if (outcome !== 'done') {
            log.error({ hook: name }, `shutdown hook ${name} ${outcome}`);
            code = code || 1;
          }
        }
        await server.close();
        if (opts.handleSignals ?? true) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        log.info({ exitCode: code }, 'stopped');
        resolveStopped();
        (opts.onStopped ?? ((c: number) => process.exit(c)))(code);
      })();
      return shuttingDown;
    },
  };
  return runtime;
}
