/*
 * Deployments: a rollout of one plugin from one version to another, as a
 * persisted object that a controller on any replica advances step by step
 * (it leases a deployment while it works on it, so two replicas never
 * advance the same one at once).
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('deployments', table => {
    table.comment(
      'Rollouts of plugins between versions (blue-green, canary, rolling, A/B, recreate), advanced by the deployment controller',
    );
    table.string('id', 64).primary().notNullable();
    table.string('plugin_id', 63).notNullable();
    table.string('tenant', 255).notNullable();
    table.string('strategy', 32).notNullable();
    table.string('from_version', 255).notNullable();
    table.string('to_version', 255).notNullable();
    table.string('environment', 63).nullable();
    table
      .string('phase', 32)
      .notNullable()
      .comment(
        'pending, progressing, paused, awaiting-approval, rolling-back, or a terminal one',
      );
    table
      .boolean('active')
      .notNullable()
      .comment(
        'True while the phase is not terminal; at most one active deployment per plugin',
      );
    table.text('message').nullable();
    table
      .integer('current_step')
      .notNullable()
      .defaultTo(0)
      .comment('Index into steps of the step being executed');
    table.text('config').notNullable().comment('JSON: DeploymentConfig');
    table.text('steps').notNullable().comment('JSON: DeploymentStep[]');
    table
      .text('traffic')
      .notNullable()
      .comment('JSON: share of traffic per version, in percent');
    table.text('match').nullable().comment('JSON: A/B match of variant B');
    table
      .text('instances')
      .notNullable()
      .comment('JSON: instance ids per version');
    table.text('analysis').notNullable().comment('JSON: AnalysisRun[]');
    table.text('approvals').notNullable().comment('JSON: ApprovalRecord[]');
    table
      .text('step_state')
      .notNullable()
      .comment("JSON object: the executor's scratch data for the current step");
    table.string('winner', 255).nullable();
    table
      .string('operation_id', 64)
      .nullable()
      .comment('The operation that created the deployment');
    table.string('created_by', 255).nullable();
    table.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    table.timestamp('finished_at', { useTz: true, precision: 3 }).nullable();
    table
      .timestamp('step_started_at', { useTz: true, precision: 3 })
      .nullable();
    table
      .timestamp('next_run_at', { useTz: true, precision: 3 })
      .nullable()
      .comment('When the controller should look at it next; null: now');
    table
      .string('lease_owner', 255)
      .nullable()
      .comment('The replica advancing the deployment');
    table
      .timestamp('lease_expires_at', { useTz: true, precision: 3 })
      .nullable();
    table
      .integer('revision')
      .notNullable()
      .defaultTo(1)
      .comment(
        'Bumped on every write; writes check it (optimistic concurrency)',
      );
    table.index(['plugin_id', 'created_at'], 'deployments_plugin_idx');
    table.index(['created_at'], 'deployments_created_idx');
    table.index(['active', 'next_run_at'], 'deployments_due_idx');
  });
  // At most one active deployment per plugin, whatever the replicas do: of
  // two concurrent creates for one plugin, one fails. A partial index works
  // the same on PostgreSQL and SQLite.
  await knex.raw(
    'CREATE UNIQUE INDEX deployments_one_active_per_plugin ON deployments (plugin_id) WHERE active',
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('deployments');
};
