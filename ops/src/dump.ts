// One backup of one database: pg_dump's compressed custom format into a temporary file, fsynced and renamed,
// then a manifest beside it (row counts in the dump's own snapshot, size, sha256). The manifest is renamed
// into place last: an interrupted dump never looks like a backup.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseTarget } from './config.js';
import type { BackupFailureReason } from './metrics.js';

export interface Manifest {
  database: string;
  /** The dump's file name, in the same directory. */
  file: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  sizeBytes: number;
  sha256: string;
  serverVersion: string;
  /** Rows per table (`schema.table`; partitioned tables with all their partitions) in the snapshot pg_dump read. */
  tables: Record<string, number>;
}

export class BackupError extends Error {
  override name = 'BackupError';
  constructor(
    readonly reason: BackupFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** `20261130T023000Z`: sorts as it reads, and is safe in a file name. */
export function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The URL without its password, and the password for PGPASSWORD: nothing secret on pg_dump's command line. */
export function libpqConnection(url: string): { dbname: string; env: Record<string, string> } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { dbname: parsed.toString(), env: password ? { PGPASSWORD: password } : {} };
}

/** Runs a PostgreSQL client program; rejects with its stderr when it exits non-zero. */
export function runPgTool(program: string, args: string[], env: Record<string, string>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, killed) => (code === 0 ? resolve() : reject(new Error(`${program} ${killed ? `was killed (${killed})` : `exited with ${code}`}: ${stderr.trim()}`))));
  });
}

export async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Flushes a file (or a directory's entries) to disk. */
async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Every ordinary or partitioned table outside the system schemas (partitions are counted with their parent). */
const TABLES_SQL = `
  select n.nspname as schema, c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p') and not c.relispartition
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
   order by 1, 2`;

/** Row counts of every table, in the current transaction's snapshot. */
export async function countRows(client: pg.Client): Promise<Record<string, number>> {
  const tables = (await client.query<{ schema: string; name: string }>(TABLES_SQL)).rows;
  const counts: Record<string, number> = {};
  for (const { schema, name } of tables) {
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`);
    counts[`${schema}.${name}`] = Number(rows[0]!.n);
  }
  return counts;
}

/** Backs up one database into `<dir>/<name>/`; returns the manifest of the complete backup. */
export async function dumpDatabase(target: DatabaseTarget, dir: string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
  const started = new Date();
  const folder = join(dir, target.name);
  const file = `${target.name}-${stamp(started)}.dump`;
  const [dumpPath, manifestPath] = [join(folder, file), join(folder, file.replace(/\.dump$/, '.json'))];
  const [dumpPartial, manifestPartial] = [`${dumpPath}.partial`, `${manifestPath}.partial`];
  const storage = async <T>(what: string, work: () => Promise<T>) => {
    try {
      return await work();
    } catch (err) {
      throw new BackupError('storage', `${what}: ${(err as Error).message}`);
    }
  };
  await storage(`creating ${folder}`, () => mkdir(folder, { recursive: true }));

  // The snapshot pg_dump reads is exported by this transaction, which counts the rows in it: the manifest's
  // counts are exactly what the dump holds, however busy the database is.
  const client = new pg.Client({ connectionString: target.url, application_name: 'lookout-backup' });
  try {
    let snapshot: string;
    let tables: Record<string, number>;
    let serverVersion: string;
    try {
      await client.connect();
      await client.query('begin isolation level repeatable read read only');
      snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]!.id;
      serverVersion = (await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v;
      tables = await countRows(client);
      const { dbname, env } = libpqConnection(target.url);
      // --compress=6: gzip's usual balance, the same on pg_dump 15 (a level) and 16+ (a level means gzip).
      await runPgTool(
        'pg_dump',
        ['--format=custom', '--compress=6', `--snapshot=${snapshot}`, '--no-password', `--file=${dumpPartial}`, `--dbname=${dbname}`],
        env,
        options.signal,
      );
    } catch (err) {
      throw new BackupError('dump', `${target.name}: ${(err as Error).message}`);
    }
    return await storage(`${target.name}: writing ${dumpPath}`, async () => {
      await fsync(dumpPartial);
      await rename(dumpPartial, dumpPath);
      const finished = new Date();
      const manifest: Manifest = {
        database: target.name,
        file,
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        durationSeconds: (finished.getTime() - started.getTime()) / 1000,
        sizeBytes: (await stat(dumpPath)).size,
        sha256: await sha256(dumpPath),
        serverVersion,
        tables,
      };
      const handle = await open(manifestPartial, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(manifestPartial, manifestPath);
      await fsync(folder);
      return manifest;
    });
  } catch (err) {
    // Whatever failed, nothing half-written stays; a dump renamed without its manifest is no backup either.
    await Promise.all([dumpPartial, manifestPartial].map((path) => rm(path, { force: true })));
    if (!(await stat(manifestPath).catch(() => undefined))) await rm(dumpPath, { force: true });
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
