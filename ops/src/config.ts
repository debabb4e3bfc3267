// The backup service's and the restore drill's environment, parsed and validated once into typed config.
import { isAbsolute, resolve } from 'node:path';
import type { RetentionPolicy } from './retention.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface DatabaseTarget {
  /** Names the database in file names, metrics (`database`) and the drill's checks: `audit`, `runs`, … */
  name: string;
  /** Where pg_dump connects; a login that can read every table (postgres/init/05-backup.sh). */
  url: string;
}

export interface BackupConfig {
  databases: DatabaseTarget[];
  dir: string;
  /** The UTC time of day the service backs up at, in minutes after midnight. */
  scheduleMinutes: number;
  retention: RetentionPolicy;
  /** The off-site copy, when LOOKOUT_BACKUP_S3_BUCKET is set. */
  s3: S3Config | undefined;
}

/** An S3 or S3-compatible bucket; credentials come from the AWS SDK's own chain (AWS_ACCESS_KEY_ID, files, roles). */
export interface S3Config {
  bucket: string;
  /** Prepended to `<database>/<file>`; ends with `/`. */
  prefix: string;
  /** An S3-compatible store's URL (MinIO, Ceph, R2…); undefined means AWS. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

export interface DrillConfig {
  dir: string;
  /** Names the drill restores (every one that has a backup when unset). */
  databases: string[] | undefined;
  /** A login that may CREATE DATABASE on the server the drill restores into. */
  serverUrl: string;
  /** Where the drill looks for a database's backups when the directory has none. */
  s3: S3Config | undefined;
}

type Env = Record<string, string | undefined>;

const NAME = /^[a-z][a-z0-9_]{0,39}$/;

function parseDatabases(value: string | undefined): DatabaseTarget[] {
  if (!value?.trim()) throw new ConfigError('LOOKOUT_BACKUP_DATABASES must name the databases to back up, as name=url pairs: audit=postgres://…/audit,runs=postgres://…/runs');
  const databases = value
    .split(',')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const url = pair.slice(eq + 1);
      if (eq < 0 || !NAME.test(name)) throw new ConfigError(`LOOKOUT_BACKUP_DATABASES: "${pair.split('=')[0]}" is not a name=url pair with a lower-case name ([a-z][a-z0-9_]*)`);
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ConfigError(`LOOKOUT_BACKUP_DATABASES: the URL of ${name} is not a URL`);
      }
      if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new ConfigError(`LOOKOUT_BACKUP_DATABASES: the URL of ${name} must start with postgres:// (got ${parsed.protocol}//)`);
      return { name, url };
    });
  const names = databases.map((d) => d.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated) throw new ConfigError(`LOOKOUT_BACKUP_DATABASES names ${repeated} twice`);
  return databases;
}

function parseSchedule(value: string | undefined): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value ?? '02:30');
  if (!match) throw new ConfigError(`LOOKOUT_BACKUP_SCHEDULE must be a UTC time of day as HH:MM (e.g. 02:30), got "${value}"`);
  return Number(match[1]) * 60 + Number(match[2]);
}

function count(env: Env, key: string, fallback: number): number {
  const value = env[key];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value) || Number(value) > 1000) throw new ConfigError(`${key} must be a whole number from 0 to 1000, got "${value}"`);
  return Number(value);
}

function backupDir(env: Env): string {
  const dir = env.LOOKOUT_BACKUP_DIR;
  if (!dir) throw new ConfigError('LOOKOUT_BACKUP_DIR must name the directory backups are written to (a volume in compose)');
  return isAbsolute(dir) ? dir : resolve(dir);
}

