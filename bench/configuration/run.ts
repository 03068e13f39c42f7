/*
 * Configuration manager benchmark, on SQLite and PostgreSQL:
 *
 * 1. effective configuration reads through the manager of a real
 *    PluginLifecycleOrchestrationSystem (the plugin lookup included, as the
 *    HTTP route does it), cached and right after a change (uncached);
 * 2. one change delivered to 1,000 watchers: on the replica that wrote it,
 *    and on another replica (a second system on the same database) that
 *    learns of it through PostgreSQL NOTIFY, or on SQLite by polling.
 *
 * Both replicas run in this process, each with its own knex pool: the
 * write's own work shares the event loop with the delivery, so the figures
 * are if anything pessimistic. Prints a table and writes its section of
 * BENCHMARKS.md.
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/configuration/run.ts
 *
 * Environment: BENCH_RUNS (whole runs; the table shows the medians of their
 * percentiles, default 5), BENCH_READS (cached read samples, default 20000),
 * BENCH_UNCACHED_READS (default 300), BENCH_WATCHERS (default 1000),
 * BENCH_ROUNDS (default 20), BENCH_SQLITE_POLL_MS (default 50),
 * BENCH_ORCHESTRATOR_POLL_MS (default 250, the backend's default),
 * BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432),
 * BENCH_WRITE=0 (print only, leave BENCHMARKS.md alone).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import knexFactory, { Knex } from 'knex';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ConfigReader } from '@backstage/config';
import {
  ConfigurationEntry,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { readPluginLifecycleConfig } from '../../plugins/plugin-lifecycle-backend/src/config';
import { applyDatabaseMigrations } from '../../plugins/plugin-lifecycle-backend/src/database/migrations';
import { PluginStore } from '../../plugins/plugin-lifecycle-backend/src/database/PluginStore';
import { ConfigurationManager } from '../../plugins/plugin-lifecycle-backend/src/engines/configuration/ConfigurationManager';
import { ExternalRuntime } from '../../plugins/plugin-lifecycle-backend/src/engines/runtime/ExternalRuntime';
import { RuntimeRegistry } from '../../plugins/plugin-lifecycle-backend/src/engines/runtime/RuntimeRegistry';
import { PluginLifecycleOrchestrationSystem } from '../../plugins/plugin-lifecycle-backend/src/system/PluginLifecycleOrchestrationSystem';
import { createOrchestrationSystem } from '../../plugins/plugin-lifecycle-backend/src/wiring/createOrchestrationSystem';
import { writeBenchmarks } from '../lib/benchmarksFile';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const READS = Number(process.env.BENCH_READS ?? 20_000);
const UNCACHED_READS = Number(process.env.BENCH_UNCACHED_READS ?? 300);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const SQLITE_POLL_MS = Number(process.env.BENCH_SQLITE_POLL_MS ?? 50);
/** PostgreSQL replicas learn of changes by NOTIFY; polling is the fallback. */
const POSTGRES_POLL_MS = 1_000;
/** The orchestrator's own polling runs meanwhile, as in a backend (its default). */
const ORCHESTRATOR_POLL_MS = Number(
  process.env.BENCH_ORCHESTRATOR_POLL_MS ?? 250,
);
const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const PLUGIN_ID = 'bench-config';
const ENVIRONMENT = 'production';
const DELIVERY_TIMEOUT_MS = 15_000;

type DatabaseKind = 'SQLite' | 'PostgreSQL';

