import { CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { KubeBinaries, locateKubeBinaries } from './binaries';
import { isKubeError } from './errors';
import { KubeletStandIn, KubeletStandInOptions } from './KubeletStandIn';
import { ComponentProcess, freePorts } from './processes';

/** A user of the static token file (`--token-auth-file`). */
export interface KubeTestUser {
  /** The user name RBAC sees (subject kind User). */
  name: string;
  /** Groups besides system:authenticated, which every token user has. */
  groups?: string[];
}

/** Options of {@link KubeTestCluster.start}. */
export interface KubeTestClusterOptions {
  /** Defaults to {@link locateKubeBinaries}; start() throws when they are missing. */
  binaries?: KubeBinaries;
  /** More token users besides `admin` and `restricted`. */
  users?: KubeTestUser[];
  /** How long to wait for every component to be healthy (default 180 s: 2 busy cores). */
  startTimeoutMs?: number;
  /** Keep the temporary directory (logs, etcd data) after stop(); also PLUGIN_LIFECYCLE_KUBE_KEEP=1. */
  keepDir?: boolean;
}

/** The admin: group system:masters, every right. */
export const KUBE_ADMIN_USER = 'admin';
/** A user with no rights beyond discovery, for "forbidden" tests (subject kind User). */
export const KUBE_RESTRICTED_USER = 'restricted';

const DIR_PREFIX = 'plugin-lifecycle-kube-';
const SERVICE_CIDR = '10.96.0.0/16';

/** Removes the directories of earlier runs whose process is gone (a killed jest worker). */
function sweepStaleDirs() {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue;
    }
    let alive = true;
    try {
      process.kill(owner, 0);
    } catch {
      alive = false;
    }
    if (!alive && fs.existsSync(path.join(dir, 'keep')) === false) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    // Only the readiness probe skips TLS verification; clients use the CA.
    const request = client.get(
      url,
      { headers, rejectUnauthorized: false, timeout: 5_000 },
      response => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', chunk => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/**
 * A real Kubernetes 1.20 control plane on loopback for integration tests: etcd,
 * kube-apiserver (static token auth, RBAC, the default admission plugins
 * including ResourceQuota and ServiceAccount), kube-controller-manager and
 * kube-scheduler, in a temporary directory, on free ports.
 *
 * There is no kubelet and no container runtime: start a {@link KubeletStandIn}
 * ({@link KubeTestCluster.startKubelet}) to get a Node whose pods become
 * Running/Ready. Pod IPs are unroutable, so no traffic reaches pods.
 *
 * @example
 *   const cluster = await KubeTestCluster.start();
 *   const kubelet = await cluster.startKubelet();
 *   const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
 *   ...
 *   await cluster.stop(); // also stops the kubelet stand-ins
 */
export class KubeTestCluster {
  private readonly kubelets = new Set<KubeletStandIn>();
  private stopped = false;

  private constructor(
    /** The temporary directory: logs (`<component>.log`), kubeconfigs, etcd data. */
    readonly dir: string,
    /** `https://127.0.0.1:<port>` */
    readonly server: string,
    private readonly caPem: string,
    private readonly tokens: Map<string, string>,
    private readonly components: ComponentProcess[],
    private readonly keepDir: boolean,
  ) {}

  /**
   * Starts etcd and the three control-plane binaries and waits until all are
   * healthy. Throws with the failing component's log tail; leaves nothing
   * running when it throws.
   */
  static async start(
    options: KubeTestClusterOptions = {},
  ): Promise<KubeTestCluster> {
    let binaries = options.binaries;
    if (!binaries) {
      const lookup = locateKubeBinaries();
      if (!lookup.available) throw new Error(lookup.reason);
      binaries = lookup.binaries;
    }
    sweepStaleDirs();
    // Free ports can be taken by someone else between lookup and bind: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await KubeTestCluster.startOnce(binaries, options);
      } catch (error) {
        if (attempt >= 3 || !/address already in use/i.test(String(error))) {
          throw error;
        }
      }
    }
  }

  private static async startOnce(
    binaries: KubeBinaries,
    options: KubeTestClusterOptions,
  ): Promise<KubeTestCluster> {
    const keepDir =
      options.keepDir ?? process.env.PLUGIN_LIFECYCLE_KUBE_KEEP === '1';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
    fs.writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
    const components: ComponentProcess[] = [];
    const deadline = Date.now() + (options.startTimeoutMs ?? 180_000);
    try {
      const [etcdPort, peerPort, apiPort, cmPort, schedulerPort] =
        await freePorts(5);

      // Static tokens: the admin, a user without rights, the two controllers.
      const users: KubeTestUser[] = [
        { name: KUBE_ADMIN_USER, groups: ['system:masters'] },
        { name: KUBE_RESTRICTED_USER },
        { name: 'system:kube-controller-manager' },
        { name: 'system:kube-scheduler' },
        ...(options.users ?? []),
      ];
      const tokens = new Map<string, string>();
      const tokenLines = users.map((user, i) => {
        const token = randomBytes(24).toString('hex');
        tokens.set(user.name, token);
        const groups = user.groups?.length ? `,"${user.groups.join(',')}"` : '';
        return `${token},${user.name},uid-${i}${groups}`;
      });
      fs.writeFileSync(
        path.join(dir, 'tokens.csv'),
        `${tokenLines.join('\n')}\n`,
        {
          mode: 0o600,
        },
      );

      // The key that signs and verifies service-account tokens.
      const { privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      const saKey = path.join(dir, 'service-account.key');
      fs.writeFileSync(saKey, privateKey, { mode: 0o600 });

      const etcd = ComponentProcess.start('etcd', dir, binaries.etcd, [
        '--name=default',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--log-level=warn',
        '--logger=zap',
      ]);
      components.push(etcd);
      await waitUntil(deadline, [etcd], 'etcd', async () => {
        const { status, body } = await get(
          `http://127.0.0.1:${etcdPort}/health`,
        );
        return status === 200 && body.includes('true');
      });

      const certDir = path.join(dir, 'apiserver-certs');
      const apiserver = ComponentProcess.start(
        'kube-apiserver',
        dir,
        binaries.kubeApiserver,
        [
          `--etcd-servers=http://127.0.0.1:${etcdPort}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          '--insecure-port=0',
          // Self-signed serving certificate (with its CA) written here.
          `--cert-dir=${certDir}`,
          `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
          '--authorization-mode=RBAC',
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${saKey}`,
          `--service-account-signing-key-file=${saKey}`,
          // The `kubernetes` Service would get a loopback endpoint, which Endpoints refuse.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          '--v=1',
        ],
      );
      components.push(apiserver);
      const server = `https://127.0.0.1:${apiPort}`;
      const adminToken = tokens.get(KUBE_ADMIN_USER)!;
      await waitUntil(deadline, components, 'kube-apiserver', async () => {
        const { status } = await get(`${server}/readyz`, {
          authorization: `Bearer ${adminToken}`,
        });
        return status === 200;
      });
      const caPem = fs.readFileSync(
        path.join(certDir, 'apiserver.crt'),
        'utf8',
      );
      fs.writeFileSync(path.join(dir, 'ca.crt'), caPem);

      const writeKubeconfig = (user: string) => {
        const file = path.join(
          dir,
          `${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`,
        );
        fs.writeFileSync(
          file,
          kubeconfigText(server, caPem, user, tokens.get(user)!),
          {
            mode: 0o600,
          },
        );
        return file;
      };

      const controllerManager = ComponentProcess.start(
        'kube-controller-manager',
        dir,
        binaries.kubeControllerManager,
        [
          `--kubeconfig=${writeKubeconfig('system:kube-controller-manager')}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          '--address=127.0.0.1',
          `--port=${cmPort}`,
          '--secure-port=0',
          // Each controller acts as its own service account, as kubeadm sets it up.
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${path.join(dir, 'ca.crt')}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          // A quicker garbage collector and quota resync keep tests short.
          '--resource-quota-sync-period=10s',
          '--v=1',
        ],
      );
      components.push(controllerManager);
      const scheduler = ComponentProcess.start(
        'kube-scheduler',
        dir,
        binaries.kubeScheduler,
        [
          `--kubeconfig=${writeKubeconfig('system:kube-scheduler')}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          '--address=127.0.0.1',
          `--port=${schedulerPort}`,
          '--secure-port=0',
          '--v=1',
        ],
      );
      components.push(scheduler);
      await waitUntil(
        deadline,
        components,
        'kube-controller-manager',
        async () => {
          const { status } = await get(`http://127.0.0.1:${cmPort}/healthz`);
          return status === 200;
        },
      );
      await waitUntil(deadline, components, 'kube-scheduler', async () => {
        const { status } = await get(
          `http://127.0.0.1:${schedulerPort}/healthz`,
        );
        return status === 200;
      });

      const cluster = new KubeTestCluster(
        dir,
        server,
        caPem,
        tokens,
        components,
        keepDir,
      );
      for (const user of tokens.keys()) cluster.kubeconfigPath(user);
      return cluster;
    } catch (error) {
      for (const component of [...components].reverse())
        await component.stop(5_000);
      if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The bearer token of a token-file user. */
  token(user: string = KUBE_ADMIN_USER): string {
    const token = this.tokens.get(user);
    if (!token) throw new Error(`no token user ${user} in this cluster`);
    return token;
  }

  /** The cluster's CA (PEM), which signed the apiserver's serving certificate. */
  get caCertificate(): string {
    return this.caPem;
  }

  /** A client configuration for a token-file user (default the admin). */
  kubeConfig(user: string = KUBE_ADMIN_USER): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(
      kubeconfigText(this.server, this.caPem, user, this.token(user)),
    );
    return kc;
  }

  /** A kubeconfig file for a token-file user (default the admin), as the runtime module would read it. */
  kubeconfigPath(user: string = KUBE_ADMIN_USER): string {
    const file = path.join(
      this.dir,
      `${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`,
    );
    if (!fs.existsSync(file)) {
      fs.writeFileSync(
        file,
        kubeconfigText(this.server, this.caPem, user, this.token(user)),
        {
          mode: 0o600,
        },
      );
    }
    return file;
  }

  /**
   * Creates a namespace and waits until its `default` service account has its
   * token secret: before that, the ServiceAccount admission plugin refuses pods.
   */
  async createNamespace(
    name: string,
    labels?: Record<string, string>,
  ): Promise<void> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name, labels } } });
    await this.serviceAccountToken(name, 'default');
  }

  /**
   * The token of a real service account (1.20's token controller writes it to
   * a secret), waiting for the controller when needed.
   */
  async serviceAccountToken(
    namespace: string,
    name: string,
    timeoutMs = 60_000,
  ): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const account = await core.readNamespacedServiceAccount({
          name,
          namespace,
        });
        for (const ref of account.secrets ?? []) {
          if (!ref.name) continue;
          const secret: V1Secret = await core.readNamespacedSecret({
            name: ref.name,
            namespace,
          });
          const token = secret.data?.token;
          if (token) return Buffer.from(token, 'base64').toString('utf8');
        }
      } catch (error) {
        if (!isKubeError(error, 404)) throw error;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `service account ${namespace}/${name} got no token secret in ${timeoutMs} ms (is kube-controller-manager's token controller running? ${this.logTail(
            'kube-controller-manager',
            10,
          )})`,
        );
      }
      await sleep(200);
    }
  }

  /** A client configuration that authenticates as a real service account. */
  async serviceAccountKubeConfig(
    namespace: string,
    name: string,
  ): Promise<KubeConfig> {
    const token = await this.serviceAccountToken(namespace, name);
    const kc = new KubeConfig();
    kc.loadFromString(
      kubeconfigText(
        this.server,
        this.caPem,
        `system:serviceaccount:${namespace}:${name}`,
        token,
      ),
    );
    return kc;
  }

  /**
   * Registers a fake Node and starts acting as its kubelet (see
   * {@link KubeletStandIn}); stop() stops it.
   */
  async startKubelet(
    options: Omit<KubeletStandInOptions, 'kubeConfig'> = {},
  ): Promise<KubeletStandIn> {
    const kubelet = await KubeletStandIn.start({
      ...options,
      kubeConfig: this.kubeConfig(),
    });
    this.kubelets.add(kubelet);
    return kubelet;
  }

  /** The last lines of a component's log (etcd, kube-apiserver, kube-controller-manager, kube-scheduler). */
  logTail(component: string, lines = 25): string {
    const found = this.components.find(c => c.name === component);
    return found ? found.logTail(lines) : `(no component ${component})`;
  }

  /** The process ids of the running binaries (etcd and the three), e.g. to prove stop() ended them. */
  processIds(): number[] {
    return this.components
      .map(c => c.childPid())
      .filter((pid): pid is number => pid !== undefined);
  }

  /** Stops the kubelet stand-ins and every process, and removes the directory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const kubelet of this.kubelets) await kubelet.stop();
    for (const component of [...this.components].reverse())
      await component.stop();
    if (this.keepDir) {
      fs.writeFileSync(path.join(this.dir, 'keep'), '');
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function kubeconfigText(
  server: string,
  caPem: string,
  user: string,
  token: string,
): string {
  // JSON is YAML: every kubeconfig reader takes it.
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'kube-test',
          cluster: {
            server,
            'certificate-authority-data': Buffer.from(caPem).toString('base64'),
          },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [
        { name: 'kube-test', context: { cluster: 'kube-test', user } },
      ],
      'current-context': 'kube-test',
    },
    null,
    2,
  )}\n`;
}

async function waitUntil(
  deadline: number,
  components: ComponentProcess[],
  what: string,
  healthy: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    for (const component of components) {
      const exit = component.exitDescription;
      if (exit) {
        throw new Error(
          `${
            component.name
          } ${exit} while waiting for ${what}; its log ends:\n${component.logTail()}`,
        );
      }
    }
    try {
      if (await healthy()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const last =
        components.find(c => c.name === what) ??
        components[components.length - 1];
      throw new Error(
        `${what} was not healthy in time; ${
          last.name
        }'s log ends:\n${last.logTail()}`,
      );
    }
    await sleep(250);
  }
}
