import { Knex } from 'knex';

const unnamedOnly = new WeakSet<Knex>();

/**
 * Runs one of the hot statements on PostgreSQL as a named (prepared)
 * statement: each connection parses and plans it once instead of on every
 * call. Such a statement must always have the same text, and lists its
 * columns (a `*` would break it when a migration adds one). A server that
 * refuses named statements (a transaction pooler that does not keep them)
 * gets unnamed ones from then on; nothing ran, so running again is safe.
 */
export async function runNamed(
  db: Knex,
  name: string,
  sql: string,
  bindings: readonly Knex.RawBinding[],
): Promise<{ rows: any[] }> {
  if (!unnamedOnly.has(db)) {
    try {
      return await db.raw(sql, bindings).options({ name });
    } catch (error) {
      const code = (error as { code?: string }).code;
      // invalid_sql_statement_name, duplicate_prepared_statement,
      // feature_not_supported ("cached plan must not change result type")
      if (!['26000', '42P05', '0A000'].includes(code ?? '')) throw error;
      unnamedOnly.add(db);
    }
  }
  return db.raw(sql, bindings);
}
