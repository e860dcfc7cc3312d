/**
 * The Dockerfile, checked without a Docker engine: parsed into instructions, it must be
 * multi-stage (the build stage runs `npm ci` and `npm run build`, the runtime stage only
 * copies dist/, bin/ and the pruned node_modules from it), run as a non-root user, start
 * `node bin/fieldsync.mjs` (with the V8 flag the benchmarks' services get too), and copy only paths that exist and that .dockerignore keeps
 * in the build context. The build output is what bin/fieldsync.mjs loads (dist/cli/fieldsync.js).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/deploy-files.js';

interface Instruction { stage: number; op: string; args: string }

function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const out: Instruction[] = [];
  let stage = -1;
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ stage, op, args: m[2]!.trim() });
  }
  return out;
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  const stages = instructions.filter((i) => i.op === 'FROM');
  const last = stages.length - 1;
  const inStage = (n: number) => instructions.filter((i) => i.stage === n);
  const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  it('is multi-stage: build (npm ci, npm run build, prune) then a runtime stage that copies from it', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = inStage(0).filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev/);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toMatch(/tsc -p tsconfig\.build\.json/);
    const copies = inStage(last).filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.some((c) => /--from=build\b.*\/app\/dist/.test(c))).toBe(true);
    expect(copies.some((c) => /--from=build\b.*\/app\/node_modules/.test(c))).toBe(true);
    expect(inStage(last).some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args))).toBe(false);
  });

  it('runs as a non-root user and starts node bin/fieldsync.mjs', () => {
    const user = inStage(last).filter((i) => i.op === 'USER').at(-1)?.args ?? 'root';
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const entry = JSON.parse(inStage(last).find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry).toEqual(['node', '--initial-old-space-size=96', 'bin/fieldsync.mjs']);
    // the benchmarks run the services with the image's node flags (and the deployments' NODE_OPTIONS)
    const benchArgs = /SERVICE_NODE_ARGS = '([^']*)'/.exec(readFileSync(join(REPO_ROOT, 'bench', 'end-to-end.ts'), 'utf8'))?.[1]?.split(' ');
    expect(benchArgs).toEqual(expect.arrayContaining(entry.slice(1, -1)));
    expect(readFileSync(join(REPO_ROOT, 'bin', 'fieldsync.mjs'), 'utf8')).toContain("join(root, 'dist', 'cli', 'fieldsync.js')");
    const tsBuild = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string }; include: string[] };
    expect(tsBuild.compilerOptions.rootDir).toBe('.');
    expect(tsBuild.include).toEqual(expect.arrayContaining(['lib', 'services', 'cli']));
  });

  it('copies only paths that exist and that .dockerignore keeps in the context', () => {
    for (const i of instructions.filter((x) => x.op === 'COPY' && !x.args.includes('--from='))) {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        expect(existsSync(join(REPO_ROOT, src)), `COPY ${src}`).toBe(true);
        expect(ignore, `${src} is excluded by .dockerignore`).not.toContain(src.replace(/\/$/, ''));
      }
    }
    // what must never be sent to the daemon
    for (const p of ['node_modules', '.git', 'dist']) expect(ignore).toContain(p);
  });
});
