/*
 * Load balancing benchmark: what one pick costs per strategy at 1,000
 * instances, through LoadBalancer.pick as the proxy will call it. Prints a
 * table and writes it into BENCHMARKS.md (its own section only).
 *
 *   bash scripts/toolchain.sh node --require @backstage/cli/config/nodeTransform.cjs bench/loadBalancing/run.ts
 *
 * or, with the toolchain already on PATH, from plugins/plugin-lifecycle-backend:
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs ../../bench/loadBalancing/run.ts
 *
 * Environment: BENCH_INSTANCES (default 1000), BENCH_BATCHES (timed batches
 * per strategy, default 100), BENCH_BATCH_SIZE (picks per batch, default
 * 100000), BENCH_WRITE=0 to only print.
 */
import os from 'node:os';
import {
  BalancedInstance,
  ClientInfo,
  LOAD_BALANCING_STRATEGIES,
  LoadBalancer,
  LoadBalancingStrategy,
} from '../../plugins/plugin-lifecycle-backend/src/domain/loadBalancing';
import { writeBenchmarks } from '../lib/benchmarksFile';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1000);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 100);
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE ?? 100_000);
const WARMUP_BATCHES = 10;
const TARGET_NS = 1000;

/** Park–Miller, so every run benchmarks the same instances and clients. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

/**
 * A realistic fleet: mixed weights, live connection counts, most instances
 * healthy and a fifth degraded to some score, 2% not ready and 1% ejected.
 */
function fleet(distinctHealth: boolean): BalancedInstance[] {
  const next = random(42);
  const weights = [1, 1, 2, 2, 3, 5, 8, 10];
  return Array.from({ length: INSTANCES }, (_, i) => {
    const roll = next();
    return {
      id: `instance-${String(i).padStart(4, '0')}`,
      weight: weights[Math.floor(next() * weights.length)],
      activeConnections: Math.floor(next() * 50),
      maxConnections: 10_000,
      healthScore: distinctHealth || next() < 0.2 ? 0.05 + 0.95 * next() : 1,
      ready: roll >= 0.02,
      ejectedUntil: roll >= 0.02 && roll < 0.03 ? Infinity : undefined,
    };
  });
}

/** Client addresses as a proxy sees them: 90% IPv4 (some IPv4-mapped), 10% IPv6. */
function clients(count: number): ClientInfo[] {
  const next = random(7);
  const byte = () => Math.floor(next() * 256);
  const hextet = () => Math.floor(next() * 65536).toString(16);
  return Array.from({ length: count }, (_, i) => {
    if (i % 10 === 9) {
      return { ip: `2001:db8:${hextet()}:${hextet()}::${hextet()}` };
    }
    const v4 = `${1 + Math.floor(next() * 222)}.${byte()}.${byte()}.${byte()}`;
    return { ip: i % 10 === 8 ? `::ffff:${v4}` : v4 };
  });
}

interface Row {
  name: string;
  median: number;
  p99: number;
  picks: number;
  /** The first pick, which builds the strategy's state (the ring for ip-hash). */
  firstPickMs?: number;
}

function percentile(sorted: number[], p: number) {
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

function measure(
  name: string,
  strategy: LoadBalancingStrategy,
  instances: BalancedInstance[],
  clientPool: ClientInfo[],
): Row {
  const lb = LoadBalancer.create();
  lb.setInstances('bench', instances);
  // One fixed time, as if the proxy read its clock once per batch: reading
  // the clock is the caller's cost, not the balancer's.
  const now = Date.now();
  const mask = clientPool.length - 1; // a power of two
  const first = process.hrtime.bigint();
  let sink = lb.pick('bench', strategy, clientPool[0], now)!.instance.weight;
  const firstPickMs = Number(process.hrtime.bigint() - first) / 1e6;
  const perPick: number[] = [];
  for (let batch = 0; batch < WARMUP_BATCHES + BATCHES; batch++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < BATCH_SIZE; k++) {
      const result = lb.pick('bench', strategy, clientPool[k & mask], now);
      if (result !== undefined) sink += result.instance.weight;
    }
    const ns = Number(process.hrtime.bigint() - start);
    if (batch >= WARMUP_BATCHES) perPick.push(ns / BATCH_SIZE);
  }
  if (sink === 0) throw new Error('no instance was picked');
  perPick.sort((a, b) => a - b);
  return {
    name,
    median: percentile(perPick, 50),
    p99: percentile(perPick, 99),
    picks: BATCHES * BATCH_SIZE,
    firstPickMs,
  };
}

/**
 * A request's whole cycle under least-connections: pick, then report the
 * connection opened and, later, closed, as the proxy will.
 */
