/**
 * Makes sure Prometheus and promtool are installed, for the tests that check the alert
 * rules (promtool) and scrape running services (prometheus). They come from Debian's
 * `prometheus` package: when a binary is missing and we are root on a Debian-like
 * machine, run `apt-get update` once and `apt-get install -y prometheus`, under a lock
 * file (flock) so that two test files calling this at once do not fail each other. The package's own service is not started (no init system here, and
 * the tests start their own Prometheus on a free loopback port).
 *
 *   npx tsx scripts/ensure-prometheus.ts      prints the paths, installs when needed
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PrometheusTools { prometheus: string; promtool: string }

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function located(): PrometheusTools | undefined {
  const prometheus = which('prometheus');
  const promtool = which('promtool');
  return prometheus && promtool ? { prometheus, promtool } : undefined;
}

export function ensurePrometheus(): PrometheusTools {
  const found = located();
  if (found) return found;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new Error('prometheus/promtool are not installed and cannot be installed here: install Debian\'s `prometheus` package (apt-get install prometheus)');
  }
  // Two test files may get here at once: a lock file serialises them, and the second one
  // finds the package installed when it gets the lock. apt itself also waits for dpkg.
  const apt = "apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3";
  const script = `command -v promtool >/dev/null && command -v prometheus >/dev/null || { ${apt} update -qq && ${apt} install -y -qq --no-install-recommends prometheus; }`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = join(tmpdir(), 'fieldsync-ensure-prometheus.lock');
  const [cmd, args] = which('flock') ? ['flock', [lock, 'sh', '-c', script]] as const : ['sh', ['-c', script]] as const;
  execFileSync(cmd, [...args], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const installed = located();
  if (!installed) throw new Error('apt-get install prometheus finished but prometheus/promtool are still not on PATH');
  return installed;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tools = ensurePrometheus();
  process.stdout.write(`prometheus: ${tools.prometheus}\npromtool: ${tools.promtool}\n`);
}
