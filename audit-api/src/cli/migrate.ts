// npm run migrate -w audit-api [-- --down | --status]: apply pending migrations, roll back the last
// batch, or list them. Needs DATABASE_URL.
import { loadDatabaseUrl } from '../config.js';
import { openDatabase } from '../store/db.js';
import { migrateLatest, migrationConfig } from '../store/migrations.js';

async function main(): Promise<void> {
  const url = loadDatabaseUrl();
  const database = await openDatabase(url, 1);
  try {
    if (process.argv.includes('--down')) {
      const [, rolledBack] = (await database.knex.migrate.rollback(migrationConfig)) as [number, string[]];
      console.log(JSON.stringify({ rolled_back: rolledBack }));
    } else if (process.argv.includes('--status')) {
      const [done, pending] = (await database.knex.migrate.list(migrationConfig)) as [{ name: string }[], { file: string }[] | string[]];
      console.log(JSON.stringify({ applied: done.map((m) => m.name), pending }));
    } else {
      console.log(JSON.stringify({ applied: await migrateLatest(database.knex) }));
    }
  } finally {
    await database.close();
  }
}

main().catch((err) => {
  console.error(`migrate: ${(err as Error).message}`);
  process.exitCode = 1;
});
