/*
 * The traffic split of a service between its version subsets, shared by
 * every backend replica (a deployment shifts it step by step): weights per
 * subset key (`track/version`) and an optional header or cookie match that
 * sends matching requests to one subset (A/B). Every write also appends a
 * `split` entry to `service_changes` in the same transaction, so the other
 * replicas apply it as they apply any discovery change.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('traffic_splits', table => {
    table.comment('Traffic split of a service between its version subsets');
    table.string('tenant', 255).notNullable();
    table.string('service_name', 255).notNullable();
    table
      .text('weights')
      .notNullable()
      .comment('JSON: subset key (track/version) to a whole-number share');
    table
      .text('match')
      .nullable()
      .comment(
        'JSON: {subset, header?: {name, value}, cookie?: {name, value}}',
      );
    table
      .bigInteger('revision')
      .notNullable()
      .comment('The service_changes entry of the last write');
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    table.primary(['tenant', 'service_name']);
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('traffic_splits');
};
