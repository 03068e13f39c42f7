import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { InputError, NotFoundError } from '@backstage/errors';
import { PluginManifest } from '@internal/plugin-lifecycle-common';
import * as tar from 'tar';

const execFileAsync = promisify(execFile);

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
  await tar.x({ file: tarball, cwd: dir, strip: 1 });
}

/** Fetches `name@version` from the npm registry with npm itself into `dir`. */
export async function fetchNpmPackage(
  name: string,
  version: string,
  dir: string,
  signal?: AbortSignal,
): Promise<void> {
  const tmp = await fs.mkdtemp(`${dir}.pack-`);
  try {
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(
        'npm',
        ['pack', `${name}@${version}`, '--json', '--pack-destination', tmp],
        { signal, timeout: 120_000 },
      ));
    } catch (error: any) {
      const detail = String(error.stderr ?? error.message)
        .split('\n')
        .find(l => /E404|ETARGET|ENOVERSIONS|error/i.test(l));
      throw new NotFoundError(
        `npm could not fetch ${name}@${version}${
          detail ? `: ${detail.trim()}` : ''
        }`,
      );
    }
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
    await extractTarball(path.join(tmp, path.basename(packed.filename)), dir);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Installs the production dependencies of an extracted package, if it has any. */
export async function installDependencies(dir: string, signal?: AbortSignal) {
  const pkg = await readPackageJson(dir);
  if (!pkg.dependencies || Object.keys(pkg.dependencies).length === 0) return;
  await execFileAsync(
    'npm',
    [
      'install',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
    ],
    { cwd: dir, signal, timeout: 300_000 },
  );
}

export interface PackageJson {
  name?: string;
  version?: string;
  main?: string;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
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
