/*
 * Issue #16: the metrics export, end to end. The demo backend (the real
 * one, a child process) runs with src/instrumentation.js, the OpenTelemetry
 * Node SDK with the Prometheus exporter, as the start script loads it.
 * Debian's Prometheus scrapes it every second. The test drives traffic a
 * monitoring setup would see (a managed plugin installed and probed,
 * requests through the Node data plane, a configuration change, a canary
 * of a release that answers 500, an abort, a readiness failure, a crash)
 * and asks Prometheus, over its HTTP API with PromQL, for every metric of
 * the contract (docs/architecture.md, "Metrics"), with the values that
 * traffic implies. Then every metric the example Grafana dashboard queries
 * must be among the names Prometheus stored from that real scrape.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LIFECYCLE_STATES } from '@internal/plugin-lifecycle-common';
import {
  DemoBackend,
  callApi,
  freePort,
  startDemoBackend,
} from './__testUtils__/shutdownHarness';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../../..');
const PROMETHEUS = '/usr/bin/prometheus';
const DASHBOARD = path.join(ROOT, 'examples/monitoring/grafana-dashboard.json');
const PLUGIN = 'metrics-sample';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pack: (
  outDir: string,
) => Promise<Record<string, string>> = require(path.join(
  ROOT,
  'examples/scripts/pack.js',
));

/** The scraped names of the contract (docs/architecture.md). */
const CONTRACT = [
  'plugin_lifecycle_plugins',
  'plugin_lifecycle_plugin_state',
  'plugin_lifecycle_instances',
  'plugin_lifecycle_instance_restarts_total',
  'plugin_lifecycle_probe_results_total',
  'plugin_lifecycle_probe_duration_seconds',
  'plugin_lifecycle_health_transitions_total',
  'plugin_lifecycle_proxy_requests_total',
  'plugin_lifecycle_proxy_errors_total',
  'plugin_lifecycle_proxy_request_duration_seconds',
  'plugin_lifecycle_operation_queue_depth',
  'plugin_lifecycle_operation_duration_seconds',
  'plugin_lifecycle_deployments_active',
  'plugin_lifecycle_deployments_total',
  'plugin_lifecycle_deployment_seconds_since_progress',
  'plugin_lifecycle_config_changes_total',
  'plugin_lifecycle_config_version',
  'plugin_lifecycle_config_watchers',
];
const HISTOGRAMS = new Set([
  'plugin_lifecycle_probe_duration_seconds',
  'plugin_lifecycle_proxy_request_duration_seconds',
  'plugin_lifecycle_operation_duration_seconds',
]);

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `never: ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
      );
    }
    await new Promise(r => setTimeout(r, 300));
  }
}

async function waitForOperation(backend: DemoBackend, id: string) {
  for (;;) {
    const op = await callApi(
      backend,
      'GET',
      `/operations/${id}?waitSeconds=20`,
    );
    if (!['queued', 'running'].includes(op.body?.status)) return op.body;
  }
}

async function accepted(
  backend: DemoBackend,
  method: string,
  urlPath: string,
  body: unknown,
  status = 202,
) {
  const res = await callApi(backend, method, urlPath, body);
  if (res.status !== status) {
    throw new Error(
      `${method} ${urlPath}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body;
}

