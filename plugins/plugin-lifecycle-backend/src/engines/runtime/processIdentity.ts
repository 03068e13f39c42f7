import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { LoggerService } from '@backstage/backend-plugin-api';

const execFileAsync = promisify(execFile);

/**
 * How plugin processes are separated from the backend and from each other:
 * each plugin under its own unprivileged user, all plugins under one shared
 * unprivileged user, or (`none`) as the backend's own user.
 *
 * @public
 */
export type ProcessIsolationMode = 'per-plugin-user' | 'shared-user' | 'none';

/**
 * The Unix user a plugin's processes run as.
 *
 * @public
 */
export interface ProcessIdentity {
  user: string;
  uid: number;
  gid: number;
}

/**
 * Where the identity of a process comes from: the plugin's, or the one of
 * registered services' exec probes (which have no plugin to run as).
 *
 * @public
 */
export interface ProcessIdentityResolver {
  /** Undefined when processes run as the backend's user (mode `none`). */
  forPlugin(pluginId: string): Promise<ProcessIdentity | undefined>;
  forServiceProbes(): Promise<ProcessIdentity | undefined>;
}

/** @internal */
export interface ProcessIdentitiesOptions {
  logger: LoggerService;
  /** Default: `per-plugin-user` when the backend runs as root, else `none`. */
  mode?: ProcessIsolationMode;
  /** Prefix of the users derived from plugin ids. Default `pl-`. */
  userPrefix?: string;
  /** The user of every plugin in `shared-user` mode. Default `<prefix>plugins`. */
  sharedUser?: string;
  /** The user of registered services' exec probes. Default `<prefix>probes`. */
  probeUser?: string;
  /** Existing users to run given plugins as, by plugin id; never created. */
  users?: Record<string, string>;
  /** Create a derived user that does not exist yet. Default true. */
  createUsers?: boolean;
  /** The backend's uid; `process.getuid()` unless a test says otherwise. */
  backendUid?: number;
}

const MAX_USER_NAME = 32;
const HASH_CHARS = 8;
// The comment (GECOS field) of the users this module creates: the key tells
// whose user it is, so a name taken by someone else is never shared.
const MARKER = 'plugin-lifecycle';
/** useradd: 9 = the name exists, 10 = /etc/passwd is locked by another. */
const USERADD_EXISTS = 9;
const USERADD_LOCKED = 10;

/**
 * The user name derived from a plugin id (or another key): the prefix and
 * the id when that fits 32 characters, else the prefix, as much of the id as
 * fits and 8 hex characters of its SHA-256, so two ids never share a name by
 * being cut. `hashed` forces the second form (used on a collision).
 *
 * @internal
 */
export function derivedUserName(
  prefix: string,
  id: string,
  hashed = false,
): string {
  const plain = `${prefix}${id}`;
  if (!hashed && plain.length <= MAX_USER_NAME) return plain;
  const hash = createHash('sha256').update(id).digest('hex');
  const room = MAX_USER_NAME - prefix.length - HASH_CHARS - 1;
  return `${prefix}${id.slice(0, room).replace(/-+$/, '')}-${hash.slice(
    0,
    HASH_CHARS,
  )}`;
}

/** The mode to use: the configured one, or the default for this backend's uid. */
export function resolveIsolationMode(
  configured: ProcessIsolationMode | undefined,
  backendUid: number,
): ProcessIsolationMode {
  return configured ?? (backendUid === 0 ? 'per-plugin-user' : 'none');
}

interface PasswdEntry {
  user: string;
  uid: number;
  gid: number;
  comment: string;
}

async function lookUpUser(name: string): Promise<PasswdEntry | undefined> {
  try {
    const { stdout } = await execFileAsync('getent', ['passwd', '--', name]);
    const [user, , uid, gid, comment] = stdout.trim().split(':');
    return { user, uid: Number(uid), gid: Number(gid), comment };
  } catch (error: any) {
    if (error.code === 2) return undefined; // getent: no such key
    throw new Error(`could not look up user '${name}': ${error.message}`);
  }
}

