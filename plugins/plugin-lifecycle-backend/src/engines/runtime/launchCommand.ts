import path from 'node:path';
import { InputError } from '@backstage/errors';
import { RuntimeStartRequest } from '@internal/plugin-lifecycle-node';
import { readPackageJson, resolveEntry } from './artifactInstall';
import { canEnter, ProcessIdentity } from './processIdentity';

// Variables an instance may inherit from the backend; everything else (secrets
// of the backend itself) stays out of its environment.
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
  'NODE_EXTRA_CA_CERTS',
];

/** What runs for one instance: the command, its arguments, where. */
export interface LaunchCommand {
  command: string;
  args: string[];
  cwd: string;
}

/**
 * The command an artifact runs as, with `${PORT}` and `${HOST}` replaced:
 * a command artifact's own, or node on a package's entry point (an npm
 * package's server takes `args` as a command's does).
 */
export async function resolveLaunchCommand(
  request: Pick<RuntimeStartRequest, 'artifact' | 'location'>,
  options: {
    host: string;
    port: number;
    /** Where a command without `cwd` runs. */
    baseDir: string;
    /** Where the version is installed, unless the install said. */
    versionDir: string;
    /** The plugin's user, who must be able to enter the working directory. */
    identity?: ProcessIdentity;
  },
): Promise<LaunchCommand> {
  const { artifact } = request;
  const placeholders = (s: string) =>
    s
      .split('${PORT}')
      .join(String(options.port))
      .split('${HOST}')
      .join(options.host);
  if (artifact.type === 'command') {
    const cwd = request.location ?? options.baseDir;
    const { identity } = options;
    if (identity && !(await canEnter(identity, cwd))) {
      throw new Error(
        `the plugin's user '${identity.user}' cannot read the command's working directory ${cwd}; make it (and the directories above it) readable by that user, or name another user in pluginLifecycle.runtime.process.isolation.users`,
      );
    }
    return {
      command: placeholders(artifact.command),
      args: artifact.args.map(placeholders),
      cwd,
    };
  }
  if (artifact.type === 'npm' || artifact.type === 'tarball') {
    const cwd = request.location ?? options.versionDir;
    const entry = resolveEntry(await readPackageJson(cwd), artifact.bin);
    const args = [path.resolve(cwd, entry)];
    if (artifact.type === 'npm') {
      args.push(...(artifact.args ?? []).map(placeholders));
    }
    return { command: process.execPath, args, cwd };
  }
  throw new InputError('The process runtime cannot run an external artifact');
}

/**
 * An instance's environment: a small allow-list of the backend's (none of
 * its secrets), the request's (the plugin's identity and configuration),
 * its own HOME when it runs as its own user, and where it listens.
 */
export function instanceEnvironment(options: {
  requestEnv: Record<string, string>;
  host: string;
  port: number;
  home?: string;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    if (process.env[key] !== undefined) env[key] = process.env[key]!;
  }
  // The plugin's user has its own HOME (the backend's is not its to read).
  if (options.home) env.HOME = options.home;
  return Object.assign(env, options.requestEnv, {
    PORT: String(options.port),
    HOST: options.host,
  });
}
