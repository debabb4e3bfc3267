// knex migrations from an explicit list rather than a directory scan, so the same code runs from the
// TypeScript sources (tests) and from the compiled dist/ (npm start) without knex guessing file types.
import type { Knex } from 'knex';
import * as activityEvents from '../../migrations/001_activity_events.js';
import * as activitySeals from '../../migrations/002_activity_seals.js';
import * as streamResume from '../../migrations/003_stream_resume.js';
import * as failuresIndex from '../../migrations/004_failures_index.js';

const MIGRATIONS: Record<string, Knex.Migration> = {
  '001_activity_events': activityEvents,
  '002_activity_seals': activitySeals,
  '003_stream_resume': streamResume,
  '004_failures_index': failuresIndex,
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(MIGRATIONS);
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    return MIGRATIONS[name]!;
  },
};

export const migrationConfig: Knex.MigratorConfig = { migrationSource, tableName: 'audit_knex_migrations' };

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
  return applied;
}
