import fs from 'node:fs/promises';
import path from 'node:path';
import { canEnter, ProcessIdentity } from './processIdentity';

/**
 * The files of one plugin under the process runtime's data directory:
 *
 * - `<dataDir>/<pluginId>/` (0700, owned by the plugin's user): its versions
 *   `<version>/`, its `.run/` with the configuration file of each instance
 *   (0600), and `.home/`, its HOME and npm cache;
 * - `<dataDir>` itself is 0711 when plugins run as their own users: each can
 *   pass through to its directory but list nobody else's.
 *
 * With no identity (isolation mode `none`), the same layout belongs to the
 * backend's user.
 *
 * @internal
 */
export class PluginFiles {
  readonly #dataDir: string;

  private constructor(dataDir: string) {
    this.#dataDir = dataDir;
  }

  static create(options: { dataDir: string }): PluginFiles {
    return new PluginFiles(path.resolve(options.dataDir));
  }

  pluginDir(pluginId: string): string {
    return path.join(this.#dataDir, pluginId);
  }

  versionDir(pluginId: string, version: string): string {
    return path.join(this.#dataDir, pluginId, version);
  }

  homeDir(pluginId: string): string {
    return path.join(this.#dataDir, pluginId, '.home');
  }

  configFile(pluginId: string, instanceId: string): string {
    return path.join(
      this.#dataDir,
      pluginId,
      '.run',
      `${instanceId}.config.json`,
    );
  }

  /**
   * Creates the plugin's directories (or corrects their owner and modes)
   * and, for a plugin user, checks that it can reach them.
   */
  async prepare(pluginId: string, identity?: ProcessIdentity): Promise<void> {
    await fs.mkdir(this.#dataDir, { recursive: true });
    if (identity) await fs.chmod(this.#dataDir, 0o711);
    const dir = this.pluginDir(pluginId);
    for (const d of [dir, path.join(dir, '.run'), this.homeDir(pluginId)]) {
      await fs.mkdir(d, { recursive: true, mode: 0o700 });
      await this.#own(d, identity, 0o700);
    }
    if (identity && !(await canEnter(identity, dir))) {
      throw new Error(
        `user '${identity.user}' cannot reach ${dir}: every directory above ${
          this.#dataDir
        } must be searchable by other users (mode o+x)`,
      );
    }
  }

  /** Hands everything under `dir` (the directory included) to the user. */
  async handOver(dir: string, identity?: ProcessIdentity): Promise<void> {
    if (!identity) return;
    await fs.lchown(dir, identity.uid, identity.gid);
    for (const entry of await fs.readdir(dir, {
      recursive: true,
      withFileTypes: true,
    })) {
      await fs.lchown(
        path.join(entry.parentPath, entry.name),
        identity.uid,
        identity.gid,
      );
    }
    await fs.chmod(dir, 0o700);
  }

  /**
   * Writes an instance's configuration, readable by the plugin's user only;
   * written whole then renamed, so a reader never sees half a file.
   */
  async writeConfig(
    pluginId: string,
    instanceId: string,
    document: string,
    identity?: ProcessIdentity,
  ): Promise<string> {
    await this.prepare(pluginId, identity);
    const file = this.configFile(pluginId, instanceId);
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, document, { mode: 0o600 });
    await this.#own(tmp, identity, 0o600);
    await fs.rename(tmp, file);
    return file;
  }

  /**
   * Removes what is left of a plugin once its last version is gone: its
   * npm cache, and its directory if nothing else is in it.
   */
  async removeIfUnused(pluginId: string): Promise<void> {
    const dir = this.pluginDir(pluginId);
    const entries = await fs.readdir(dir).catch(() => undefined);
    if (!entries || entries.some(e => !e.startsWith('.'))) return;
    await fs.rm(this.homeDir(pluginId), { recursive: true, force: true });
    await fs.rmdir(path.join(dir, '.run')).catch(() => {});
    await fs.rmdir(dir).catch(() => {});
  }

  async #own(
    file: string,
    identity: ProcessIdentity | undefined,
    mode: number,
  ) {
    if (identity) await fs.chown(file, identity.uid, identity.gid);
    await fs.chmod(file, mode);
  }
}
