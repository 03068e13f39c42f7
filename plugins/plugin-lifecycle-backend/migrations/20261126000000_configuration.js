/*
 * The configuration manager: immutable, numbered versions of each layer
 * (`base` or an environment) of a plugin's configuration, with secret values
 * sealed (AES-256-GCM) inside the entries; and which configuration revision
 * each plugin and instance runs with.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('config_versions', table => {
    table.comment('Versions of one layer of a plugin configuration');
    table
      .bigIncrements('revision')
      .primary()
      .comment('Global, growing: what watchers and the change feed compare');
    table.string('plugin_id', 63).notNullable();
    table.string('layer', 63).notNullable();
    table.integer('version').notNullable();
    table
      .text('entries')
      .notNullable()
      .comment('JSON: entries; secret values are sealed envelopes');
    table
      .string('key_ids', 255)
      .nullable()
      .comment('Sorted, comma-separated ids of the keys sealing the secrets');
    table.string('author', 255).nullable();
    table.text('description').nullable();
    table.integer('rolled_back_from').nullable();
    table.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    table.unique(['plugin_id', 'layer', 'version'], {
      indexName: 'config_versions_layer_version_uq',
    });
    table.index(['key_ids'], 'config_versions_key_ids_idx');
  });

  await knex.schema.createTable('config_rotation_notices', table => {
    table.comment('Secret values whose rotation date passed, notified once');
    table.string('plugin_id', 63).notNullable();
    table.string('layer', 63).notNullable();
    table.string('key', 255).notNullable();
    table.string('due_at', 40).notNullable();
    table.timestamp('notified_at', { useTz: true }).notNullable();
    table.primary(['plugin_id', 'layer', 'key', 'due_at']);
  });

  await knex.schema.alterTable('plugins', table => {
    table
      .bigInteger('config_revision')
      .nullable()
      .comment('The configuration revision the running instances use');
  });
  await knex.schema.alterTable('plugin_instances', table => {
    table
      .bigInteger('config_revision')
      .nullable()
      .comment(
        'The configuration revision this instance started or reloaded with',
      );
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('plugin_instances', table => {
    table.dropColumn('config_revision');
  });
  await knex.schema.alterTable('plugins', table => {
    table.dropColumn('config_revision');
  });
  await knex.schema.dropTable('config_rotation_notices');
  await knex.schema.dropTable('config_versions');
};
