import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repoRoot = path.resolve(__dirname, '../../../..');

/**
 * Packs the sample HTTP service (1.0.0, 1.1.0, broken 2.0.0) into a fresh
 * temporary directory, with the same script demos use.
 */
export async function packSampleArtifacts(): Promise<{
  dir: string;
  tarballTemplate: string;
  byVersion: Record<string, string>;
}> {
  const dir = fs.mkdtempSync(
    path.join(os.tmpdir(), 'plugin-lifecycle-artifacts-'),
  );
  // Plugins run as their own users when tests run as root: scripts written
  // here for command artifacts must be theirs to read.
  fs.chmodSync(dir, 0o755);
  // eslint-disable-next-line @backstage/no-relative-monorepo-imports
  const pack = require(path.join(repoRoot, 'examples/scripts/pack.js'));
  const byVersion: Record<string, string> = await pack(dir);
  return {
    dir,
    tarballTemplate: path.join(dir, 'sample-http-service-${version}.tgz'),
    byVersion,
  };
}

/** Whether a process with this pid still exists. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: any) {
    return error.code === 'EPERM';
  }
}

export function makeTempDir(prefix: string) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