/**
 * Finds or creates the unprivileged users plugin processes run as, one per
 * plugin (or one for all), and says which to use for a plugin.
 *
 * Created users are system users without home directory or login shell,
 * named after the plugin id with a prefix, and marked in their comment with
 * the plugin id; a user of that name that is not marked for the same plugin
 * is someone else's, and the hashed name is used instead.
 *
 * @internal
 */
export class ProcessIdentities implements ProcessIdentityResolver {
  readonly mode: ProcessIsolationMode;
  readonly #logger: LoggerService;
  readonly #prefix: string;
  readonly #sharedUser: string;
  readonly #probeUser: string;
  readonly #users: Record<string, string>;
  readonly #createUsers: boolean;
  readonly #backendUid: number;
  readonly #resolved = new Map<string, Promise<ProcessIdentity>>();
  // One useradd at a time from this process; others wait for /etc/passwd.
  #creating: Promise<unknown> = Promise.resolve();

  private constructor(options: ProcessIdentitiesOptions) {
    const backendUid = options.backendUid ?? process.getuid?.() ?? -1;
    this.mode = resolveIsolationMode(options.mode, backendUid);
    this.#backendUid = backendUid;
    this.#logger = options.logger;
    this.#prefix = options.userPrefix ?? 'pl-';
    this.#sharedUser = options.sharedUser ?? `${this.#prefix}plugins`;
    this.#probeUser = options.probeUser ?? `${this.#prefix}probes`;
    this.#users = options.users ?? {};
    this.#createUsers = options.createUsers ?? true;
    if (this.mode !== 'none' && backendUid !== 0) {
      throw new Error(
        `pluginLifecycle.runtime.process.isolation.mode '${this.mode}' needs a backend running as root (it runs as uid ${backendUid}) to start processes as other users; set the mode to 'none' or run the backend as root`,
      );
    }
  }

  static create(options: ProcessIdentitiesOptions): ProcessIdentities {
    const identities = new ProcessIdentities(options);
    identities.#warnIfShared();
    return identities;
  }

  get isolated(): boolean {
    return this.mode !== 'none';
  }

