/*
 * What a restarted backend needs to adopt the instances its predecessor
 * left running: each instance's process group and process start time
 * (with the pid, they name one process for good; a pid alone is reused).
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('plugin_instances', table => {
    table
      .integer('process_group')
      .nullable()
      .comment('Process group (and session) of a local instance');
    table
      .string('process_start_time', 32)
      .nullable()
      .comment(
        'Start time of the process, /proc/<pid>/stat field 22 (clock ticks since boot)',
      );
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('plugin_instances', table => {
    table.dropColumn('process_group');
    table.dropColumn('process_start_time');
  });
};
