// The outside app for bench:agent: outside-app/ copied to a directory outside the repository (so nothing of
// the workspace resolves from it) and installed there with its own lockfile; the install is kept and reused
// while package.json and package-lock.json are unchanged.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATE = fileURLToPath(new URL('./outside-app/', import.meta.url));
const FILES = ['package.json', 'package-lock.json', 'app.mjs'];
const MANIFESTS = ['package.json', 'package-lock.json'];
const STAMP = '.bench-installed';

export function outsideAppDir(): string {
  return process.env.BENCH_OUTSIDE_DIR ?? join(tmpdir(), 'lookout-bench-outside-app');
}

/** Copies the template out and runs `npm ci` there unless the same manifests are installed already. */
export function prepareOutsideApp(): { dir: string; entry: string } {
  const dir = outsideAppDir();
  mkdirSync(dir, { recursive: true });
  for (const file of FILES) copyFileSync(join(TEMPLATE, file), join(dir, file));
  const hash = createHash('sha256');
  for (const file of MANIFESTS) hash.update(readFileSync(join(dir, file)));
  const digest = hash.digest('hex');
  const stamp = join(dir, STAMP);
  if (!existsSync(join(dir, 'node_modules')) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
    install(dir);
    writeFileSync(stamp, digest);
  }
  return { dir, entry: join(dir, 'app.mjs') };
}

function install(dir: string): void {
  console.error(`bench: installing the outside app in ${dir} (npm ci)`);
  // Without the npm_* variables of the `npm run` that started us: they would point npm at our workspace.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`npm ci in ${dir} failed (exit ${result.status ?? result.signal}); is the npm registry reachable?`);
}
