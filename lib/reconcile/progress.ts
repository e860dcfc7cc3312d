/**
 * Progress of a refresh: a cli-progress bar (rows and rows/s of the current phase) when
 * stderr is a terminal, structured log lines otherwise. Every phase start is logged in
 * both modes (`msg: "reconcile phase"`, with `phase`), which is also what tests and
 * operators watch to know where a run is.
 */
import cliProgress from 'cli-progress';
import type { Logger } from '../log.js';

export interface Progress {
  phase(name: string, totalRows?: number): void;
  rows(n: number): void;
  done(): void;
}

const LOG_EVERY_MS = 2000;

export function createProgress(log: Logger, table: string, tty = process.stderr.isTTY === true): Progress {
  let phase = '';
  let count = 0;
  let started = 0;
  let lastLog = 0;
  let bar: cliProgress.SingleBar | undefined;
  const rate = () => Math.round(count / Math.max(0.001, (performance.now() - started) / 1000));
  const stopBar = () => { bar?.stop(); bar = undefined; };
  return {
    phase(name, totalRows) {
      if (phase && !tty) log.info({ table, phase, rows: count, rowsPerSec: rate() }, 'reconcile phase done');
      stopBar();
      phase = name;
      count = 0;
      started = performance.now();
      lastLog = started;
      log.info({ table, phase: name }, 'reconcile phase');
      if (tty) {
        bar = new cliProgress.SingleBar({
          format: `${table} ${name.padEnd(6)} {bar} {value}${totalRows ? '/{total}' : ''} rows  {rate} rows/s`,
          hideCursor: true, clearOnComplete: false, stream: process.stderr,
        }, cliProgress.Presets.shades_classic);
        bar.start(totalRows ?? 0, 0, { rate: 0 });
      }
    },
    rows(n) {
      count += n;
      if (bar) {
        if (count > bar.getTotal()) bar.setTotal(count);
        bar.update(count, { rate: rate() });
      } else if (performance.now() - lastLog >= LOG_EVERY_MS) {
        lastLog = performance.now();
        log.info({ table, phase, rows: count, rowsPerSec: rate() }, 'reconcile progress');
      }
    },
    done() {
      if (phase && !tty) log.info({ table, phase, rows: count, rowsPerSec: rate() }, 'reconcile phase done');
      stopBar();
      phase = '';
    },
  };
}
