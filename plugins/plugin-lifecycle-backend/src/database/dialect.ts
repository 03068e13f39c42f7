import { Knex } from 'knex';

/**
 * Whether the database is PostgreSQL (else SQLite): where the dialects
 * differ, the stores take a PostgreSQL branch (one statement, named, shared
 * by concurrent requests) and a plain knex one.
 */
export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}

/**
 * Whether a database error is a violated unique constraint or primary key
 * (PostgreSQL 23505, SQLite's constraint codes or message): a race between
 * two first writes of one key.
 */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/i.test(e?.message ?? '')
  );
}
