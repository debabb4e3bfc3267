// The backups in a directory: `<dir>/<database>/<database>-<stamp>.dump` with its `.json` manifest. A dump
// without its manifest is not a backup (the manifest is written last), and `.partial` files are leftovers.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from './dump.js';

export interface Backup {
  manifest: Manifest;
  dumpPath: string;
  manifestPath: string;
  takenAt: Date;
}

async function entries(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The databases that have a folder of backups. */
export async function backedUpDatabases(dir: string): Promise<string[]> {
  const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return names.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** The backup a manifest describes, its files in `folder` (`<dir>/<database>` on the volume). */
export function backupIn(folder: string, manifest: Manifest): Backup {
  return { manifest, dumpPath: join(folder, manifest.file), manifestPath: join(folder, manifest.file.replace(/\.dump$/, '.json')), takenAt: new Date(manifest.startedAt) };
}

/** Complete backups of one database, newest first. */
export async function listBackups(dir: string, database: string): Promise<Backup[]> {
  const folder = join(dir, database);
  const names = await entries(folder);
  const backups: Backup[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const manifest = JSON.parse(await readFile(join(folder, name), 'utf8')) as Manifest;
    if (!names.includes(manifest.file)) continue;
    backups.push(backupIn(folder, manifest));
  }
  return backups.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
}

/** Deletes a backup: its manifest first, so that a crash in between leaves a dump that is no backup. */
export async function removeBackup(backup: Backup): Promise<void> {
  await rm(backup.manifestPath, { force: true });
  await rm(backup.dumpPath, { force: true });
}

/** Removes what interrupted runs left (`.partial` files, dumps without a manifest); returns their names. */
export async function removeLeftovers(dir: string, database: string): Promise<string[]> {
  const folder = join(dir, database);
  const names = (await entries(folder)).sort();
  const manifests = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.replace(/\.json$/, '.dump')));
  const leftovers = names.filter((n) => n.endsWith('.partial') || (n.endsWith('.dump') && !manifests.has(n)));
  await Promise.all(leftovers.map((n) => rm(join(folder, n), { force: true })));
  return leftovers;
}
