#!/usr/bin/env node
// The `fieldsync` command. Runs a compiled build when there is one — the directory named by
// FIELDSYNC_BUILD_DIR (the benchmarks compile one, so services run as they do in the Docker
// image), else dist/ (the Docker image) — otherwise the TypeScript sources through tsx
// (development, tests).
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = process.env.FIELDSYNC_BUILD_DIR;
const built = buildDir
  ? join(isAbsolute(buildDir) ? buildDir : join(root, buildDir), 'cli', 'fieldsync.js')
  : join(root, 'dist', 'cli', 'fieldsync.js');
if (buildDir && !existsSync(built)) {
  process.stderr.write(`fieldsync: FIELDSYNC_BUILD_DIR is set but ${built} does not exist (build it with: npx tsc -p tsconfig.build.json --outDir ${buildDir})\n`);
  process.exit(2);
}
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'cli', 'fieldsync.ts')).href);
}