/** A Prometheus server of its own: loopback, a temporary TSDB, a 1 s scrape of `target`. */
async function startPrometheus(target: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-prometheus-'));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: backstage',
      '    scrape_interval: 1s',
      '    scrape_timeout: 1s',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'w');
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const exited = new Promise<void>(r => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      'prometheus is ready',
      async () => {
        if (child.exitCode !== null) {
          throw new Error(
            fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8'),
          );
        }
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
      },
      60_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

interface Sample {
  metric: Record<string, string>;
  value: number;
}

if (!fs.existsSync(PROMETHEUS)) {
  // eslint-disable-next-line no-console
  console.warn(
    `${PROMETHEUS} is not installed (scripts/provision.sh installs it): the Prometheus test does not run`,
  );
}
const describeWithPrometheus = fs.existsSync(PROMETHEUS)
  ? describe
  : describe.skip;

describeWithPrometheus(
  `the metrics export, scraped by Prometheus${
    fs.existsSync(PROMETHEUS)
      ? ''
      : ` (skipped: ${PROMETHEUS} is not installed; scripts/provision.sh installs it)`
  }`,
  () => {
    let backend: DemoBackend | undefined;
    let prometheus: { url: string; stop(): Promise<void> } | undefined;
    let tarballs: string | undefined;
    const watch = new AbortController();

    afterAll(async () => {
      watch.abort();
      await prometheus?.stop();
      await backend?.dispose();
      if (tarballs) fs.rmSync(tarballs, { recursive: true, force: true });
    });

    /** An instant PromQL query. */
    async function query(expr: string): Promise<Sample[]> {
      const res = await fetch(
        `${prometheus!.url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      const body = (await res.json()) as any;
      if (body.status !== 'success') {
        throw new Error(`${expr}: ${JSON.stringify(body)}`);
      }
      return body.data.result.map((r: any) => ({
        metric: r.metric,
        value: Number(r.value[1]),
      }));
    }

    /** The one value of `expr` once `accept` takes it (Prometheus scrapes every second). */
    async function valueOf(
      expr: string,
      accept: (value: number) => boolean = () => true,
    ): Promise<number> {
      let last: Sample[] = [];
      try {
        return await eventually(
          `${expr} answers an accepted value`,
          async () => {
            last = await query(expr);
            if (last.length !== 1) return undefined;
            return accept(last[0].value) ? last[0].value : undefined;
          },
        );
      } catch (error) {
        throw new Error(`${error}; last answer: ${JSON.stringify(last)}`);
      }
    }

    /** What the exporter serves now (the scrape Prometheus makes). */
    async function scrape(metricsPort: number) {
      return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    }

    async function proxied(pathName: string, times: number) {
      const statuses: number[] = [];
      for (let i = 0; i < times; i++) {
        const res = await fetch(
          `http://127.0.0.1:${
            backend!.dataPlanePort
          }/proxy/${PLUGIN}${pathName}`,
        );
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return statuses;
    }

    async function instances() {
      const res = await callApi(backend!, 'GET', `/plugins/${PLUGIN}`);
      return (
        res.body.instances as Array<{
          id: string;
          pid: number;
          port: number;
          status: string;
          version: string;
        }>
      ).filter(i => i.status === 'running');
    }

    it('exports every metric of the contract with the values the traffic implies', async () => {
      tarballs = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-metrics-tarballs-'));
      fs.chmodSync(tarballs, 0o755);
      await pack(tarballs);
      const metricsPort = await freePort();
      backend = await startDemoBackend({
        nodeEnv: 'production',
        metricsPort,
        shutdown: { gracePeriod: 3_000 },
        pluginLifecycle: {
          plugins: {
            [PLUGIN]: {
              artifact: {
                type: 'tarball',
                path: path.join(
                  tarballs,
                  'sample-http-service-$${version}.tgz',
                ),
              },
            },
          },
          runtime: { process: { stopGracePeriod: 3_000 } },
        },
      });
      // The exporter serves before anything is scraped.
      expect(await scrape(metricsPort)).toMatch(/^# HELP plugin_lifecycle_/m);
      prometheus = await startPrometheus(`127.0.0.1:${metricsPort}`);

      // A plugin installed and started, probed every second.
      const install = await accepted(
        backend,
        'POST',
        `/plugins/${PLUGIN}/install`,
        {
          version: '1.0.0',
          replicas: 1,
          start: true,
          healthProbes: [
            {
              name: 'ready',
              type: 'readiness',
              method: 'http',
              http: { path: '/ready' },
              periodSeconds: 1,
              failureThreshold: 1,
            },
          ],
        },
      );
      expect(
        await waitForOperation(backend, install.operationId),
      ).toMatchObject({
        status: 'succeeded',
      });
      const [first] = await instances();
      expect(first.version).toBe('1.0.0');

      // Through the Node data plane: 20 answered 200 and 5 answered 404.
      const ok = await eventually(
        'the data plane routes to the plugin',
        async () => {
          const [status] = await proxied('/', 1);
          return status === 200;
        },
      );
      expect(ok).toBe(true);
      expect(await proxied('/', 19)).toEqual(Array(19).fill(200));
      expect(await proxied('/nope', 5)).toEqual(Array(5).fill(404));

      // A configuration version, and a watch held open.
      await accepted(
        backend,
        'PATCH',
        `/plugins/${PLUGIN}/config/base`,
        { entries: [{ key: 'greeting', value: 'hello', type: 'string' }] },
        201,
      );
      const heldWatch = fetch(
        `${backend.api}/plugins/${PLUGIN}/config/production/watch?key=unused&timeoutMs=300000`,
        {
          headers: {
            Authorization: `Bearer plugin-lifecycle-shutdown-test-token-0123456789`,
          },
          signal: watch.signal,
        },
      ).catch(() => undefined);

      const lbl = `plugin="${PLUGIN}"`;
      expect(
        await valueOf(
          `plugin_lifecycle_plugins{state="running"}`,
          v => v === 1,
        ),
      ).toBe(1);
      const allStates = await query('plugin_lifecycle_plugins');
      // Every state has its series, 0 included.
      expect(allStates.map(s => s.metric.state).sort()).toEqual(
        [...LIFECYCLE_STATES].sort(),
      );
      expect(
        await valueOf(
          `plugin_lifecycle_plugin_state{${lbl},state="running"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_instances{${lbl},health="healthy"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_probe_results_total{${lbl},probe_type="readiness",result="success"}`,
          v => v >= 2,
        ),
      ).toBeGreaterThanOrEqual(2);
      expect(
        await valueOf(
          `plugin_lifecycle_probe_duration_seconds_count{${lbl},probe_type="readiness",method="http"}`,
          v => v >= 2,
        ),
      ).toBeGreaterThanOrEqual(2);
      const node = `service="${PLUGIN}",version="1.0.0",data_plane="node"`;
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_requests_total{${node},code_class="2xx"}`,
          v => v === 20,
        ),
      ).toBe(20);
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_requests_total{${node},code_class="4xx"}`,
          v => v === 5,
        ),
      ).toBe(5);
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_request_duration_seconds_count{${node}}`,
          v => v === 25,
        ),
      ).toBe(25);
      // Every request was answered within the histogram's last finite bucket.
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_request_duration_seconds_bucket{${node},le="30"}`,
        ),
      ).toBe(25);
      expect(
        await valueOf(
          `plugin_lifecycle_operation_duration_seconds_count{type="install",outcome="succeeded"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_operation_queue_depth{status="queued"}`,
        ),
      ).toBe(0);
      expect(
        await valueOf(
          `plugin_lifecycle_config_changes_total{${lbl}}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_config_version{${lbl},layer="base"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(`plugin_lifecycle_config_watchers`, v => v >= 1),
      ).toBeGreaterThanOrEqual(1);

      // A canary of 2.1.0 (answers 500 to everything but its probes) that
      // waits at half the traffic: active, and not progressing.
      const update = await accepted(
        backend,
        'POST',
        `/plugins/${PLUGIN}/update`,
        {
          version: '2.1.0',
          deploymentStrategy: 'canary',
          deploymentConfig: {
            canary: {
              steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }],
            },
          },
        },
      );
      expect(await waitForOperation(backend, update.operationId)).toMatchObject(
        {
          status: 'succeeded',
        },
      );
      const deploymentId = update.deploymentId as string;
      await eventually('the canary pauses', async () => {
        const res = await callApi(
          backend!,
          'GET',
          `/deployments/${deploymentId}`,
        );
        return res.body?.phase === 'paused';
      });
      expect(
        await valueOf(
          `plugin_lifecycle_deployments_active{strategy="canary"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_deployment_seconds_since_progress{${lbl},strategy="canary"}`,
          v => v >= 1,
        ),
      ).toBeGreaterThanOrEqual(1);
      const during = await proxied('/', 40);
      const failed = during.filter(s => s === 500).length;
      expect(failed).toBeGreaterThan(0);
      const bad = `service="${PLUGIN}",version="2.1.0",data_plane="node"`;
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_requests_total{${bad},code_class="5xx"}`,
          v => v === failed,
        ),
      ).toBe(failed);
      expect(
        await valueOf(
          `plugin_lifecycle_proxy_errors_total{${bad}}`,
          v => v === failed,
        ),
      ).toBe(failed);
      // The error rate per version the alert rule computes.
      expect(
        await valueOf(
          `sum by (version) (plugin_lifecycle_proxy_errors_total{service="${PLUGIN}",version="2.1.0"}) / sum by (version) (plugin_lifecycle_proxy_requests_total{service="${PLUGIN}",version="2.1.0"})`,
        ),
      ).toBe(1);

      await accepted(
        backend,
        'POST',
        `/deployments/${deploymentId}/abort`,
        {},
        200,
      );
      expect(
        await valueOf(
          `plugin_lifecycle_deployments_total{strategy="canary",outcome="aborted"}`,
          v => v === 1,
        ),
      ).toBe(1);
      expect(
        await valueOf(
          `plugin_lifecycle_deployments_active{strategy="canary"}`,
          v => v === 0,
        ),
      ).toBe(0);

      // The design's getSystemMetrics(), over HTTP, tells the same story.
      const system = await eventually(
        'the plugin runs healthy again',
        async () => {
          const res = await callApi(backend!, 'GET', '/metrics/system');
          return res.body?.plugins?.byState?.running === 1 &&
            res.body.healthMonitoring.healthyPlugins === 1
            ? res
            : undefined;
        },
      );
      expect(system.status).toBe(200);
      expect(system.body.plugins.byState.running).toBe(1);
      expect(system.body.healthMonitoring).toMatchObject({
        healthyPlugins: 1,
        unhealthyPlugins: 0,
      });
      expect(system.body.deployment).toMatchObject({
        activeDeployments: 0,
        completedDeployments: 1,
        // The one ended deployment was aborted.
        successRate: 0,
      });
      expect(system.body.serviceDiscovery).toMatchObject({
        totalRequests: 25 + during.length,
        servicesWithTraffic: 1,
      });
      expect(system.body.serviceDiscovery.averageResponseTime).toBeGreaterThan(
        0,
      );
      expect(system.body.serviceDiscovery.errorRate).toBeCloseTo(
        failed / (25 + during.length),
      );

      // Readiness fails on the instance, then recovers: verdict changes.
      const [serving] = await eventually(
        'one 1.0.0 instance serves',
        async () => {
          const list = await instances();
          return list.length === 1 && list[0].version === '1.0.0'
            ? list
            : undefined;
        },
      );
      const reload = (config: object) =>
        fetch(`http://127.0.0.1:${serving.port}/-/reload`, {
          method: 'POST',
          body: JSON.stringify(config),
        }).then(r => r.arrayBuffer());
      // Transitions so far (the canary's instances had theirs already), once
      // two scrapes agree: a transition of just before must not count as
      // the one the readiness failure causes.
      const transitions = `plugin_lifecycle_health_transitions_total{${lbl}}`;
      const before = await eventually('the transitions settled', async () => {
        const earlier = (await query(transitions))[0]?.value ?? 0;
        await new Promise(r => setTimeout(r, 2_500));
        const later = (await query(transitions))[0]?.value ?? 0;
        return earlier === later ? later : undefined;
      });
      await reload({ 'sample.failReadiness': true });
      await valueOf(
        `plugin_lifecycle_probe_results_total{${lbl},probe_type="readiness",result="failure"}`,
        v => v >= 1,
      );
      // Out of rotation (once the probe's failure threshold is reached: on a
      // loaded machine that takes more than the first failure), then back in.
      const out = await valueOf(transitions, v => v > before);
      await reload({});
      expect(await valueOf(transitions, v => v > out)).toBeGreaterThan(out);

      // A crash: the serving instance is killed, a restart is scheduled.
      const [victim] = await eventually('an instance serves', async () => {
        const list = await instances();
        return list.length === 1 ? list : undefined;
      });
      process.kill(victim.pid, 'SIGKILL');
      expect(
        await valueOf(
          `plugin_lifecycle_instance_restarts_total{${lbl}}`,
          v => v >= 1,
        ),
      ).toBeGreaterThanOrEqual(1);

      // The names the exporter serves, as Prometheus stored them.
      const names = await eventually(
        'every contract metric is stored',
        async () => {
          const res = await fetch(
            `${prometheus!.url}/api/v1/label/__name__/values`,
          );
          const stored = new Set<string>(((await res.json()) as any).data);
          const missing = CONTRACT.filter(name =>
            HISTOGRAMS.has(name)
              ? !stored.has(`${name}_bucket`)
              : !stored.has(name),
          );
          return missing.length === 0 ? stored : undefined;
        },
      );
      expect(names.size).toBeGreaterThan(CONTRACT.length);
      // For a look at what was scraped: PLUGIN_LIFECYCLE_SCRAPE_FILE=/tmp/x.
      if (process.env.PLUGIN_LIFECYCLE_SCRAPE_FILE) {
        fs.writeFileSync(
          process.env.PLUGIN_LIFECYCLE_SCRAPE_FILE,
          await scrape(metricsPort),
        );
      }
      watch.abort();
      await heldWatch;
    });

    it('has every metric a Grafana dashboard panel queries in the real scrape', async () => {
      expect(prometheus).toBeDefined();
      const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
      const exprs: string[] = [];
      const visit = (panels: any[] | undefined) => {
        for (const panel of panels ?? []) {
          for (const target of panel.targets ?? []) {
            if (typeof target.expr === 'string') exprs.push(target.expr);
          }
          visit(panel.panels);
        }
      };
      visit(dashboard.panels);
      expect(exprs.length).toBeGreaterThan(0);
      const queried = new Set(
        exprs.flatMap(
          expr => expr.match(/\bplugin_lifecycle_[a-z0-9_]+/g) ?? [],
        ),
      );
      expect(queried.size).toBeGreaterThan(0);
      const res = await fetch(
        `${prometheus!.url}/api/v1/label/__name__/values`,
      );
      const stored = new Set<string>(((await res.json()) as any).data);
      expect([...queried].filter(name => !stored.has(name))).toEqual([]);
    });
  },
);