function measureCycle(instances: BalancedInstance[]): Row {
  const lb = LoadBalancer.create();
  lb.setInstances('bench', instances);
  const now = Date.now();
  const open: string[] = [];
  const perCycle: number[] = [];
  const batchSize = Math.max(1, Math.floor(BATCH_SIZE / 10));
  for (let batch = 0; batch < WARMUP_BATCHES + BATCHES; batch++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < batchSize; k++) {
      const { instance } = lb.pick('bench', 'least-connections', {}, now)!;
      lb.updateInstance('bench', instance.id, {
        activeConnections: instance.activeConnections + 1,
      });
      open.push(instance.id);
      if (open.length > 64) {
        const id = open.shift()!;
        const current = lb.getInstance('bench', id)!;
        lb.updateInstance('bench', id, {
          activeConnections: current.activeConnections - 1,
        });
      }
    }
    const ns = Number(process.hrtime.bigint() - start);
    if (batch >= WARMUP_BATCHES) perCycle.push(ns / batchSize);
  }
  perCycle.sort((a, b) => a - b);
  return {
    name: 'least-connections: pick + open + close',
    median: percentile(perCycle, 50),
    p99: percentile(perCycle, 99),
    picks: BATCHES * batchSize,
  };
}

function table(rows: Row[], unit: 'pick' | 'cycle') {
  const picks = unit === 'pick';
  const lines = [
    `| strategy | median ns/${unit} | p99 ns/${unit} | ${unit}s timed |${
      picks
        ? ' first pick, building the state (ms) | target: median ≤ 1,000 ns |'
        : ''
    }`,
    `| --- | ---: | ---: | ---: |${picks ? ' ---: | :---: |' : ''}`,
  ];
  for (const r of rows) {
    const extra = picks
      ? ` ${r.firstPickMs!.toFixed(1)} | ${
          r.median <= TARGET_NS ? 'met' : 'MISSED'
        } |`
      : '';
    lines.push(
      `| ${r.name} | ${r.median.toFixed(0)} | ${r.p99.toFixed(
        0,
      )} | ${r.picks.toLocaleString('en-US')} |${extra}`,
    );
  }
  return lines.join('\n');
}

const loadAverage = () => os.loadavg()[0].toFixed(1);

function main() {
  const loadBefore = loadAverage();
  const realistic = fleet(false);
  const clientPool = clients(65_536);
  const rows: Row[] = [];
  for (const strategy of LOAD_BALANCING_STRATEGIES) {
    process.stdout.write(`${strategy} ... `);
    const row = measure(strategy, strategy, realistic, clientPool);
    console.log(`median ${row.median.toFixed(0)} ns/pick`);
    rows.push(row);
  }
  process.stdout.write('health-weighted, every score distinct ... ');
  const distinct = measure(
    'health-weighted, every health score distinct',
    'health-weighted',
    fleet(true),
    clientPool,
  );
  console.log(`median ${distinct.median.toFixed(0)} ns/pick`);
  rows.push(distinct);
  process.stdout.write('least-connections cycle ... ');
  const cycle = measureCycle(realistic);
  console.log(`median ${cycle.median.toFixed(0)} ns/cycle`);

  const cpus = os.cpus();
  const body = [
    '## Load balancing (bench/loadBalancing)',
    '',
    `The cost of one \`LoadBalancer.pick\` per strategy, for one service of ${INSTANCES} instances: weights 1 to 10, connection`,
    'counts 0 to 49, a fifth of the instances with a health score below 1, 2% not ready and 1% ejected. ip-hash hashes',
    '65,536 client addresses in turn (90% IPv4, a tenth of them IPv4-mapped, 10% IPv6); the other strategies ignore',
    `the client. ${BATCHES} timed batches of ${BATCH_SIZE.toLocaleString(
      'en-US',
    )} picks per strategy after ${WARMUP_BATCHES} warm-up batches, each timed with`,
    '`process.hrtime.bigint()`; median and p99 are over the per-batch averages. The time passed to `pick` is read once,',
    'outside the timing. The health-weighted strategy is measured again with every instance at a different health score,',
    'its worst case.',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${cpus.length} cores (${
      cpus[0]?.model.trim() ?? 'unknown CPU'
    }). Command (from the repository root;`,
    '`bash scripts/toolchain.sh` in front does the same after checking the toolchain and dependencies):',
    '',
    '    node --require @backstage/cli/config/nodeTransform.cjs bench/loadBalancing/run.ts',
    '',
    `The machine is shared: its 1-minute load average was ${loadBefore} at the start and ${loadAverage()} at the end, and`,
    'with more runnable processes than cores the per-batch times include time spent waiting for a core.',
    '',
    table(rows, 'pick'),
    '',
    'A request’s whole cycle under least-connections, as the proxy will drive it: `pick`, `updateInstance` with the',
    'connection count + 1, and `getInstance` + `updateInstance` with the count − 1 for the request 64 before it:',
    '',
    table([cycle], 'cycle'),
  ].join('\n');
  console.log(`\n${table(rows, 'pick')}\n\n${table([cycle], 'cycle')}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('loadBalancing', body);
}

main();
