import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repoRoot = path.resolve(__dirname, '../../../..');

/**
 * Packs the sample HTTP service (1.0.0, 1.1.0, broken 2.0.0, bad 2.1.0) into a fresh
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

/**
 * Whether a process with this pid still runs. A zombie (ended, not yet
 * reaped by its parent, which may be this test process) counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error: any) {
    if (error.code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function makeTempDir(prefix: string) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
