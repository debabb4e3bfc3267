// npm run audit:retention -w audit-api [-- --dry-run]: one retention run now (what the service also does
// on its schedule); prints the result as JSON. The run is recorded in audit_retention_runs either way.
import { loadRetentionConfig } from '../config.js';
import { runRetention } from '../jobs/retention.js';
import { openDatabase } from '../store/db.js';

async function main(): Promise<void> {
  const config = loadRetentionConfig();
  const database = await openDatabase(config.databaseUrl, 2);
  try {
    const result = await runRetention(database.knex, {
      retentionDays: config.retentionDays,
      batchSize: config.retentionBatchSize,
      dryRun: process.argv.includes('--dry-run'),
    });
    console.log(JSON.stringify(result));
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  console.error(`audit:retention: ${(err as Error).message}`);
  process.exitCode = 1;
});
