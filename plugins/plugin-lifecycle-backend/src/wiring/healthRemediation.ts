import { LoggerService } from '@backstage/backend-plugin-api';
import { RemediationAction } from '../domain/health/remediation';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { SERVICE_TARGET_PREFIX } from './HealthDiscoveryBridge';

/** What remediation acts through: the lifecycle commands and discovery. */
export interface RemediationDeps {
  restartPlugin(
    pluginId: string,
    options: {
      userId: string;
      reason: string;
      idempotencyKey: string;
      instanceId: string;
    },
  ): Promise<unknown>;
  markPluginError(
    pluginId: string,
    options: { reason: string; actor: string },
  ): Promise<boolean>;
  discovery: ServiceDiscovery;
  logger: LoggerService;
}

const HEALTH_ACTOR = 'plugin-lifecycle:health';

/**
 * Carries out what the health monitor decided. Restarts go through the
 * orchestrator (an operation, audited, with a per-attempt idempotency key
 * so a repeated decision does not queue twice); rotation changes go to
 * discovery, which every replica follows. A registered service is not run
 * by this backend: it cannot be restarted or put in error, only taken out
 * of rotation.
 */
export async function remediate(
  action: RemediationAction,
  deps: RemediationDeps,
): Promise<void> {
  const external = action.targetId.startsWith(SERVICE_TARGET_PREFIX);
  switch (action.type) {
    case 'restart':
      if (external) {
        await deps.discovery.setInstanceHealth(action.instanceId, {
          ready: false,
        });
        return;
      }
      // Only the failing instance is replaced; the others keep serving.
      await deps.restartPlugin(action.pluginId, {
        userId: HEALTH_ACTOR,
        instanceId: action.instanceId,
        reason: action.reason.slice(0, 1000),
        idempotencyKey: `health-restart:${action.instanceId}:${
          action.attempt ?? 1
        }`,
      });
      return;
    case 'out-of-rotation':
    case 'into-rotation':
      await deps.discovery.setInstanceHealth(action.instanceId, {
        ready: action.type === 'into-rotation',
      });
      return;
    case 'mark-error':
      if (external) {
        await deps.discovery.setInstanceHealth(action.instanceId, {
          ready: false,
        });
        return;
      }
      await deps.markPluginError(action.pluginId, {
        reason: action.reason,
        actor: HEALTH_ACTOR,
      });
      return;
    case 'event':
      // Published by the monitor as healthMonitor:remediation already.
      return;
    default:
      deps.logger.warn(`unknown remediation ${(action as any).type}`);
  }
}
