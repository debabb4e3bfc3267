// The off-site copy: a backup complete on the volume is uploaded to an S3 or S3-compatible bucket (the dump,
// then its manifest, so that a manifest object always has its dump), checked there, and the retention policy
// is applied to the objects under the prefix as it is to the files on the volume. Keys mirror the volume:
// `<prefix><database>/<database>-<stamp>.dump` and `.json`.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { backupIn, type Backup } from './catalog.js';
import type { S3Config } from './config.js';
import { BackupError, type Manifest } from './dump.js';
import { applyRetention, type RetentionPolicy } from './retention.js';

/** A backup's objects in the bucket, by the stamp in their names. */
export interface RemoteBackup {
  database: string;
  /** `<database>-<stamp>`: the file names without `.dump` / `.json`. */
  name: string;
  takenAt: Date;
  dumpKey?: string;
  manifestKey?: string;
}

const MiB = 1024 * 1024;
// S3 allows 10,000 parts of at least 5 MiB; a dump past 48 GiB needs bigger parts, and its size is known.
const partSize = (bytes: number) => Math.max(5 * MiB, Math.ceil(bytes / 9_000));
const NAME = /^(.+)-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.(dump|json)$/;

/** The client for a configured bucket; the AWS SDK's default chain supplies the credentials. */
export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    // Not the SDK's default CRC checksums on every request: several S3-compatible stores refuse them; the
    // upload is checked by its size and the sha256 the manifest carries instead.
    ...(config.endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    // A store that does not answer fails the upload in seconds, not when the OS gives up on the connection.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  });
}

export class S3Target {
  constructor(
    readonly config: S3Config,
    private readonly client: S3Client = createS3Client(config),
  ) {}

  /** Closes the client's idle connections, so that a one-shot command's process can end. */
  destroy(): void {
    this.client.destroy();
  }

  /** `s3://bucket/prefix`, for logs. */
  get location(): string {
    return `s3://${this.config.bucket}/${this.config.prefix}`;
  }

  key(database: string, file: string): string {
    return `${this.config.prefix}${database}/${file}`;
  }

  /**
   * Uploads a complete backup, dump first and manifest last, each checked with HeadObject (size and the
   * x-amz-meta-sha256 it was given). Throws a BackupError with reason `upload`.
   */
  async upload(backup: Backup, signal?: AbortSignal): Promise<{ dumpKey: string; manifestKey: string }> {
    const { manifest } = backup;
    const dumpKey = this.key(manifest.database, manifest.file);
    const manifestKey = this.key(manifest.database, manifest.file.replace(/\.dump$/, '.json'));
    await this.attempt(`uploading ${backup.dumpPath} to ${dumpKey}`, () => this.put(dumpKey, createReadStream(backup.dumpPath), manifest.sizeBytes, manifest.sha256, signal));
    await this.attempt(`uploading ${backup.manifestPath} to ${manifestKey}`, async () => {
      const body = await readFile(backup.manifestPath);
      await this.put(manifestKey, body, body.length, createHash('sha256').update(body).digest('hex'), signal);
    });
    return { dumpKey, manifestKey };
  }

  /** Whether both objects of a backup are in the bucket, the dump at the manifest's size and sha256. */
  async has(backup: Backup): Promise<boolean> {
    const { manifest } = backup;
    return this.attempt(`looking for ${manifest.file} in ${this.location}`, async () => {
      const [dump, json] = await Promise.all([this.head(this.key(manifest.database, manifest.file)), this.head(this.key(manifest.database, manifest.file.replace(/\.dump$/, '.json')))]);
      return dump !== undefined && json !== undefined && dump.size === manifest.sizeBytes && dump.sha256 === manifest.sha256;
    });
  }

