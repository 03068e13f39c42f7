/*
 * Service discovery: services registered through the API (external services
 * and anything else that is not an instance a runtime started), the live
 * settings of plugin instances (weight, connection limit, health), and a log
 * of changes other backend replicas read to keep their in-memory view fresh.
 *
 * Every write appends to `service_changes` in the same transaction and sets
 * the row's `revision` to the new entry; a replica polls for entries above
 * the last revision it applied (on PostgreSQL the write also sends NOTIFY
 * plugin_lifecycle_services so listeners read at once). Deletions leave an
 * entry too, so replicas learn about them. Old entries are pruned; a replica
 * that fell behind the pruning reloads everything.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('services', table => {
    table.comment('Service instances registered through the discovery API');
    table.string('service_id', 255).primary().notNullable();
    table.string('tenant', 255).notNullable();
    table.string('plugin_id', 63).nullable();
    table.string('service_name', 255).notNullable();
    table.string('service_type', 16).notNullable().comment('http, grpc or tcp');
    table.string('version', 255).nullable();
    table.string('host', 255).notNullable();
    table.integer('port').notNullable();
    table.string('protocol', 16).notNullable();
    table.integer('weight').notNullable().defaultTo(100);
    table.integer('max_connections').nullable();
    table
      .string('strategy', 32)
      .nullable()
      .comment('The default load balancing strategy of the service name');
    table.text('tags').notNullable().comment('JSON: array of strings');
    table.text('metadata').notNullable().comment('JSON: string to string');
    table.text('health_check').nullable().comment('JSON: a probe definition');
    table
      .integer('ttl_ms')
      .nullable()
      .comment(
        'Heartbeats are due this often, or the instance takes no traffic',
      );
    table
      .integer('deregister_after_ms')
      .nullable()
      .comment('Removed this long after the last heartbeat');
    table.timestamp('last_heartbeat_at', { useTz: true, precision: 3 });
    table
      .timestamp('expires_at', { useTz: true, precision: 3 })
      .nullable()
      .comment('last_heartbeat_at + ttl_ms');
    table
      .timestamp('deregister_at', { useTz: true, precision: 3 })
      .nullable()
      .comment('last_heartbeat_at + deregister_after_ms');
    table
      .timestamp('expired_at', { useTz: true, precision: 3 })
      .nullable()
      .comment('Set when the TTL passed without a heartbeat; cleared by one');
    table.boolean('ready').notNullable().defaultTo(true);
    table.float('health_score').notNullable().defaultTo(1);
    table
      .timestamp('registered_at', { useTz: true, precision: 3 })
      .notNullable();
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    table
      .bigInteger('revision')
      .notNullable()
      .comment('The service_changes entry of the last change');
    table.index(['tenant', 'service_name'], 'services_tenant_name_idx');
    table.index(['expires_at'], 'services_expires_at_idx');
    table.index(['deregister_at'], 'services_deregister_at_idx');
  });

  await knex.schema.createTable('service_instance_overrides', table => {
    table.comment(
      'Live settings of plugin instances: weight, connection limit, health',
    );
    table.string('instance_id', 64).primary().notNullable();
    table.integer('weight').nullable();
    table.integer('max_connections').nullable();
    table.boolean('ready').nullable();
    table.float('health_score').nullable();
    table.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    table.bigInteger('revision').notNullable();
  });

  await knex.schema.createTable('service_changes', table => {
    table.comment('What changed in services, for the other replicas');
    table.bigIncrements('revision').primary();
    table
      .string('service_id', 255)
      .notNullable()
      .comment('A service id, or an instance id for an override');
    table
      .string('kind', 16)
      .notNullable()
      .comment('upsert, delete or override');
    table.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    table.index(['created_at'], 'service_changes_created_at_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('service_changes');
  await knex.schema.dropTable('service_instance_overrides');
  await knex.schema.dropTable('services');
};
