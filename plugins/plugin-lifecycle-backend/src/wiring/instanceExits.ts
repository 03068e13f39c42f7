import { LoggerService } from '@backstage/backend-plugin-api';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { CrashRestarter } from '../engines/lifecycle/CrashRestarter';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { SystemEvents } from '../events/SystemEvents';

/**
 * Hears every runtime's instance exits: each is told to everyone, and one
 * that was not asked for goes to the restart policy.
 *
 * @returns what stops hearing them.
 */
export function followInstanceExits(options: {
  runtimes: RuntimeRegistry;
  events: SystemEvents;
  crashRestarter: CrashRestarter;
  logger: LoggerService;
}): () => void {
  const { events, crashRestarter, logger } = options;
  const onExit = async (exit: RuntimeInstanceExit) => {
    events.publish('runtime', 'instanceExited', exit);
    if (exit.expected) return;
    await crashRestarter.onUnexpectedExit(exit);
  };
  const unsubscribe = options.runtimes.all().map(runtime =>
    runtime.onInstanceExit(exit => {
      onExit(exit).catch(error =>
        logger.error(
          `handling the exit of ${exit.instanceId} failed: ${error}`,
        ),
      );
    }),
  );
  return () => unsubscribe.forEach(u => u());
}
