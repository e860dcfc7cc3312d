import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'fieldsync-cli-'));
function checkConfig(yaml: string) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const r = spawnSync(process.execPath, ['bin/fieldsync.mjs', 'check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, PGPASS: 'hunter2' } });
  return { status: r.status, out: r.stdout, err: r.stderr, file };
}

const valid = `
kafka: { brokers: ["127.0.0.1:9092"] }
registry: { url: "http://127.0.0.1:8081/apis/ccompat/v7" }
databases:
  billing: { dialect: postgres, url: "postgres://app:\${PGPASS}@h/db" }
`;

// Each case starts a node + tsx process: allow for a loaded 2-core machine.
describe('fieldsync check-config', { timeout: 90_000 }, () => {
  it('accepts a valid file and never prints the secret', () => {
    const r = checkConfig(valid);
    expect(r.status).toBe(0);
    expect(r.out).toContain('valid');
    expect(r.out).not.toContain('hunter2');
  });

  it('fails with exit 2 naming the file and field path of a typo, a wrong type and a missing field', () => {
    const r = checkConfig(`
kafka: { brokers: ["b:9092"], partitons: 3, partitions: "x" }
databases: {}
`);
    expect(r.status).toBe(2);
    expect(r.err).toContain(`${r.file}: kafka: unknown key(s) "partitons"`);
    expect(r.err).toMatch(new RegExp(`${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: kafka\\.partitions: .*expected number`));
    expect(r.err).toContain(`${r.file}: registry: `);
  });

  it('names an unreadable file', () => {
    const r = spawnSync(process.execPath, ['bin/fieldsync.mjs', 'check-config', '--config', join(dir, 'missing.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unable to read config .*missing\.yaml/);
  });
});
