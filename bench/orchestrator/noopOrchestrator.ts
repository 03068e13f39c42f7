import { Knex } from 'knex';
import { OperationStore } from '../../plugins/plugin-lifecycle-backend/src/database/OperationStore';
import { Orchestrator } from '../../plugins/plugin-lifecycle-backend/src/engines/orchestrator/Orchestrator';
import { SystemEvents } from '../../plugins/plugin-lifecycle-backend/src/events/SystemEvents';

const quiet = {
  info() {},
  warn() {},
  debug() {},
  error: console.error,
  child: () => quiet,
} as any;

/**
 * The real Orchestrator on `db` whose only handler (for `start`) does no
 * work but note the operation id in `ran`.
 */
export function createNoopOrchestrator(options: {
  db: Knex;
  replicaId: string;
  concurrency: number;
  ran: string[];
}) {
  return Orchestrator.create({
    logger: quiet,
    operations: OperationStore.create({ db: options.db }),
    events: new SystemEvents(),
    handlers: {
      start: async op => {
        options.ran.push(op.id);
        return {};
      },
    },
    replicaId: options.replicaId,
    maxConcurrentOperations: options.concurrency,
    leaseMs: 15_000,
    pollIntervalMs: 10,
    retry: { baseMs: 100, maxMs: 1000 },
  });
}