  /** A database's backups in the bucket, newest first, complete or not; objects named otherwise are not ours. */
  async list(database: string): Promise<RemoteBackup[]> {
    return this.attempt(`listing ${this.location}${database}/`, async () => {
      const byName = new Map<string, RemoteBackup>();
      const folder = this.key(database, '');
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.config.bucket, Prefix: folder })) {
        for (const { Key } of page.Contents ?? []) {
          const match = Key ? NAME.exec(Key.slice(folder.length)) : null;
          if (!match || match[1] !== database) continue;
          const [, , y, mo, d, h, mi, s, ext] = match;
          const name = Key!.slice(folder.length, -'.dump'.length);
          const entry = byName.get(name) ?? { database, name, takenAt: new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!)) };
          if (ext === 'dump') entry.dumpKey = Key;
          else entry.manifestKey = Key;
          byName.set(name, entry);
        }
      }
      return [...byName.values()].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
    });
  }

  /** The databases that have backups under the prefix. */
  async databases(): Promise<string[]> {
    return this.attempt(`listing ${this.location}`, async () => {
      const names: string[] = [];
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.config.bucket, Prefix: this.config.prefix, Delimiter: '/' })) {
        for (const { Prefix } of page.CommonPrefixes ?? []) if (Prefix) names.push(Prefix.slice(this.config.prefix.length, -1));
      }
      return names.sort();
    });
  }

  /**
   * Applies the retention policy to a database's complete backups in the bucket and deletes the rest, every
   * manifest before any dump (as on the volume: a dump without its manifest is no backup). Objects of an
   * incomplete backup older than the newest complete one (an upload that failed half-way) go too.
   * Returns the deleted backups' names.
   */
  async applyRetention(database: string, policy: RetentionPolicy): Promise<string[]> {
    const all = await this.list(database);
    const complete = all.filter((b) => b.dumpKey && b.manifestKey);
    const { remove } = applyRetention(complete, policy);
    const newest = complete[0]?.takenAt.getTime() ?? -Infinity;
    const leftovers = all.filter((b) => !(b.dumpKey && b.manifestKey) && b.takenAt.getTime() < newest);
    const doomed = [...remove, ...leftovers];
    await this.delete(doomed.flatMap((b) => (b.manifestKey ? [b.manifestKey] : [])));
    await this.delete(doomed.flatMap((b) => (b.dumpKey ? [b.dumpKey] : [])));
    return doomed.map((b) => b.name);
  }

  /** Downloads a complete backup into `folder` and checks its dump's size; the drill then checks its sha256. */
  async download(remote: RemoteBackup, folder: string): Promise<Backup> {
    if (!remote.dumpKey || !remote.manifestKey) throw new BackupError('upload', `${remote.name} is not complete in ${this.location}`);
    return this.attempt(`downloading ${remote.name} from ${this.location}`, async () => {
      const body = await this.get(remote.manifestKey!);
      const backup = backupIn(folder, JSON.parse(body.toString('utf8')) as Manifest);
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: remote.dumpKey }));
      await pipeline(object.Body as Readable, createWriteStream(backup.dumpPath));
      await writeFile(backup.manifestPath, body);
      return backup;
    });
  }

  private async put(key: string, body: Readable | Buffer, size: number, sha256: string, signal?: AbortSignal): Promise<void> {
    // Upload streams a dump larger than memory in parts (at most queueSize × partSize buffered) and makes a
    // single PutObject of anything smaller than one part.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: key, Body: body, Metadata: { sha256 } },
      partSize: partSize(size),
      queueSize: 2,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await upload.done();
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    const stored = await this.head(key);
    if (!stored) throw new Error(`${key} is not in the bucket after its upload`);
    if (stored.size !== size) throw new Error(`${key} is ${stored.size} bytes in the bucket, ${size} on the volume`);
    if (stored.sha256 !== sha256) throw new Error(`${key} has sha256 metadata ${stored.sha256 ?? '(none)'}, expected ${sha256}`);
  }

  private async head(key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return { size: head.ContentLength ?? -1, sha256: head.Metadata?.sha256 };
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFound' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  private async get(key: string): Promise<Buffer> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  private async delete(keys: string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys, and reports each key it could not delete rather than failing.
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const { Errors } = await this.attempt(`deleting from ${this.location}`, () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: this.config.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
      );
      if (Errors?.length) throw new BackupError('upload', `deleting from ${this.location}: ${Errors.map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`.trim()).join('; ')}`);
    }
  }

  /** Runs one exchange with the bucket; any failure becomes a BackupError with reason `upload`. */
  private async attempt<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof BackupError) throw err;
      const e = err as Error & { Code?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
      throw new BackupError('upload', `${what}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}${status}`);
    }
  }
}
