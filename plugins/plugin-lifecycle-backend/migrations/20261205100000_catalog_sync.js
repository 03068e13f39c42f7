/*
 * What catalog sync acted on and why it did nothing, per opted-in plugin:
 * the declared state (version, strategy and settings of its catalog
 * entity's annotations) it last deployed or found running, the deployment
 * it started for it, and the status and reason of its last pass. Each
 * declared state is acted on once: a later rollback is not undone until
 * the annotations change.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('catalog_sync', table => {
    table.comment('Catalog sync: what it acted on, per managed plugin');
    table.string('plugin_id', 255).primary();
    table
      .string('entity_ref', 512)
      .nullable()
      .comment('The entity whose annotations were read last');
    table
      .text('acted_on')
      .nullable()
      .comment(
        'Canonical JSON of the declared state deployed or found running',
      );
    table
      .string('deployment_id', 255)
      .nullable()
      .comment('The deployment catalog sync started for acted_on');
    table.string('status', 64).notNullable();
    table.text('reason').nullable();
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('catalog_sync');
};
