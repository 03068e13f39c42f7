import fs from 'node:fs/promises';
import path from 'node:path';
import { InputError, NotFoundError } from '@backstage/errors';
import { PluginManifest } from '@internal/plugin-lifecycle-common';
import npa from 'npm-package-arg';
import * as tar from 'tar';
import validateNpmPackageName from 'validate-npm-package-name';
import { runDetachedStep, StepError, StepTracker } from './detachedStep';
import { canRead } from './processIdentity';

/** Replaces `${version}` in an artifact path. */
export function expandVersion(template: string, version: string): string {
  return template.split('${version}').join(version);
}

/** Extracts an npm-style tarball (entries under `package/`) into `dir`. */
export async function extractTarball(
  tarball: string,
  dir: string,
): Promise<void> {
  try {
    await fs.access(tarball);
  } catch {
    throw new NotFoundError(`Artifact ${tarball} does not exist`);
  }
  await fs.mkdir(dir, { recursive: true });
  // As root, tar would give files the owners the archive names (its author's
  // choice); they belong to the backend, or are handed to the plugin's user.
  await tar.x({ file: tarball, cwd: dir, strip: 1, preserveOwner: false });
}

/**
 * How npm may fetch and install a package.
 *
 * @internal
 */
export interface NpmOptions {
  /**
   * Run lifecycle scripts: `prepare` when a git or directory spec is packed,
   * and the install scripts of the package and its dependencies. Default
   * false: a package's scripts run code at install time, before anyone chose
   * to start it.
   */
  allowScripts?: boolean;
  /** Where npm runs, so relative `file:` specs resolve from here. */
  cwd?: string;
  signal?: AbortSignal;
  /**
   * The plugin's user: npm runs as it, with `home` as its HOME and npm
   * cache, and only the locale, PATH and npm settings of the backend's
   * environment, so a package's code never runs as (or sees the secrets
   * of) the backend.
   */
  runAs?: NpmUser;
  /** Told of each npm process group (see {@link StepTracker}). */
  track?: StepTracker;
  /** Milliseconds `npm pack` may take; default 120000. */
  packTimeoutMs?: number;
}

/** @internal */
export interface NpmUser {
  uid: number;
  gid: number;
  home: string;
}

// What npm as a plugin's user inherits: enough to find node and the
// registry, none of the backend's secrets.
const NPM_INHERITED_ENV = [
  'PATH',
  'LANG',
  'LC_ALL',
  'TZ',
  'NODE_EXTRA_CA_CERTS',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

/**
 * Checks an npm package name and version spec and parses them; neither is
 * ever passed where npm could take it as an option.
 *
 * @returns the parsed spec; `registry` is false for file:, git and URL specs.
 * @internal
 */
export function parseNpmSpec(
  name: string,
  spec: string,
  where?: string,
): npa.Result {
  const validity = validateNpmPackageName(name);
  if (!validity.validForOldPackages) {
    throw new InputError(
      `artifact.package '${name}' is not an npm package name: ${(
        validity.errors ?? []
      ).join('; ')}`,
    );
  }
  if (spec.startsWith('-')) {
    throw new InputError(
      `artifact.version '${spec}' must be an npm version, range or tag, not an option`,
    );
  }
  try {
    return npa.resolve(name, spec, where);
  } catch (error) {
    throw new InputError(
      `artifact.version '${spec}' is not an npm spec for ${name}: ${
        (error as Error).message
      }`,
    );
  }
}

// npm started by this module: scripts off unless allowed. The variable (not
// only the flag) reaches the npm that pacote starts to prepare a git
// dependency, which would otherwise run its scripts.
function npmEnv(options: NpmOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = options.runAs
    ? pluginUserEnv(options.runAs)
    : { ...process.env };
  env.npm_config_update_notifier = 'false';
  if (!options.allowScripts) env.npm_config_ignore_scripts = 'true';
  return env;
}

function pluginUserEnv(user: NpmUser): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (NPM_INHERITED_ENV.includes(key) || /^npm_config_/i.test(key)) {
      env[key] = value;
    }
  }
  // The backend's npm cache and user config are not the plugin's.
  for (const key of Object.keys(env)) {
    if (/^npm_config_(cache|userconfig|prefix)$/i.test(key)) delete env[key];
  }
  return {
    ...env,
    HOME: user.home,
    npm_config_cache: path.join(user.home, '.npm'),
  };
}