  #warnIfShared() {
    if (this.mode === 'none') {
      this.#logger.warn(
        this.#backendUid === 0
          ? "Plugin processes run as root, the backend's user: every plugin can read the backend's files, secrets and the other plugins' configuration. Set pluginLifecycle.runtime.process.isolation.mode to per-plugin-user (the default as root) to run each plugin under its own user."
          : "Plugin processes run as the backend's user, so every plugin can read the backend's files and the other plugins' configuration; running each plugin under its own user (pluginLifecycle.runtime.process.isolation) needs a backend started as root.",
      );
    } else if (this.mode === 'shared-user') {
      this.#logger.warn(
        `Plugin processes run as '${
          this.#sharedUser
        }', one user for all plugins: they are kept from the backend but not from each other; use isolation.mode per-plugin-user to separate them.`,
      );
    }
  }

  async forPlugin(pluginId: string): Promise<ProcessIdentity | undefined> {
    if (this.mode === 'none') return undefined;
    const configured = this.#users[pluginId];
    if (configured) return this.#existing(configured, pluginId);
    if (this.mode === 'shared-user') {
      return this.#derived(this.#sharedUser, 'shared');
    }
    return this.#derived(derivedUserName(this.#prefix, pluginId), pluginId);
  }

  async forServiceProbes(): Promise<ProcessIdentity | undefined> {
    if (this.mode === 'none') return undefined;
    return this.#derived(this.#probeUser, 'service-probes');
  }

  #existing(name: string, pluginId: string): Promise<ProcessIdentity> {
    return this.#memo(`user ${name}`, async () => {
      const entry = await lookUpUser(name);
      if (!entry) {
        throw new Error(
          `pluginLifecycle.runtime.process.isolation.users.${pluginId} names user '${name}', which does not exist`,
        );
      }
      if (entry.uid === 0) {
        throw new Error(
          `pluginLifecycle.runtime.process.isolation.users.${pluginId} names '${name}', which is root`,
        );
      }
      return { user: entry.user, uid: entry.uid, gid: entry.gid };
    });
  }

  /** The user of a key: the preferred name, or the hashed one if that is taken. */
  #derived(name: string, key: string): Promise<ProcessIdentity> {
    return this.#memo(`key ${key}`, async () => {
      const mine = await this.#ownUser(name, key);
      if (mine) return mine;
      const fallback = derivedUserName(this.#prefix, key, true);
      const other = fallback !== name && (await this.#ownUser(fallback, key));
      if (other) return other;
      throw new Error(
        `user '${name}' exists and does not belong to ${key}; name another user in pluginLifecycle.runtime.process.isolation`,
      );
    });
  }

  #memo(
    key: string,
    resolve: () => Promise<ProcessIdentity>,
  ): Promise<ProcessIdentity> {
    let identity = this.#resolved.get(key);
    if (!identity) {
      identity = resolve();
      // A failure is not remembered: the next start tries again.
      identity.catch(() => this.#resolved.delete(key));
      this.#resolved.set(key, identity);
    }
    return identity;
  }

  /** The user `name` if it is (or now is, once created) marked for `key`. */
  async #ownUser(
    name: string,
    key: string,
  ): Promise<ProcessIdentity | undefined> {
    const marker = `${MARKER} ${key}`;
    let entry = await lookUpUser(name);
    if (!entry) {
      if (!this.#createUsers) {
        throw new Error(
          `user '${name}' for ${key} does not exist and pluginLifecycle.runtime.process.isolation.createUsers is false`,
        );
      }
      entry = await this.#create(name, marker);
    }
    if (entry.comment !== marker || entry.uid === 0) return undefined;
    return { user: entry.user, uid: entry.uid, gid: entry.gid };
  }

  async #create(name: string, marker: string): Promise<PasswdEntry> {
    const run = async (): Promise<PasswdEntry> => {
      let refusal = '';
      for (let attempt = 0; ; attempt++) {
        try {
          await execFileAsync('useradd', [
            '--system',
            '--user-group',
            '--no-create-home',
            '--home-dir',
            '/nonexistent',
            '--shell',
            '/usr/sbin/nologin',
            '--comment',
            marker,
            '--',
            name,
          ]);
          this.#logger.info(`created user '${name}' (${marker})`);
          break;
        } catch (error: any) {
          // Another backend (or test worker) created it in the meantime,
          // or a group of that name exists (said below if no user does).
          if (error.code === USERADD_EXISTS) {
            refusal = String(error.stderr ?? '').trim();
            break;
          }
          if (error.code === USERADD_LOCKED && attempt < 20) {
            await new Promise(r => setTimeout(r, 50 + 50 * attempt));
            continue;
          }
          throw new Error(
            `could not create user '${name}' for plugin processes: ${String(
              error.stderr || error.message,
            ).trim()}`,
          );
        }
      }
      const entry = await lookUpUser(name);
      if (!entry) {
        throw new Error(
          `could not create user '${name}' for plugin processes: ${
            refusal || 'useradd succeeded but getent does not find it'
          }`,
        );
      }
      return entry;
    };
    const created = this.#creating.then(run, run);
    this.#creating = created.catch(() => {});
    return created;
  }
}

/**
 * Whether `identity` can enter (read and search) directory `dir`, checked
 * by the kernel itself: `test` runs as that user.
 *
 * @internal
 */
export async function canEnter(
  identity: ProcessIdentity,
  dir: string,
): Promise<boolean> {
  return userTest(identity, ['-r', dir, '-a', '-x', dir]);
}

/** Whether `identity` can read `file` (a file or a directory). @internal */
export async function canRead(
  identity: { uid: number; gid: number },
  file: string,
): Promise<boolean> {
  return userTest(identity, ['-r', file]);
}

async function userTest(
  identity: { uid: number; gid: number },
  args: string[],
): Promise<boolean> {
  try {
    await execFileAsync('test', args, {
      uid: identity.uid,
      gid: identity.gid,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    return true;
  } catch {
    return false;
  }
}
