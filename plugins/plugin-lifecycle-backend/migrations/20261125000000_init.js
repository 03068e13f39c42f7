/*
 * The foundation schema: managed plugins with their lifecycle state and
 * history, installed versions, instances and operations.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('plugins', table => {
    table.comment('Managed plugins and their lifecycle state');
    table.string('id', 63).primary().notNullable();
    table.string('tenant', 255).notNullable();
    table.string('entity_ref', 255).nullable();
    table.string('runtime', 63).notNullable();
    table.string('state', 32).notNullable();
    table
      .integer('revision')
      .notNullable()
      .defaultTo(0)
      .comment(
        'Bumped on every state change; updates check it (optimistic concurrency)',
      );
    table.string('desired_state', 32).nullable();
    table.string('current_version', 255).nullable();
    table.integer('replicas').notNullable().defaultTo(1);
    table.string('environment', 63).nullable();
    table
      .text('configuration')
      .nullable()
      .comment('JSON: entries given at install');
    table.text('probes').nullable().comment('JSON: probe definitions');
    table.text('last_error').nullable();
    table
      .string('operation_id', 64)
      .nullable()
      .comment('The operation that holds the current transitional state');
    table
      .text('breaker')
      .nullable()
      .comment('JSON: per-plugin circuit breaker');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.index(['tenant'], 'plugins_tenant_idx');
    table.index(['entity_ref'], 'plugins_entity_ref_idx');
  });

  await knex.schema.createTable('plugin_versions', table => {
    table.comment('Installed versions of managed plugins');
    table
      .string('plugin_id', 63)
      .notNullable()
      .references('id')
      .inTable('plugins')
      .onDelete('CASCADE');
    table.string('version', 255).notNullable();
    table.text('artifact').notNullable().comment('JSON');
    table.text('manifest').notNullable().comment('JSON');
    table.text('location').nullable();
    table.timestamp('installed_at', { useTz: true }).notNullable();
    table.primary(['plugin_id', 'version']);
  });

  await knex.schema.createTable('plugin_instances', table => {
    table.comment('Running (and recently ended) copies of plugin versions');
    table.string('id', 64).primary().notNullable();
    table
      .string('plugin_id', 63)
      .notNullable()
      .references('id')
      .inTable('plugins')
      .onDelete('CASCADE');
    table.string('version', 255).notNullable();
    table.string('track', 32).notNullable();
    table.string('runtime', 63).notNullable();
    table.string('host', 255).notNullable();
    table.integer('port').notNullable();
    table.string('protocol', 16).notNullable();
    table.integer('pid').nullable();
    table.string('status', 16).notNullable();
    table.string('owner', 255).notNullable();
    table.timestamp('started_at', { useTz: true }).notNullable();
    table.timestamp('stopped_at', { useTz: true }).nullable();
    table.integer('exit_code').nullable();
    table.text('last_error').nullable();
    table.index(['plugin_id', 'status'], 'plugin_instances_plugin_status_idx');
  });

  await knex.schema.createTable('state_transitions', table => {
    table.comment('Every lifecycle state change: who, why, which operation');
    table.bigIncrements('id').primary();
    table.string('plugin_id', 63).notNullable();
    table.string('from_state', 32).notNullable();
    table.string('to_state', 32).notNullable();
    table.string('action', 32).notNullable();
    table.string('operation_id', 64).nullable();
    table.string('actor', 255).nullable();
    table.text('reason').nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.index(['plugin_id', 'id'], 'state_transitions_plugin_idx');
  });

  await knex.schema.createTable('operations', table => {
    table.comment(
      'The durable operation queue: every lifecycle action, persisted before it runs',
    );
    // seq orders operations (FIFO per plugin); id is what the API shows.
    table.bigIncrements('seq').primary();
    table.string('id', 64).notNullable().unique();
    table.string('plugin_id', 63).notNullable();
    table.string('tenant', 255).notNullable();
    table.string('type', 32).notNullable();
    table.string('status', 16).notNullable();
    table.integer('priority').notNullable().defaultTo(0);
    table.string('actor', 255).nullable();
    table.text('params').notNullable().comment('JSON');
    table.integer('attempts').notNullable().defaultTo(0);
    table.integer('max_attempts').notNullable().defaultTo(1);
    table.integer('timeout_ms').notNullable();
    table.string('idempotency_key', 255).nullable();
    table.string('batch_id', 64).nullable();
    table.timestamp('next_attempt_at', { useTz: true }).notNullable();
    table.string('lease_owner', 255).nullable();
    table.timestamp('lease_expires_at', { useTz: true }).nullable();
    table.text('error').nullable();
    table.text('result').nullable().comment('JSON');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.unique(['tenant', 'idempotency_key'], {
      indexName: 'operations_idempotency_idx',
    });
    table.index(['status', 'next_attempt_at'], 'operations_status_idx');
    table.index(
      ['status', 'tenant', 'priority', 'seq'],
      'operations_claim_idx',
    );
    table.index(['plugin_id', 'status', 'seq'], 'operations_plugin_idx');
    table.index(['batch_id'], 'operations_batch_idx');
  });
  // At most one running operation per plugin, whatever the replicas do.
  await knex.raw(
    "CREATE UNIQUE INDEX operations_one_running_per_plugin ON operations (plugin_id) WHERE status = 'running'",
  );

  await knex.schema.createTable('operation_dependencies', table => {
    table.comment(
      'An operation waits until each operation it depends on succeeded',
    );
    table.string('operation_id', 64).notNullable();
    table.string('depends_on_id', 64).notNullable();
    table.primary(['operation_id', 'depends_on_id']);
    table.index(['depends_on_id'], 'operation_dependencies_depends_on_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('operation_dependencies');
  await knex.schema.dropTable('operations');
  await knex.schema.dropTable('state_transitions');
  await knex.schema.dropTable('plugin_instances');
  await knex.schema.dropTable('plugin_versions');
  await knex.schema.dropTable('plugins');
};
