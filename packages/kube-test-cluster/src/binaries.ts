import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Kubernetes version scripts/kube/build.sh builds. */
export const KUBE_VERSION = '1.20.2';

/** Where the control-plane binaries are, once built. */
export interface KubeBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  etcd: string;
}

/** The binaries, or exactly why the cluster cannot start here. */
export type KubeBinariesLookup =
  | { available: true; binaries: KubeBinaries }
  | { available: false; reason: string };

/** The cache directory scripts/kube/build.sh fills (outside the checkout). */
export function kubeCacheDir(): string {
  return (
    process.env.PLUGIN_LIFECYCLE_KUBE_CACHE ||
    path.join(
      os.homedir(),
      '.cache',
      'plugin-lifecycle',
      `kubernetes-${KUBE_VERSION}`,
    )
  );
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** scripts/kube/build.sh of the repository the tests run in (jest runs in it). */
function buildScript(): string | undefined {
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    const script = path.join(dir, 'scripts', 'kube', 'build.sh');
    if (fs.existsSync(script)) return script;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Finds kube-apiserver, kube-controller-manager and kube-scheduler in the
 * cache and etcd (Debian's etcd-server) on the PATH. Never builds: when they
 * are missing, the reason says whether `bash scripts/kube/build.sh` can build
 * them here (asked with its `--check`, which is instant) or why it cannot.
 */
export function locateKubeBinaries(): KubeBinariesLookup {
  const bin = path.join(kubeCacheDir(), 'bin');
  const binaries = {
    kubeApiserver: path.join(bin, 'kube-apiserver'),
    kubeControllerManager: path.join(bin, 'kube-controller-manager'),
    kubeScheduler: path.join(bin, 'kube-scheduler'),
  };
  const missing = Object.values(binaries).filter(file => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const script = buildScript();
    let why = `Kubernetes ${KUBE_VERSION} control-plane binaries are not built (${missing
      .map(file => path.basename(file))
      .join(', ')} missing in ${bin})`;
    if (script) {
      const check = spawnSync('bash', [script, '--check'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      const said = (check.stdout ?? '').trim() || (check.stderr ?? '').trim();
      if (said) why += `; ${said}`;
    }
    return { available: false, reason: why };
  }
  const etcd =
    findOnPath('etcd') ??
    (fs.existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : undefined);
  if (!etcd) {
    return {
      available: false,
      reason:
        'etcd is not installed (Debian package etcd-server: sudo apt-get install -y etcd-server, or run bash scripts/kube/build.sh, which installs it)',
    };
  }
  return { available: true, binaries: { ...binaries, etcd } };
}
