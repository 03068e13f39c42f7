import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { Knex } from 'knex';

const migrationsDir = resolvePackagePath(
  '@internal/plugin-lifecycle-backend',
  'migrations',
);

/** Runs the plugin's migrations unless the app-config turned that off. */
export async function applyDatabaseMigrations(
  database: DatabaseService,
): Promise<Knex> {
  const client = await database.getClient();
  if (!database.migrations?.skip) {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.migrate.latest({ directory: migrationsDir });
        break;
      } catch (error) {
        // Replicas starting together on a new database race to create
        // knex's own bookkeeping tables; the loser retries, then waits on
        // knex's migration lock like any later replica.
        if (attempt >= 5 || !isCreateRace(error)) throw error;
        await new Promise(r => setTimeout(r, 200 * attempt));
      }
    }
  }
  return client;
}

export { migrationsDir };

function isCreateRace(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '42P07' || // duplicate_table
    e?.code === '23505' || // unique_violation (pg_type of a table created concurrently)
    /knex_migrations(_lock)?.*already exists|MigrationLocked|Migration table is already locked/i.test(
      e?.message ?? '',
    )
  );
}
