/*
 * One replica of the orchestrator benchmark: the real Orchestrator and
 * OperationStore on a shared database, with a handler that does no work.
 * Runs until stdin ends, then writes the ids it ran to <out.json>.
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs queueWorker.ts <replicaId> <knex-json> <concurrency> <out.json>
 */
import fs from 'node:fs';
import knexFactory from 'knex';
import { OperationStore } from '../../plugins/plugin-lifecycle-backend/src/database/OperationStore';
import { Orchestrator } from '../../plugins/plugin-lifecycle-backend/src/engines/orchestrator/Orchestrator';
import { SystemEvents } from '../../plugins/plugin-lifecycle-backend/src/system/SystemEvents';

const [replicaId, knexJson, concurrency, outFile] = process.argv.slice(2);
const db = knexFactory(JSON.parse(knexJson));
const ran: string[] = [];
const quiet = {
  info() {},
  warn() {},
  debug() {},
  error: console.error,
  child: () => quiet,
} as any;

const orchestrator = Orchestrator.create({
  logger: quiet,
  operations: OperationStore.create({ db }),
  events: new SystemEvents(),
  handlers: {
    start: async op => {
      ran.push(op.id);
      return {};
    },
  },
  replicaId,
  maxConcurrentOperations: Number(concurrency),
  leaseMs: 15_000,
  pollIntervalMs: 10,
  retry: { baseMs: 100, maxMs: 1000 },
});
orchestrator.start();
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  await orchestrator.shutdown();
  await db.destroy();
  fs.writeFileSync(outFile, JSON.stringify(ran));
  process.exit(0);
});
