/*
 * One replica of the orchestrator benchmark: the real Orchestrator and
 * OperationStore on a shared database, with a handler that does no work.
 * Runs until stdin ends, then writes the ids it ran to <out.json>.
 *
 *   node --require @backstage/cli/config/nodeTransform.cjs queueWorker.ts <replicaId> <knex-json> <concurrency> <out.json>
 */
import fs from 'node:fs';
import knexFactory from 'knex';
import { createNoopOrchestrator } from './noopOrchestrator';

const [replicaId, knexJson, concurrency, outFile] = process.argv.slice(2);
const db = knexFactory(JSON.parse(knexJson));
const ran: string[] = [];
const orchestrator = createNoopOrchestrator({
  db,
  replicaId,
  concurrency: Number(concurrency),
  ran,
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
