// npm run verify -w audit-api -- --tenant T [--from RFC3339] [--to RFC3339] --public-key key.pem [--public-key old.pem]
// Verifies a tenant's trail for an auditor who does not trust the running API: it needs only the database
// (DATABASE_URL, or --database-url) and the public key(s) (files, or LOOKOUT_AUDIT_PUBLIC_KEY as PEM text).
// Prints {"ok", "pending", "problems"} as the endpoint answers; exit 0 when ok, 1 when not, 2 on bad usage.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parsePublicKey, type PublicKey } from '../seal/keys.js';
import { verifyTrail } from '../seal/verify.js';
import { openDatabase } from '../store/db.js';

const USAGE = 'usage: npm run verify -w audit-api -- --tenant <id> [--from <RFC 3339>] [--to <RFC 3339>] --public-key <pem file> [--database-url <url>]';

class UsageError extends Error {}

function timestamp(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(date.getTime())) throw new UsageError(`--${name} must be an RFC 3339 timestamp, got "${value}"`);
  return date;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
      'database-url': { type: 'string' },
    },
  });
  if (!values.tenant) throw new UsageError('--tenant is required');
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
  if (!databaseUrl) throw new UsageError('give the database as --database-url or DATABASE_URL');
  const pems = (values['public-key'] ?? []).map((file) => ({ name: file, pem: readFileSync(file, 'utf8') }));
  if (process.env.LOOKOUT_AUDIT_PUBLIC_KEY) pems.push({ name: 'LOOKOUT_AUDIT_PUBLIC_KEY', pem: process.env.LOOKOUT_AUDIT_PUBLIC_KEY });
  if (pems.length === 0) throw new UsageError('give the public key: --public-key <file> (from /.well-known/lookout-audit-keys) or LOOKOUT_AUDIT_PUBLIC_KEY');
  const publicKeys: PublicKey[] = pems.map(({ name, pem }) => {
    try {
      return parsePublicKey(pem);
    } catch (err) {
      throw new UsageError(`${name} ${(err as Error).message}`);
    }
  });
  const from = timestamp(values.from, 'from');
  const to = timestamp(values.to, 'to');
  const database = await openDatabase(databaseUrl, 2);
  try {
    const result = await verifyTrail(database.knex, { tenantId: values.tenant, ...(from ? { from } : {}), ...(to ? { to } : {}), publicKeys });
    console.log(JSON.stringify(result));
    return result.ok ? 0 : 1;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`verify: ${(err as Error).message}${err instanceof UsageError ? `\n${USAGE}` : ''}`);
    process.exitCode = 2;
  },
);
