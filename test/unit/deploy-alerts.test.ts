/**
 * The Prometheus files under deploy/prometheus checked by Prometheus' own tool: the rules
 * load (`promtool check rules`), every alert fires and stays quiet as alerts.test.yml says
 * (`promtool test rules`), and the compose scrape config is valid (`promtool check config
 * --syntax-only`: its rule path is the container's). promtool comes from Debian's
 * `prometheus` package, installed by scripts/ensure-prometheus.ts when missing.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensurePrometheus, type PrometheusTools } from '../../scripts/ensure-prometheus.js';
import { DEPLOY } from '../support/deploy-files.js';

const dir = join(DEPLOY, 'prometheus');
let tools: PrometheusTools;

function promtool(args: string[]): string {
  try {
    return execFileSync(tools.promtool, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

describe('Prometheus alert rules and scrape config (promtool)', () => {
  beforeAll(() => { tools = ensurePrometheus(); }, 900_000);

  it('promtool check rules accepts alerts.yml', () => {
    expect(promtool(['check', 'rules', 'alerts.yml'])).toMatch(/SUCCESS: 10 rules found/);
  });

  it('promtool test rules: every alert fires when it should and not otherwise', () => {
    expect(promtool(['test', 'rules', 'alerts.test.yml'])).toMatch(/SUCCESS/);
  });

  it('promtool check config accepts the compose scrape config', () => {
    expect(promtool(['check', 'config', '--syntax-only', 'prometheus.yml'])).toMatch(/valid prometheus config file syntax/);
  });
});
