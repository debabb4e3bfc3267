// The three images docker-compose.yml builds from this repository (one Dockerfile, its WORKSPACE build argument
// naming the service's workspace), without Docker: the Dockerfile's steps for each are replayed (COPY from the repository, RUN with this machine's Node and npm: npm ci, the build, the
// prune), then every compose service of that image is started from the pruned tree with the image's
// ENTRYPOINT and the service's compose `command`. This catches a file the Dockerfile forgets to copy, a
// dependency the prune removes, and an entry point that does not exist.
// Not checked: the base image itself (node:24.11.1-bookworm-slim; this runs Node 24 from .tools), file
// ownership and USER, and anything Docker does at run time (networking, health-check scheduling).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'mocha';
import { createTestDatabase, IP_HMAC_KEY, JWT_SECRET, type RunningApp, spawnNode, type TestDatabase } from '@lookout/testkit';
import { replayDockerfile, type ReplayedImage } from './fixtures/dockerfile.js';
import { loadYaml } from './fixtures/repo.js';

const compose = () => loadYaml('docker-compose.yml').services as Record<string, any>;

/** What the container of a compose service runs: the image's ENTRYPOINT, then compose's `command` or the image's CMD. */
const commandOf = (image: ReplayedImage, service: string): string[] => [...image.entrypoint, ...(compose()[service].command ?? image.cmd)];

/** Starts a compose service's command in a replayed image, on loopback with a free port. */
async function start(image: ReplayedImage, service: string, env: Record<string, string>): Promise<RunningApp> {
  const [node, ...entry] = commandOf(image, service);
  assert.equal(node, 'node');
  // The process announces its port in a `<name> listening` line (the examples and the audit API alike).
  return spawnNode(entry, {
    cwd: image.cwd,
    name: service,
    port: (line) => (String(line.message).endsWith(' listening') && typeof line.port === 'number' ? line.port : undefined),
    env: { ...image.env, OTEL_SDK_DISABLED: 'true', HOST: '127.0.0.1', PORT: '0', ...env },
  });
}

/** /health/db: 200 once the service's database answers (`database: 'none'` for a service without one). */
async function ready(app: RunningApp): Promise<void> {
  const res = await fetch(`${app.url}/health/db`);
  assert.equal(res.status, 200, `${app.url}/health/db: ${await res.text()}`);
}