interface Stats {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

interface Row {
  database: DatabaseKind;
  measure: string;
  unit: 'µs' | 'ms';
  stats: Stats;
  note?: string;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[
      Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
    ];
  return {
    samples: sorted.length,
    p50: at(50),
    p99: at(99),
    max: sorted[sorted.length - 1],
  };
}

const logger: LoggerService = {
  error: (message: string) => console.error(`[error] ${message}`),
  warn: (message: string) => console.error(`[warn] ${message}`),
  info: () => {},
  debug: () => {},
  child: () => logger,
};

/** ~50 effective entries, 5 of them secrets: 35 in base, 20 in production (5 overriding base). */
function baseEntries(): ConfigurationEntry[] {
  const entries: ConfigurationEntry[] = [];
  for (let i = 0; i < 33; i++) {
    const kind = i % 4;
    entries.push(
      kind === 0
        ? { key: `service.option${i}`, value: `value-${i}`, type: 'string' }
        : kind === 1
        ? { key: `service.limit${i}`, value: i * 10, type: 'number' }
        : kind === 2
        ? { key: `feature.flag${i}`, value: i % 3 === 0, type: 'boolean' }
        : {
            key: `service.settings${i}`,
            value: { retries: i, backoff: [100, 200, 400], tags: ['a', 'b'] },
            type: 'json',
          },
    );
  }
  entries.push(
    {
      key: 'database.password',
      value: randomBytes(18).toString('base64'),
      type: 'secret',
    },
    {
      key: 'api.token',
      value: randomBytes(24).toString('hex'),
      type: 'secret',
    },
  );
  return entries;
}

function productionEntries(round: number): ConfigurationEntry[] {
  const entries: ConfigurationEntry[] = [
    // overrides of base keys
    { key: 'service.option0', value: 'prod-value', type: 'string' },
    { key: 'service.limit1', value: 1000 + round, type: 'number' },
    { key: 'feature.flag2', value: true, type: 'boolean' },
    { key: 'service.settings3', value: { retries: 5, round }, type: 'json' },
    { key: 'service.option4', value: `prod-${round}`, type: 'string' },
  ];
  for (let i = 0; i < 12; i++) {
    entries.push({
      key: `production.option${i}`,
      value: i % 2 ? `prod-option-${i}` : i,
      type: i % 2 ? 'string' : 'number',
    });
  }
  entries.push(
    {
      key: 'production.dbPassword',
      value: `db-${round}-secret`,
      type: 'secret',
    },
    { key: 'production.signingKey', value: 'k'.repeat(44), type: 'secret' },
    { key: 'production.webhookSecret', value: 'w'.repeat(32), type: 'secret' },
  );
  return entries;
}

interface Replicas {
  a: PluginLifecycleOrchestrationSystem;
  b: PluginLifecycleOrchestrationSystem;
  /** Replica A's knex pool. */
  db: Knex;
  close(): Promise<void>;
}

async function startReplicas(kind: DatabaseKind): Promise<Replicas> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-config-bench-'));
  const dbName = `bench_config_${process.pid}`;
  const knexes: Knex[] = [];
  const openKnex = () => {
    const db =
      kind === 'PostgreSQL'
        ? knexFactory({
            client: 'pg',
            connection: `${POSTGRES_URL}/${dbName}`,
            pool: { min: 0, max: 10 },
          })
        : knexFactory({
            client: 'better-sqlite3',
            connection: { filename: path.join(dataDir, 'config.sqlite') },
            useNullAsDefault: true,
          });
    knexes.push(db);
    return db;
  };
  if (kind === 'PostgreSQL') {
    const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
    await admin.raw(`DROP DATABASE IF EXISTS "${dbName}"`);
    await admin.raw(`CREATE DATABASE "${dbName}"`);
    await admin.destroy();
  }
  const systems: PluginLifecycleOrchestrationSystem[] = [];
  const close = async () => {
    for (const system of systems) await system.shutdown().catch(() => {});
    for (const db of knexes) await db.destroy().catch(() => {});
    if (kind === 'PostgreSQL') {
      const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
      await admin
        .raw(`DROP DATABASE IF EXISTS "${dbName}"`)
        .catch(error => logger.warn(`dropping ${dbName}: ${error}`));
      await admin.destroy();
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const first = openKnex();
    await applyDatabaseMigrations({ getClient: async () => first } as any);
    const config = readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle: {
          dataDir,
          defaultRuntime: 'external',
          orchestrator: { pollInterval: ORCHESTRATOR_POLL_MS },
          configuration: {
            watchPollInterval:
              kind === 'SQLite' ? SQLITE_POLL_MS : POSTGRES_POLL_MS,
            encryption: {
              keys: [
                { id: 'bench-1', secret: randomBytes(32).toString('base64') },
              ],
            },
          },
        },
      }),
    );
    for (const [name, db] of [
      ['a', first],
      ['b', openKnex()],
    ] as const) {
      systems.push(
        await createOrchestrationSystem({
          logger,
          db,
          config,
          runtimes: RuntimeRegistry.create([ExternalRuntime.create()]),
          replicaId: `bench-replica-${name}`,
        }),
      );
    }
    const [a, b] = systems;
    const accepted = await a.installPlugin(PLUGIN_ID, '1.0.0', {
      environment: ENVIRONMENT,
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: 9, protocol: 'http' }],
      },
    });
    const operation = await a.waitForOperation(accepted.operationId);
    if (operation.status !== 'succeeded') {
      throw new Error(
        `install ${operation.status}: ${JSON.stringify(operation)}`,
      );
    }
    const manager = a.getPluginConfigurationManager();
    await manager.setPluginConfiguration(PLUGIN_ID, baseEntries(), {
      environment: 'base',
    });
    await manager.setPluginConfiguration(PLUGIN_ID, productionEntries(0), {
      environment: ENVIRONMENT,
    });
    return { a, b, db: first, close };
  } catch (error) {
    await close();
    throw error;
  }
}

