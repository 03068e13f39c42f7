/*
 * The health monitor: which backend replicas take part in probing (so the
 * probe targets can be divided among them), the current health of every
 * probe of every target, written when it changes, and a bounded sample of
 * probe results.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('health_replicas', table => {
    table.comment(
      'Backend replicas running the health monitor; targets are divided among the live ones',
    );
    table.string('replica_id', 255).primary().notNullable();
    table
      .timestamp('heartbeat_at', { useTz: true, precision: 3 })
      .notNullable()
      .comment('A replica whose heartbeat is older than the timeout is gone');
    table.timestamp('started_at', { useTz: true, precision: 3 }).notNullable();
  });

  await knex.schema.createTable('health_status', table => {
    table.comment(
      'Current health of each probe of each target, written when it changes and refreshed now and then',
    );
    table.string('target_id', 255).notNullable();
    table.string('probe_name', 255).notNullable();
    table.string('plugin_id', 63).notNullable();
    table.string('instance_id', 255).nullable();
    table.string('probe_type', 16).notNullable();
    table
      .string('status', 16)
      .notNullable()
      .comment('unknown, passing or failing (Kubernetes thresholds)');
    table.integer('consecutive_successes').notNullable().defaultTo(0);
    table.integer('consecutive_failures').notNullable().defaultTo(0);
    table.boolean('last_ok').nullable();
    table.text('last_message').nullable();
    table.double('last_latency_ms').nullable();
    table
      .timestamp('last_checked_at', { useTz: true, precision: 3 })
      .nullable();
    table
      .timestamp('last_transition_at', { useTz: true, precision: 3 })
      .nullable();
    table
      .string('circuit', 16)
      .nullable()
      .comment('closed, open or half-open when the probe has a breaker');
    table
      .text('trend')
      .nullable()
      .comment('JSON: EWMA latency, rolling success window, flap state');
    table
      .string('verdict', 16)
      .notNullable()
      .comment("The target's verdict, the same on each of its probes' rows");
    table.double('health_score').notNullable();
    table.boolean('ready').notNullable();
    table.boolean('live').notNullable();
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    table
      .string('reported_by', 255)
      .notNullable()
      .comment('The replica that probed the target');
    table.primary(['target_id', 'probe_name']);
    table.index(['plugin_id'], 'health_status_plugin_idx');
    table.index(['updated_at'], 'health_status_updated_idx');
  });

  await knex.schema.createTable('health_results', table => {
    table.comment(
      'Sampled probe results (each change, then one per interval), pruned by count per probe and by age',
    );
    table.bigIncrements('id').primary();
    table.string('target_id', 255).notNullable();
    table.string('plugin_id', 63).notNullable();
    table.string('probe_name', 255).notNullable();
    table.boolean('ok').notNullable();
    table.double('latency_ms').notNullable();
    table.text('message').nullable();
    table.timestamp('checked_at', { useTz: true, precision: 3 }).notNullable();
    table.index(['target_id', 'probe_name', 'id'], 'health_results_target_idx');
    table.index(['plugin_id', 'id'], 'health_results_plugin_idx');
    table.index(['checked_at'], 'health_results_checked_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('health_results');
  await knex.schema.dropTable('health_status');
  await knex.schema.dropTable('health_replicas');
};