describe('the images built from this repository (Dockerfile steps replayed without Docker)', function () {
  this.timeout(120_000);
  const images: Record<string, ReplayedImage> = {};
  const databases: TestDatabase[] = [];
  const running: RunningApp[] = [];

  before(function () {
    this.timeout(900_000);
    // Each compose service that builds an image, built as compose would: its Dockerfile, its build arguments.
    for (const service of Object.values(compose()).filter((s) => s.build)) {
      const { dockerfile = 'Dockerfile', args } = service.build as { dockerfile?: string; args: { WORKSPACE: string } };
      images[args.WORKSPACE] = replayDockerfile(dockerfile, { buildArgs: args });
    }
    assert.deepEqual(Object.keys(images).sort(), ['audit-api', 'examples', 'ops']);
  });

  after(async () => {
    await Promise.all(running.map((app) => app.stop()));
    await Promise.all(databases.map((db) => db.drop()));
    for (const image of Object.values(images)) image.remove();
  });

  const database = async () => {
    const db = await createTestDatabase('lookout_image_test');
    databases.push(db);
    return db;
  };

  it('examples image: keeps no sources or dev dependencies, and preloads the agent', () => {
    const image = images.examples!;
    assert.deepEqual(image.entrypoint, ['node', '--import', '@lookout/agent/register']);
    assert.ok(existsSync(join(image.cwd, 'dist/src/gateway.js')));
    for (const gone of ['examples/src', 'agent/src', 'node_modules/typescript', 'node_modules/mocha']) {
      assert.ok(!existsSync(join(image.root, 'app', gone)), `${gone} is not in the image`);
    }
  });

  it('examples image: the gateway, worker and alert webhook start with their compose commands and answer /health/db', async () => {
    const image = images.examples!;
    for (const service of ['gateway', 'worker', 'alert-webhook']) {
      const app = await start(image, service, {});
      running.push(app);
      await ready(app);
    }
  });

  it('examples image: the runs service applies its migrations, and the traffic generator reaches it', async () => {
    const image = images.examples!;
    const runs = await start(image, 'runs', { DATABASE_URL: (await database()).url, FAULT_INJECTION: compose().runs.environment.FAULT_INJECTION });
    running.push(runs);
    await runs.waitForLine((l) => l.message === 'migrations applied');
    await ready(runs);
    // The traffic service's command with `inject status` in place of `run`, as `docker compose exec` runs it.
    const [, ...args] = commandOf(image, 'traffic');
    const { stdout } = await promisify(execFile)(process.execPath, [...args.slice(0, -1), 'inject', 'status', '--service', 'runs'], {
      cwd: image.cwd,
      env: { PATH: process.env.PATH, ...image.env, OTEL_SDK_DISABLED: 'true', RUNS_URL: runs.url },
    });
    assert.deepEqual(JSON.parse(stdout), { service: 'runs', status: 200, fault: { active: false } });
  });

  it('ops image: installs the PostgreSQL 17 client for the backup service only, keeps no sources, and its command backs up at start', async () => {
    const image = images.ops!;
    assert.deepEqual(commandOf(image, 'backup'), ['node', '--import', '@lookout/agent/register', 'dist/src/main.js']);
    assert.ok(!existsSync(join(image.root, 'app/ops/src')));
    // The apt-get step is not replayed (it changes the image's Debian userland): it is guarded by the build
    // argument, so the other images skip it, and it installs the client this machine's replay uses instead.
    const [install] = image.skipped;
    assert.match(install!, /^if \[ "\$WORKSPACE" = ops \]; then .*apt-get install -y --no-install-recommends postgresql-client-17\b/);
    await promisify(execFile)('pg_dump', ['--version']);
    const dir = mkdtempSync(join(tmpdir(), 'lookout-image-backups-'));
    const db = await database();
    const environment = compose().backup.environment as Record<string, string>;
    const backup = await spawnNode(commandOf(image, 'backup').slice(1), {
      cwd: image.cwd,
      name: 'backup',
      // It serves no port: the line announcing the next run says it started, after the first backup.
      port: (line) => (line.message === 'next backup scheduled' ? 1 : undefined),
      env: { ...image.env, OTEL_SDK_DISABLED: 'true', LOOKOUT_BACKUP_SCHEDULE: environment.LOOKOUT_BACKUP_SCHEDULE!.replace(/^\$\{\w+:-(.+)\}$/, '$1'), LOOKOUT_BACKUP_DATABASES: `audit=${db.url}`, LOOKOUT_BACKUP_DIR: dir },
    });
    try {
      assert.ok(backup.lines.some((l) => typeof l === 'object' && l.message === 'backup finished'), JSON.stringify(backup.lines));
      assert.equal(readdirSync(join(dir, 'audit')).filter((f) => f.endsWith('.dump')).length, 1);
    } finally {
      await backup.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('audit-api image: starts with its command, applies migrations and answers /health/db', async () => {
    const image = images['audit-api']!;
    assert.deepEqual(commandOf(image, 'audit-api'), ['node', '--import', '@lookout/agent/register', 'dist/src/main.js']);
    assert.ok(!existsSync(join(image.root, 'app/audit-api/src')));
    const api = await start(image, 'audit-api', {
      DATABASE_URL: (await database()).url,
      LOOKOUT_AUDIT_HOST: '127.0.0.1',
      LOOKOUT_AUDIT_JWT_SECRET: JWT_SECRET,
      LOOKOUT_AUDIT_IP_HMAC_KEY: IP_HMAC_KEY,
    });
    running.push(api);
    await api.waitForLine((l) => l.message === 'audit-api ready', 20_000);
    await ready(api);
  });
});