const micros = (from: number) => (performance.now() - from) * 1000;

async function measureReads(
  kind: DatabaseKind,
  manager: ConfigurationManager,
  db: Knex,
): Promise<Row[]> {
  const effective = await manager.getEffectiveConfiguration(
    PLUGIN_ID,
    ENVIRONMENT,
  );
  const secrets = effective.entries.filter(e => e.type === 'secret').length;
  if (effective.entries.length !== 50 || secrets !== 5) {
    throw new Error(
      `expected 50 entries with 5 secrets, got ${effective.entries.length} with ${secrets}`,
    );
  }
  for (let i = 0; i < 500; i++) {
    await manager.getEffectiveConfiguration(PLUGIN_ID, ENVIRONMENT);
  }
  const cached: number[] = [];
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now();
    await manager.getEffectiveConfiguration(PLUGIN_ID, ENVIRONMENT);
    cached.push(micros(t0));
  }
  const resolved: number[] = [];
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now();
    await manager.resolve(PLUGIN_ID, ENVIRONMENT);
    resolved.push(micros(t0));
  }
  // The part of a cached read that is not cached: the plugin lookup.
  const plugins = PluginStore.create({ db });
  const lookups: number[] = [];
  for (let i = 0; i < READS; i++) {
    const t0 = performance.now();
    await plugins.get(PLUGIN_ID);
    lookups.push(micros(t0));
  }
  const uncached: number[] = [];
  for (let i = 1; i <= UNCACHED_READS; i++) {
    // A write on this replica drops the cached entry at once.
    await manager.setPluginConfiguration(PLUGIN_ID, productionEntries(i), {
      environment: ENVIRONMENT,
    });
    const t0 = performance.now();
    const read = await manager.getEffectiveConfiguration(
      PLUGIN_ID,
      ENVIRONMENT,
    );
    uncached.push(micros(t0));
    if (!read.entries.some(e => e.value === `prod-${i}`)) {
      throw new Error('an uncached read returned an old configuration');
    }
  }
  return [
    {
      database: kind,
      measure: 'getEffectiveConfiguration, cached',
      unit: 'µs',
      stats: stats(cached),
      note: 'plugin ref cache hit + tenant check + cached resolve + masking',
    },
    {
      database: kind,
      measure: 'resolve, cached (what instances get)',
      unit: 'µs',
      stats: stats(resolved),
    },
    {
      database: kind,
      measure: 'plugin lookup alone (PluginStore.get)',
      unit: 'µs',
      stats: stats(lookups),
      note: 'for comparison: the query the plugin ref cache saves',
    },
    {
      database: kind,
      measure: 'getEffectiveConfiguration, first read after a change',
      unit: 'µs',
      stats: stats(uncached),
      note: '2 layer queries + 5 secrets opened (plugin ref cached)',
    },
  ];
}

/**
 * WATCHERS callbacks on `watched`; ROUNDS changes written on `writer`. Each
 * latency: from just before the write call to one callback.
 */