const S3_VARIABLES = ['BUCKET', 'PREFIX', 'ENDPOINT', 'REGION', 'FORCE_PATH_STYLE'].map((name) => `LOOKOUT_BACKUP_S3_${name}`);
// S3's bucket naming rules (3-63 characters: lower-case letters, digits, dots, hyphens), which compatible stores share.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function parseS3(env: Env): S3Config | undefined {
  const set = (key: string) => (env[key] === undefined || env[key] === '' ? undefined : env[key]);
  const given = Object.keys(env).filter((key) => key.startsWith('LOOKOUT_BACKUP_S3_') && set(key) !== undefined);
  // A misspelt or invented name would otherwise be ignored, and the copies would not go where someone believes.
  const unknown = given.filter((key) => !S3_VARIABLES.includes(key));
  if (unknown.length > 0) {
    throw new ConfigError(`${unknown.join(', ')}: not a backup setting (${S3_VARIABLES.join(', ')}); credentials come from the AWS SDK's own variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE…), files or roles`);
  }
  const bucket = set('LOOKOUT_BACKUP_S3_BUCKET');
  if (bucket === undefined) {
    if (given.length > 0) throw new ConfigError(`${given.join(', ')} set without LOOKOUT_BACKUP_S3_BUCKET: name the bucket to upload backups to, or unset them`);
    return undefined;
  }
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw new ConfigError(`LOOKOUT_BACKUP_S3_BUCKET must be a bucket name (3-63 lower-case letters, digits, dots and hyphens), got "${bucket}"`);

  const prefix = set('LOOKOUT_BACKUP_S3_PREFIX') ?? 'lookout-backups/';
  if (!prefix.endsWith('/') || prefix.startsWith('/') || prefix.includes('//')) {
    throw new ConfigError(`LOOKOUT_BACKUP_S3_PREFIX must be a key prefix ending with / and not starting with one (e.g. lookout-backups/), got "${prefix}"`);
  }

  const endpoint = set('LOOKOUT_BACKUP_S3_ENDPOINT');
  if (endpoint !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(endpoint);
    } catch {
      // reported below
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol)) throw new ConfigError(`LOOKOUT_BACKUP_S3_ENDPOINT must be an http:// or https:// URL of an S3-compatible store (e.g. http://minio:9000), got "${endpoint}"`);
  }

  const region = set('LOOKOUT_BACKUP_S3_REGION') ?? 'us-east-1';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(region)) throw new ConfigError(`LOOKOUT_BACKUP_S3_REGION must be a region name such as us-east-1 (R2: auto), got "${region}"`);

  const pathStyle = set('LOOKOUT_BACKUP_S3_FORCE_PATH_STYLE');
  if (pathStyle !== undefined && !/^(true|false)$/.test(pathStyle)) throw new ConfigError(`LOOKOUT_BACKUP_S3_FORCE_PATH_STYLE must be true or false, got "${pathStyle}"`);
  // Compatible stores mostly serve http://host/bucket/key, not a bucket subdomain that needs its own DNS name.
  const forcePathStyle = pathStyle === undefined ? endpoint !== undefined : pathStyle === 'true';
  return { bucket, prefix, endpoint, region, forcePathStyle };
}

export function loadBackupConfig(env: Env = process.env): BackupConfig {
  const retention = { daily: count(env, 'LOOKOUT_BACKUP_KEEP_DAILY', 7), weekly: count(env, 'LOOKOUT_BACKUP_KEEP_WEEKLY', 4), monthly: count(env, 'LOOKOUT_BACKUP_KEEP_MONTHLY', 12) };
  if (retention.daily + retention.weekly + retention.monthly === 0) throw new ConfigError('LOOKOUT_BACKUP_KEEP_DAILY, _WEEKLY and _MONTHLY are all 0: every backup would be deleted as soon as it is made');
  return {
    databases: parseDatabases(env.LOOKOUT_BACKUP_DATABASES),
    dir: backupDir(env),
    scheduleMinutes: parseSchedule(env.LOOKOUT_BACKUP_SCHEDULE),
    retention,
    s3: parseS3(env),
  };
}

export function loadDrillConfig(env: Env = process.env): DrillConfig {
  const serverUrl = env.LOOKOUT_RESTORE_DRILL_DATABASE_URL;
  if (!serverUrl) throw new ConfigError('LOOKOUT_RESTORE_DRILL_DATABASE_URL must be set: a login that may CREATE DATABASE on the server to restore into (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
  try {
    new URL(serverUrl);
  } catch {
    throw new ConfigError('LOOKOUT_RESTORE_DRILL_DATABASE_URL is not a URL');
  }
  const only = env.LOOKOUT_RESTORE_DRILL_DATABASES?.split(',').map((n) => n.trim()).filter(Boolean);
  for (const name of only ?? []) if (!NAME.test(name)) throw new ConfigError(`LOOKOUT_RESTORE_DRILL_DATABASES: "${name}" is not a database name as LOOKOUT_BACKUP_DATABASES gives them`);
  return { dir: backupDir(env), databases: only?.length ? only : undefined, serverUrl, s3: parseS3(env) };
}
