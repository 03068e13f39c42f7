import { LoggerService } from '@backstage/backend-plugin-api';
import { SystemEvents } from '../../events/SystemEvents';
import { sealContext } from './ConfigSealer';
import { ConfigStore, StoredConfigEntry } from '../../database/ConfigStore';
import {
  SEALED_FORMAT,
  SealedSecret,
  sealedFormat,
  SecretKeyRing,
} from './SecretKeyRing';

/**
 * Scheduled upkeep of stored secrets, run by one replica at a time:
 * re-seals secrets still sealed with a key other than the active one (key
 * rotation, without ever writing plaintext), and announces secret values
 * whose rotation date passed (once per value and date).
 */
export class ConfigMaintenance {
  readonly #store: ConfigStore;
  readonly #keyRing: SecretKeyRing;
  readonly #events: SystemEvents;
  readonly #logger: LoggerService;

  constructor(options: {
    store: ConfigStore;
    keyRing: SecretKeyRing;
    events: SystemEvents;
    logger: LoggerService;
  }) {
    this.#store = options.store;
    this.#keyRing = options.keyRing;
    this.#events = options.events;
    this.#logger = options.logger;
  }

  async run(now = new Date()): Promise<{ resealed: number; due: number }> {
    const resealed = await this.reseal();
    const due = await this.announceDueRotations(now);
    return { resealed, due };
  }

  /** Re-seals every stored secret with the active key; returns the versions changed. */
  async reseal(): Promise<number> {
    const active = this.#keyRing.activeKeyId;
    if (!active) return 0;
    let count = 0;
    for (;;) {
      const batch = await this.#store.listSealedWithOtherKeys(active, 100);
      if (batch.length === 0) return count;
      let progressed = false;
      for (const version of batch) {
        const entries: StoredConfigEntry[] = version.entries.map(entry =>
          SecretKeyRing.isSealed(entry.value)
            ? {
                ...entry,
                value: this.#keyRing.rewrap(
                  entry.value as SealedSecret,
                  sealContext(
                    version.pluginId,
                    version.layer,
                    entry,
                    sealedFormat(entry.value as SealedSecret),
                  ),
                  sealContext(
                    version.pluginId,
                    version.layer,
                    entry,
                    SEALED_FORMAT,
                  ),
                ),
              }
            : entry,
        );
        const keyIds = entries
          .filter(e => SecretKeyRing.isSealed(e.value))
          .map(e => (e.value as SealedSecret).kid);
        if (await this.#store.resealed(version, entries, keyIds)) {
          count++;
          progressed = true;
        }
      }
      // Another replica re-sealed the same rows at the same time: done.
      if (!progressed) return count;
    }
  }

  /** Emits `configurationManager:secretRotationDue` once per secret value and due date. */
  async announceDueRotations(now: Date): Promise<number> {
    let due = 0;
    for (const version of await this.#store.latestWithRotationDates()) {
      for (const entry of version.entries) {
        if (!entry.rotateAt || new Date(entry.rotateAt) > now) continue;
        const fresh = await this.#store.markRotationNotified({
          pluginId: version.pluginId,
          layer: version.layer,
          key: entry.key,
          dueAt: entry.rotateAt,
        });
        if (!fresh) continue;
        due++;
        this.#logger.info(
          `secret '${entry.key}' of ${version.pluginId} (${version.layer}) was due for rotation at ${entry.rotateAt}`,
        );
        this.#events.publish('configurationManager', 'secretRotationDue', {
          pluginId: version.pluginId,
          layer: version.layer,
          key: entry.key,
          rotateAt: entry.rotateAt,
          version: version.version,
        });
      }
    }
    return due;
  }
}