async function measureDelivery(
  watched: ConfigurationManager,
  writer: ConfigurationManager,
  startRound: number,
): Promise<number[]> {
  let round:
    | {
        t0: number;
        seen: Array<{ t: number; revision: number }>;
        done: () => void;
      }
    | undefined;
  const unwatch: Array<() => void> = [];
  for (let i = 0; i < WATCHERS; i++) {
    unwatch.push(
      watched.watchConfiguration(
        PLUGIN_ID,
        ENVIRONMENT,
        undefined,
        (configuration: EffectiveConfiguration) => {
          if (!round) throw new Error('a change outside a round');
          round.seen.push({
            t: performance.now(),
            revision: configuration.revision,
          });
          if (round.seen.length === WATCHERS) round.done();
        },
      ),
    );
  }
  // Let the watchers take the current revision as their starting point.
  await new Promise(r => setTimeout(r, 100));
  const latencies: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      let done!: () => void;
      const delivered = new Promise<void>(resolve => (done = resolve));
      const entries = productionEntries(startRound + r);
      const t0 = performance.now();
      round = { t0, seen: [], done };
      const written = await writer.setPluginConfiguration(PLUGIN_ID, entries, {
        environment: ENVIRONMENT,
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        delivered,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `round ${r}: ${
                    round!.seen.length
                  } of ${WATCHERS} watchers called within ${DELIVERY_TIMEOUT_MS} ms`,
                ),
              ),
            DELIVERY_TIMEOUT_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      for (const s of round.seen) {
        if (s.revision !== written.version.revision) {
          throw new Error(
            `round ${r}: a watcher got revision ${s.revision}, not ${written.version.revision}`,
          );
        }
        latencies.push(s.t - t0);
      }
      round = undefined;
      // Apart, so that rounds do not overlap.
      await new Promise(res => setTimeout(res, 30));
    }
  } finally {
    unwatch.forEach(u => u());
  }
  return latencies;
}

async function runDatabase(kind: DatabaseKind): Promise<Row[]> {
  const replicas = await startReplicas(kind);
  try {
    const a = replicas.a.getPluginConfigurationManager();
    const b = replicas.b.getPluginConfigurationManager();
    process.stdout.write(`${kind}: reads ... `);
    const rows = await measureReads(kind, a, replicas.db);
    process.stdout.write(`same-replica delivery ... `);
    const same = await measureDelivery(a, a, 10_000);
    process.stdout.write(`cross-replica delivery ... `);
    const cross = await measureDelivery(a, b, 20_000);
    console.log('done');
    rows.push(
      {
        database: kind,
        measure: `change to ${WATCHERS} watchers, same replica`,
        unit: 'ms',
        stats: stats(same),
        note: 'write + 1 resolve + callbacks',
      },
      {
        database: kind,
        measure: `change to ${WATCHERS} watchers, other replica`,
        unit: 'ms',
        stats: stats(cross),
        note:
          kind === 'PostgreSQL'
            ? `NOTIFY (poll fallback ${POSTGRES_POLL_MS} ms)`
            : `polling every ${SQLITE_POLL_MS} ms (no NOTIFY on SQLite)`,
      },
    );
    return rows;
  } finally {
    await replicas.close();
  }
}

function format(value: number, unit: 'µs' | 'ms') {
  return unit === 'µs' ? value.toFixed(0) : value.toFixed(1);
}

/** One measure over every run: medians of the runs' percentiles. */
interface Combined {
  database: DatabaseKind;
  measure: string;
  unit: 'µs' | 'ms';
  note?: string;
  samples: number;
  p50: number;
  p99: number;
  max: number;
  p99s: number[];
}

function median(values: number[]) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function combine(runs: Row[][]): Combined[] {
  return runs[0].map((first, i) => {
    const all = runs.map(rows => rows[i].stats);
    return {
      database: first.database,
      measure: first.measure,
      unit: first.unit,
      note: first.note,
      samples: all.reduce((n, s) => n + s.samples, 0),
      p50: median(all.map(s => s.p50)),
      p99: median(all.map(s => s.p99)),
      max: Math.max(...all.map(s => s.max)),
      p99s: all.map(s => s.p99),
    };
  });
}

function table(rows: Combined[]) {
  const lines = [
    '| database | measure | samples | p50 | p99 | p99 of each run | max | note |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const f = (v: number) => `${format(v, r.unit)} ${r.unit}`;
    lines.push(
      `| ${r.database} | ${r.measure} | ${r.samples} | ${f(r.p50)} | ${f(
        r.p99,
      )} | ${r.p99s.map(v => format(v, r.unit)).join(' / ')} | ${f(r.max)} | ${
        r.note ?? ''
      } |`,
    );
  }
  return lines.join('\n');
}

