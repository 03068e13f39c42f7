import fs from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { runDetachedStep } from '../runtime/detachedStep';

/** Valid semantic versions, without duplicates, newest first. */
export function newestFirst(versions: Iterable<string>): string[] {
  return [...new Set(versions)]
    .filter(v => semver.valid(v) === v)
    .sort(semver.rcompare);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The versions a tarball path template offers: the files of its directory
 * whose names match the template's file name with `${version}` in it, e.g.
 * `dist/sample-${version}.tgz` and `dist/sample-1.1.0.tgz` gives `1.1.0`.
 * Only the file name may hold `${version}` (a directory per version would
 * need a walk of the tree). A missing directory offers nothing.
 */
export async function tarballVersions(
  template: string,
  baseDir: string,
): Promise<string[]> {
  const file = path.basename(template);
  const dir = path.resolve(baseDir, path.dirname(template));
  if (!file.includes('${version}') || dir.includes('${version}')) {
    return [];
  }
  const pattern = new RegExp(
    `^${file.split('${version}').map(escapeRegExp).join('(.+)')}$`,
  );
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const versions: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    // Every `${version}` in the name must be the same version.
    if (match && match.slice(1).every(v => v === match[1])) {
      versions.push(match[1]);
    }
  }
  return newestFirst(versions);
}

/**
 * The versions the npm registry lists for a package, through npm itself
 * (`npm view <name> versions --json`), so the registry and credentials of the
 * backend's npm configuration apply as they do when a version is fetched.
 * Lists only: no package code runs.
 */
export async function npmRegistryVersions(
  name: string,
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<string[]> {
  const { stdout } = await runDetachedStep(
    'npm',
    ['view', '--json', '--', name, 'versions'],
    {
      cwd: options.cwd,
      env: { ...process.env, npm_config_update_notifier: 'false' },
      timeoutMs: options.timeoutMs ?? 30_000,
    },
  );
  const parsed: unknown = JSON.parse(stdout || '[]');
  // npm answers a string for a package with a single version.
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return newestFirst(list.filter((v): v is string => typeof v === 'string'));
}
