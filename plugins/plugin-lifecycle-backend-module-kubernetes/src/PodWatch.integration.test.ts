import net from 'node:net';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  KubeTestCluster,
  describeWithKube,
  waitFor,
} from '@internal/kube-test-cluster';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { PodEvent, PodWatch } from './PodWatch';

// The watch's failures for real: a TCP proxy between the watch and a real
// kube-apiserver 1.20 drops the connections and then refuses new ones, as
// a restarting apiserver or a broken network would.
const NAMESPACE = 'proxied';
const SELECTOR = 'app.kubernetes.io/managed-by=plugin-lifecycle';

/** Passes TCP to `target`, or accepts and closes at once when refusing. */
class Proxy {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  refusing = false;
  refused = 0;

  constructor(target: { host: string; port: number }) {
    this.server = net.createServer(client => {
      if (this.refusing) {
        this.refused += 1;
        client.destroy();
        return;
      }
      const upstream = net.connect(target.port, target.host);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ]) {
        this.sockets.add(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
      }
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>(r => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  dropAll() {
    for (const socket of this.sockets) socket.destroy();
  }

  close() {
    this.dropAll();
    return new Promise(r => this.server.close(r));
  }
}

/** A logger that keeps what it is told. */
function recordingLogger(lines: string[]): LoggerService {
  const logger: LoggerService = {
    error: m => lines.push(`error ${m}`),
    warn: m => lines.push(`warn ${m}`),
    info: m => lines.push(`info ${m}`),
    debug: m => lines.push(`debug ${m}`),
    child: () => logger,
  };
  return logger;
}

describeWithKube(
  'PodWatch against a real control plane behind a proxy',
  binaries => {
    let cluster: KubeTestCluster;
    let core: CoreV1Api;
    let proxy: Proxy;
    let proxied: KubeConfig;

    beforeAll(async () => {
      cluster = await KubeTestCluster.start({ binaries });
      await cluster.createNamespace(NAMESPACE);
      const admin = cluster.kubeConfig();
      core = admin.makeApiClient(CoreV1Api);
      const server = new URL(admin.getCurrentCluster()!.server);
      proxy = new Proxy({ host: server.hostname, port: Number(server.port) });
      const port = await proxy.listen();
      proxied = new KubeConfig();
      proxied.loadFromOptions({
        clusters: admin.clusters.map(c => ({
          ...c,
          server: `https://${server.hostname}:${port}`,
        })),
        users: admin.users,
        contexts: admin.contexts,
        currentContext: admin.currentContext,
      });
    }, 240_000);

    afterAll(async () => {
      await proxy?.close();
      await cluster?.stop();
    }, 60_000);

    const createPod = (name: string) =>
      core.createNamespacedPod({
        namespace: NAMESPACE,
        body: {
          metadata: {
            name,
            labels: { 'app.kubernetes.io/managed-by': 'plugin-lifecycle' },
          },
          spec: { containers: [{ name: 'c', image: 'example/none:1' }] },
        },
      });

    it('retries a failed watch with backoff, warns once, sees what happened meanwhile, and leaves no connection when stopped', async () => {
      const events: PodEvent[] = [];
      const recovered: string[] = [];
      const logs: string[] = [];
      const seen = (type: PodEvent['type'], name: string) =>
        waitFor(`${type} ${name}`, () =>
          events.some(e => e.type === type && e.pod.metadata?.name === name),
        );
      const watch = PodWatch.create({
        kubeConfig: proxied,
        labelSelector: SELECTOR,
        onEvent: e => events.push(e),
        onRecovered: namespace => recovered.push(namespace),
        logger: recordingLogger(logs),
        retry: { initialMs: 50, maxMs: 400 },
      });
      watch.watch(NAMESPACE);
      await createPod('first');
      await seen('add', 'first');

      // The apiserver goes away: connections dropped, new ones refused.
      proxy.refusing = true;
      proxy.dropAll();
      await waitFor('several refused attempts', () => proxy.refused >= 4);
      // Meanwhile, on the cluster:
      await core.deleteNamespacedPod({
        name: 'first',
        namespace: NAMESPACE,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0 },
      });
      await createPod('second');
      expect(logs.filter(l => l.startsWith('warn'))).toEqual([
        expect.stringMatching(
          /^warn kubernetes: watching pods in namespace proxied failed, retrying with backoff: /,
        ),
      ]);

      proxy.refusing = false;
      await waitFor('the watch back', () => recovered.length > 0);
      expect(recovered).toEqual([NAMESPACE]);
      await seen('delete', 'first');
      await seen('add', 'second');
      expect(logs.filter(l => l.startsWith('info'))).toEqual([
        expect.stringMatching(
          /^info kubernetes: watching pods in namespace proxied again after \d+ failed attempt\(s\)$/,
        ),
      ]);
      expect(watch.cached(NAMESPACE).map(p => p.metadata?.name)).toEqual([
        'second',
      ]);

      watch.stop();
      expect(watch.namespaces()).toEqual([]);
      // Its watch connection is closed (an idle keep-alive one of the list
      // client closes within seconds). Less than client-node's own 30 s
      // inactivity timeout, which would close a watch left open too.
      await waitFor('no connection left', () => proxy.sockets.size === 0, {
        timeoutMs: 15_000,
      });
    }, 120_000);
  },
);