function verdict(rows: Combined[]) {
  const cached = rows.filter(
    r => r.measure === 'getEffectiveConfiguration, cached',
  );
  const delivery = rows.filter(r => r.measure.startsWith('change to'));
  const list = (rs: Combined[], unit: string) =>
    rs
      .map(
        r =>
          `${r.database} ${r.measure.replace(/.*, /, '')} ${format(
            r.p99,
            r.unit,
          )} ${unit}`,
      )
      .join('; ');
  return [
    `Targets: cached read p99 < 1 ms (${
      cached.every(r => r.p99 < 1000) ? 'met' : 'NOT met'
    }: ${list(cached, 'µs')}); delivery p99 < 100 ms (${
      delivery.every(r => r.p99 < 100) ? 'met' : 'NOT met'
    }: ${list(delivery, 'ms')}).`,
  ].join('\n');
}

async function main() {
  const loadAtStart = os.loadavg()[0];
  const runs: Row[][] = [];
  for (let run = 1; run <= RUNS; run++) {
    const rows: Row[] = [];
    for (const kind of ['SQLite', 'PostgreSQL'] as const) {
      process.stdout.write(`run ${run}/${RUNS}, `);
      rows.push(...(await runDatabase(kind)));
    }
    runs.push(rows);
  }
  const rows = combine(runs);
  const command =
    'cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/configuration/run.ts';
  const body = [
    '## Configuration manager',
    '',
    `bench/configuration/run.ts. Two replicas (two PluginLifecycleOrchestrationSystem instances, each with its own`,
    `knex pool, in one process) on one database: a SQLite file, or a fresh PostgreSQL database created and dropped.`,
    `One plugin with a realistic configuration: 50 effective entries (35 in base, 20 in production of which 5`,
    `override base), 5 of them secrets sealed with AES-256-GCM.`,
    '',
    `- Reads: ${READS} cached reads of \`getEffectiveConfiguration(pluginId, 'production')\` (which looks the plugin`,
    `  up in the database, as the HTTP route does, then takes the cached resolution and masks secrets), the same`,
    `  number of bare \`resolve()\` calls, and ${UNCACHED_READS} first reads after a change written on the same replica.`,
    `- Delivery: ${WATCHERS} \`watchConfiguration\` callbacks on replica A; ${ROUNDS} changes of the production layer`,
    `  written on replica A itself (same replica) or on replica B (other replica); latency from just before the`,
    `  write call to each callback, so it includes the write itself. On SQLite the other replica polls every`,
    `  ${SQLITE_POLL_MS} ms; on PostgreSQL it is woken by NOTIFY (its poll, every ${POSTGRES_POLL_MS} ms, is only a fallback).`,
    '',
    `Each figure is the median over ${RUNS} runs of that run's percentile (p50, p99); max is the worst sample of any run.`,
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${os.cpus().length} cores (${
      os.cpus()[0]?.model.trim() ?? 'unknown CPU'
    }), PostgreSQL at ${new URL(POSTGRES_URL).host}. Command:`,
    '',
    `    ${command}`,
    '',
    `The machine is shared: its 1-minute load average was ${loadAtStart.toFixed(
      1,
    )} at the start and ${os
      .loadavg()[0]
      .toFixed(
        1,
      )} at the end; tails (p99, max) include time spent waiting for a core.`,
    '',
    table(rows),
    '',
    verdict(rows),
    '',
    `A cached \`getEffectiveConfiguration\` makes no database query: the plugin's id and tenant are kept for`,
    `5 s (dropped on any state change of the plugin) and checked against the caller's tenants on every read,`,
    `and the resolved configuration is cached until a layer changes. The delivery figures include the write`,
    `(validation, sealing, insert, pruning).`,
  ].join('\n');
  console.log(`\n${table(rows)}\n\n${verdict(rows)}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('configuration', body);
}

main().then(
  () => process.exit(0),
  error => {
    console.error(error);
    process.exit(1);
  },
);