/** Spawn options of npm: as the plugin's user when there is one. */
function npmSpawn(options: NpmOptions) {
  return options.runAs
    ? { uid: options.runAs.uid, gid: options.runAs.gid }
    : {};
}

function scriptsFlags(options: NpmOptions): string[] {
  return options.allowScripts ? [] : ['--ignore-scripts'];
}

/**
 * npm did not finish within its time: transient (`ETIMEDOUT`), so the
 * operation is tried again, and said in words, not as an abort.
 */
export class NpmTimeoutError extends Error {
  readonly name = 'NpmTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/**
 * Runs npm; when it is killed for taking longer than `timeoutMs`, or the
 * operation is aborted, says so ("npm pack timed out after 120 s") instead
 * of Node's "The operation was aborted" or "Command failed".
 */
async function runNpm(
  command: string,
  args: string[],
  options: {
    cwd?: string;
    env: NodeJS.ProcessEnv;
    uid?: number;
    gid?: number;
    signal?: AbortSignal;
    timeoutMs: number;
    track?: StepTracker;
  },
) {
  try {
    return await runDetachedStep('npm', [command, ...args], options);
  } catch (error: any) {
    if (options.signal?.aborted) {
      const reason = options.signal.reason;
      throw new Error(
        `npm ${command} was stopped before it finished: ${
          reason instanceof Error ? reason.message : String(reason)
        }`,
        { cause: reason },
      );
    }
    if ((error as StepError)?.timedOut) {
      throw new NpmTimeoutError(
        `npm ${command} timed out after ${Number(
          (options.timeoutMs / 1000).toFixed(3),
        )} s`,
      );
    }
    throw error;
  }
}

/** Fetches `name@version` with npm itself (registry or other spec) into `dir`. */
export async function fetchNpmPackage(
  name: string,
  version: string,
  dir: string,
  options: NpmOptions = {},
): Promise<void> {
  const spec = parseNpmSpec(name, version, options.cwd);
  // npm runs as the plugin's user: a local package must be its to read.
  if (
    options.runAs &&
    (spec.type === 'file' || spec.type === 'directory') &&
    spec.fetchSpec &&
    !(await canRead(options.runAs, spec.fetchSpec))
  ) {
    throw new InputError(
      `The plugin's user (uid ${options.runAs.uid}) cannot read ${spec.fetchSpec}; make it and the directories above it readable by that user`,
    );
  }
  // The first version of a plugin (or the first after an uninstall, which
  // removes the plugin's directory) has no parent directory yet.
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = await fs.mkdtemp(`${dir}.pack-`);
  if (options.runAs) {
    await fs.chown(tmp, options.runAs.uid, options.runAs.gid);
  }
  try {
    try {
      await runNpm(
        'pack',
        [
          '--json',
          '--pack-destination',
          tmp,
          ...scriptsFlags(options),
          '--',
          `${name}@${spec.rawSpec}`,
        ],
        {
          cwd: options.cwd,
          env: npmEnv(options),
          ...npmSpawn(options),
          signal: options.signal,
          timeoutMs: options.packTimeoutMs ?? 120_000,
          track: options.track,
        },
      );
    } catch (error: any) {
      if (error instanceof NpmTimeoutError || options.signal?.aborted) {
        throw error;
      }
      const detail = String(error.stderr ?? error.message)
        .split('\n')
        .find(l => /E404|ETARGET|ENOVERSIONS|error/i.test(l));
      throw new NotFoundError(
        `npm could not fetch ${name}@${version}${
          detail ? `: ${detail.trim()}` : ''
        }`,
      );
    }
    // The one tarball in the fresh directory; stdout may hold a script's
    // output besides npm's JSON when scripts are allowed.
    const [packed] = (await fs.readdir(tmp)).filter(f => f.endsWith('.tgz'));
    if (!packed) {
      throw new NotFoundError(`npm packed no tarball for ${name}@${version}`);
    }
    await extractTarball(path.join(tmp, packed), dir);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

/**
 * Installs the production dependencies of an extracted package, if it has
 * any, never running scripts; with `allowScripts`, then runs the install
 * scripts of the dependencies and the package (`npm rebuild`), as an install
 * of the package would. `prepare` is not one of them: it builds from
 * sources, which a published package does not need.
 */
export async function installDependencies(
  dir: string,
  options: Omit<NpmOptions, 'cwd'> = {},
) {
  const pkg = await readPackageJson(dir);
  const hasDependencies =
    !!pkg.dependencies && Object.keys(pkg.dependencies).length > 0;
  if (hasDependencies) {
    await runNpm(
      'install',
      [
        '--omit=dev',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
      ],
      {
        cwd: dir,
        env: npmEnv({ allowScripts: false, runAs: options.runAs }),
        ...npmSpawn(options),
        signal: options.signal,
        timeoutMs: 300_000,
        track: options.track,
      },
    );
  }
  const hasInstallScripts = INSTALL_SCRIPTS.some(s => pkg.scripts?.[s]);
  if (options.allowScripts && (hasDependencies || hasInstallScripts)) {
    await runNpm('rebuild', ['--no-audit', '--no-fund'], {
      cwd: dir,
      env: npmEnv(options),
      ...npmSpawn(options),
      signal: options.signal,
      timeoutMs: 300_000,
      track: options.track,
    });
  }
}

export interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  pluginLifecycle?: PluginManifest;
}

export async function readPackageJson(dir: string): Promise<PackageJson> {
  try {
    return JSON.parse(
      await fs.readFile(path.join(dir, 'package.json'), 'utf8'),
    );
  } catch (error) {
    throw new InputError(`The artifact has no readable package.json: ${error}`);
  }
}

/**
 * The script to run for a package: the named `bin`, its only `bin`, the `bin`
 * named like the package, or `main`.
 */
export function resolveEntry(pkg: PackageJson, binName?: string): string {
  if (typeof pkg.bin === 'string') return pkg.bin;
  if (pkg.bin && typeof pkg.bin === 'object') {
    const names = Object.keys(pkg.bin);
    if (binName) {
      if (!pkg.bin[binName]) {
        throw new InputError(
          `The package has no bin named '${binName}' (it has ${
            names.join(', ') || 'none'
          })`,
        );
      }
      return pkg.bin[binName];
    }
    const unscoped = pkg.name?.replace(/^@[^/]+\//, '');
    if (names.length === 1) return pkg.bin[names[0]];
    if (unscoped && pkg.bin[unscoped]) return pkg.bin[unscoped];
    throw new InputError(
      `The package has several bins (${names.join(
        ', ',
      )}); say which one with artifact.bin`,
    );
  }
  if (pkg.main) return pkg.main;
  throw new InputError('The package has neither a bin nor a main entry to run');
}

/**
 * Installs an npm or tarball artifact into `dir`: fetched with npm (as the
 * plugin's user) or extracted, handed to the plugin's user, checked for
 * something runnable, its dependencies installed. A failure leaves no
 * directory behind. What it returns: the package.json read.
 */
export async function installPackageArtifact(
  artifact:
    | { type: 'tarball'; path: string; bin?: string }
    | { type: 'npm'; package: string; version?: string; bin?: string },
  version: string,
  dir: string,
  options: NpmOptions & {
    /** Where relative tarball paths and `file:` specs resolve from. */
    baseDir: string;
    /** Hands the extracted files to the plugin's user. */
    handOver: (dir: string) => Promise<void>;
  },
): Promise<PackageJson> {
  // A leftover from an interrupted install must not mix with this one.
  await fs.rm(dir, { recursive: true, force: true });
  try {
    if (artifact.type === 'tarball') {
      const file = path.resolve(
        options.baseDir,
        expandVersion(artifact.path, version),
      );
      await extractTarball(file, dir);
    } else {
      await fetchNpmPackage(
        artifact.package,
        artifact.version ?? version,
        dir,
        {
          ...options,
          cwd: options.baseDir,
        },
      );
    }
    await options.handOver(dir);
    const pkg = await readPackageJson(dir);
    resolveEntry(pkg, artifact.bin); // fail the install, not the start, when nothing is runnable
    await installDependencies(dir, options);
    return pkg;
  } catch (error) {
    await fs.rm(dir, { recursive: true, force: true });
    throw error;
  }
}
