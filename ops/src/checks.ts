// What the restore drill checks on a restored copy: the row counts the manifest recorded at dump time, the
// migrations at the latest version the repository has, and for the audit database the audit API itself
// started on the copy, answering /health/db and a read.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SignJWT } from 'jose';
import pg from 'pg';
import { countRows, type Manifest } from './dump.js';

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

interface KnownDatabase {
  /** The workspace whose knex migrations made the schema. */
  workspace: string;
  migrationsTable: string;
  /** Starts that workspace's service on the copy and checks it answers. */
  service?: (url: string) => Promise<CheckResult>;
}

const require = createRequire(import.meta.url);
const workspaceDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** The databases Lookout owns, by the names LOOKOUT_BACKUP_DATABASES gives them (compose's database names). */
const KNOWN: Record<string, KnownDatabase> = {
  audit: { workspace: '@lookout/audit-api', migrationsTable: 'audit_knex_migrations', service: auditApiAnswers },
  runs: { workspace: '@lookout/examples', migrationsTable: 'runs_knex_migrations' },
};

/** The newest migration in a workspace's migrations/ folder (names sort by their number prefix). */
export function latestMigration(workspace: string): string | undefined {
  const dir = join(workspaceDir(workspace), 'migrations');
  return readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => f.replace(/\.(ts|js)$/, ''))
    .sort()
    .at(-1);
}

function rowCounts(actual: Record<string, number>, manifest: Manifest): CheckResult {
  const names = [...new Set([...Object.keys(actual), ...Object.keys(manifest.tables)])].sort();
  const differing = names.filter((t) => actual[t] !== manifest.tables[t]);
  const total = Object.values(actual).reduce((a, b) => a + b, 0);
  return differing.length === 0
    ? { check: 'row_counts', ok: true, detail: `${names.length} tables, ${total} rows, as at dump time` }
    : { check: 'row_counts', ok: false, detail: differing.map((t) => `${t}: ${actual[t] ?? 'missing'} restored, ${manifest.tables[t] ?? 'absent'} at dump time`).join('; ') };
}

async function migrationsLatest(client: pg.Client, known: KnownDatabase): Promise<CheckResult> {
  const expected = latestMigration(known.workspace);
  const { rows } = await client
    .query<{ name: string }>(`select name from ${client.escapeIdentifier(known.migrationsTable)} order by id desc limit 1`)
    .catch((err: Error) => ({ rows: [] as { name: string }[], error: err }));
  const found = rows[0]?.name;
  return {
    check: 'migrations',
    ok: found !== undefined && found === expected,
    detail: `${known.migrationsTable}: ${found ?? 'no migration recorded'}; ${known.workspace}/migrations: ${expected ?? 'none'}`,
  };
}

/** Every check for one restored copy, given the manifest of the backup it came from. */
export async function checkRestored(database: string, url: string, manifest: Manifest): Promise<CheckResult[]> {
  const known = KNOWN[database];
  const client = new pg.Client({ connectionString: url, application_name: 'lookout-restore-drill' });
  await client.connect();
  const results: CheckResult[] = [];
  try {
    results.push(rowCounts(await countRows(client), manifest));
    if (known) results.push(await migrationsLatest(client, known));
  } finally {
    await client.end();
  }
  if (known?.service) results.push(await known.service(url));
  return results;
}

/** Lines a process writes as JSON (the agent's logger), until one matches or `ms` pass. */
function waitForLine(child: ReturnType<typeof spawn>, match: (line: Record<string, unknown>) => boolean, ms: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let partial = '';
    let stderr = '';
    const timer = setTimeout(() => done(new Error(`no matching line within ${ms} ms${stderr ? `: ${stderr.slice(-1000)}` : ''}`)), ms);
    const onData = (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const text = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          if (match(line)) return done(undefined, line);
        } catch {
          // not a JSON line
        }
      }
    };
    const onStderr = (chunk: string) => (stderr = (stderr + chunk).slice(-4000));
    const onExit = (code: number | null) => done(new Error(`exited with ${code} before it was ready: ${stderr.slice(-1000)}`));
    const done = (err?: Error, line?: Record<string, unknown>) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onStderr);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line!);
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onStderr);
    child.on('exit', onExit);
  });
}

/** Starts the audit API (compiled, as compose runs it) on the restored copy: /health/db and one page of events. */
async function auditApiAnswers(url: string): Promise<CheckResult> {
  const dir = workspaceDir('@lookout/audit-api');
  const main = join(dir, 'dist/src/main.js');
  if (!existsSync(main)) return { check: 'audit_api', ok: false, detail: `${main} is missing: build it first (./lookout npm run build -w audit-api)` };
  const secret = randomBytes(32).toString('hex');
  const child = spawn(process.execPath, [main], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Its own telemetry would show the drill as traffic of the real audit API.
      OTEL_SDK_DISABLED: 'true',
      DATABASE_URL: url,
      PORT: '0',
      LOOKOUT_AUDIT_HOST: '127.0.0.1',
      LOOKOUT_AUDIT_JWT_SECRET: secret,
      LOOKOUT_AUDIT_IP_HMAC_KEY: randomBytes(16).toString('hex'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const ready = waitForLine(child, (l) => l.message === 'audit-api ready', 30_000);
    ready.catch(() => undefined); // awaited below; if it fails first, the wait for `listening` says why
    const listening = await waitForLine(child, (l) => l.message === 'audit-api listening', 30_000);
    await ready;
    const base = `http://127.0.0.1:${Number(listening.port)}`;
    const health = await fetch(`${base}/health/db`);
    if (health.status !== 200) return { check: 'audit_api', ok: false, detail: `GET /health/db answered ${health.status}: ${await health.text()}` };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const tenant = await client
      .query<{ tenant_id: string }>('select tenant_id from activity_events order by occurred_at desc limit 1')
      .then((r) => r.rows[0]?.tenant_id)
      .finally(() => client.end());
    if (tenant === undefined) return { check: 'audit_api', ok: true, detail: 'GET /health/db 200; no events to read' };
    const token = await new SignJWT({ tenant_id: tenant, scope: 'activity:read' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('restore-drill')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    const page = await fetch(`${base}/api/v1/activity?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await page.json()) as { data?: unknown[] };
    const ok = page.status === 200 && (body.data?.length ?? 0) === 1;
    return { check: 'audit_api', ok, detail: `GET /health/db 200; GET /api/v1/activity for tenant ${tenant}: ${page.status}, ${body.data?.length ?? 0} event(s)` };
  } catch (err) {
    return { check: 'audit_api', ok: false, detail: (err as Error).message };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
  }
}
