/**
 * `fieldsync replay --config … --target NAME [--from earliest|<ISO time>] [--table T …] [--like OTHER] [--follow]`
 * Rebuilds a target from the topics (lib/replay). Progress: a bar on a terminal, a line
 * every few seconds otherwise; a summary at the end. Exit 0 once caught up.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/errors.js';
import { startServiceRuntime } from '../../lib/observability/runtime.js';
import { replay, type ReplayProgress, type ReplayResult } from '../../lib/replay/replay.js';
import type { ReplayStart } from '../../lib/replay/retention.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function parseFrom(v: string): ReplayStart {
  if (v === 'earliest') return { kind: 'earliest' };
  const ms = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) throw new ConfigError(`--from must be "earliest" or an ISO 8601 time (e.g. 2026-01-31T22:00:00Z), got "${v}"`);
  return { kind: 'timestamp', timestampMs: ms };
}

const lagText = (p: ReplayProgress) => p.tables.map((t) => `${t.table}: ${t.remaining}`).join(', ');

function summary(r: ReplayResult): string {
  return [
    `replay of ${r.target} caught up (consumer ${r.consumer})`,
    `  events applied: ${r.events}${r.deadLetters ? `, dead letters: ${r.deadLetters}` : ''}`,
    `  time: ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.eventsPerSecond} events/s`,
    `  tables installed: ${r.installed.join(', ') || 'none'}`,
    ...(r.emptyTables.length ? [`  tables with no topic yet (nothing to replay): ${r.emptyTables.join(', ')}`] : []),
  ].join('\n') + '\n';
}

export function registerReplayCommand(program: Command): void {
  program.command('replay')
    .description('Rebuild a target (typically a new, empty database) from the topics: install tables and clocks, apply from the chosen point with its own consumer identity, stop when caught up (or --follow as the applier). Refuses when the events it needs were deleted by retention.')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .requiredOption('--target <database>', 'target database to rebuild (config databases.<name>)')
    .option('--from <point>', '"earliest" or an ISO 8601 time', 'earliest')
    .option('--table <table>', 'only this table (configured from, or target table name); repeatable', collect, [])
    .option('--like <target>', 'replay the tables of this target\'s applier (when the target has no applier entry of its own)')
    .option('--follow', 'after catching up, keep applying as the target\'s applier')
    .action(async (o: { config: string; target: string; from: string; table: string[]; like?: string; follow?: boolean }) => {
      const cfg = loadConfig(o.config);
      const start = parseFrom(o.from);
      const tty = process.stderr.isTTY === true;
      const bar = tty ? new SingleBar({ format: 'replay {bar} {value}/{total} events | {rate} events/s | lag {lag}', hideCursor: true }, Presets.shades_classic) : undefined;
      let barStarted = false;
      let lastLine = 0;
      const onProgress = (p: ReplayProgress) => {
        if (bar) {
          if (!barStarted) { bar.start(p.total, 0, { rate: 0, lag: '' }); barStarted = true; }
          bar.update(Math.min(p.total, p.events + p.deadLetters), { rate: p.eventsPerSecond, lag: lagText(p) });
        } else if (Date.now() - lastLine > 2000) {
          lastLine = Date.now();
          process.stderr.write(`replay: ${p.events}/${p.total} events, ${p.eventsPerSecond} events/s, remaining ${lagText(p)}\n`);
        }
      };
      const runtime = o.follow ? await startServiceRuntime({ service: 'applier', http: cfg.http, onStopped: (code) => { process.exitCode = code; } }) : undefined;
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      if (!runtime) { process.once('SIGINT', onSignal); process.once('SIGTERM', onSignal); }
      runtime?.signal.addEventListener('abort', () => ac.abort(), { once: true });
      try {
        await replay(cfg, {
          target: o.target, like: o.like, start, tables: o.table, follow: o.follow, signal: ac.signal, onProgress,
          onCaughtUp: (r) => {
            if (barStarted) bar?.stop();
            process.stdout.write(summary(r));
            if (o.follow) process.stdout.write(`following as the applier of ${o.target}; metrics on ${cfg.http.host}:${runtime?.port}/metrics\n`);
          },
        });
      } finally {
        if (barStarted) bar?.stop();
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        if (runtime) await runtime.shutdown('replay finished', process.exitCode === undefined ? 0 : Number(process.exitCode));
      }
    });
}
