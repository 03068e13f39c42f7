import { Knex } from 'knex';

/**
 * Whether the database is PostgreSQL (else SQLite): where the dialects
 * differ, the stores take a PostgreSQL branch (one statement, named, shared
 * by concurrent requests) and a plain knex one.
 */
export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}
