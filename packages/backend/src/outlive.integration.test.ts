/*
 * Issue #13: instances outlive the backend. The demo backend (the real one,
 * a child process) is stopped with SIGTERM and killed with SIGKILL while
 * plugins run; the backend started after it adopts their instances (same
 * pid, no restart) and they serve throughout, straight on their ports and
 * through the nginx data plane (when nginx is installed). A backend killed
 * during an update of the broken sample version never leaves fewer
 * instances serving than before the update. Orphans of each kind (an
 * instance never recorded, one that renamed itself, an install step left
 * running) are stopped by the next backend; a plain process is not.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import {
  DemoBackend,
  callApi,
  startDemoBackend,
  timeToExit,
} from './__testUtils__/shutdownHarness';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../../..');
const SAMPLE = path.join(ROOT, 'examples/sample-http-service/server.js');
// Where the plugin looks for nginx when the configuration does not say.
const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(f => fs.existsSync(f));

/** In the command lines of the orphans made here, to find them in /proc. */
const MARKER = `outlive-${process.pid}-${Date.now()}`;
// A plugin that renames its process title (as http-server does) and, on
// SIGUSR2, stops listening while its process runs on.
const RENAMER = `process.title = 'renamed-${MARKER}'; const s = require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT), '127.0.0.1'); process.on('SIGUSR2', () => { s.close(); s.closeAllConnections(); }); setInterval(() => {}, 1000);`;
// A package whose prepare script hangs: npm packing it is an install step
// that does not end by itself.
const HANGING = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-hanging-package-'));
// npm packs it as the plugin's own user when the tests run as root.
fs.chmodSync(HANGING, 0o755);
fs.writeFileSync(
  path.join(HANGING, 'package.json'),
  JSON.stringify({
    name: 'hanging-package',
    version: '1.0.0',
    main: 'index.js',
    scripts: {
      prepare: `node -e "setTimeout(() => {}, 120000)" hang-${MARKER}`,
    },
  }),
);
fs.writeFileSync(path.join(HANGING, 'index.js'), '');

interface Instance {
  id: string;
  pid: number;
  port: number;
  host: string;
  status: string;
  owner: string;
  version: string;
}

async function plugin(backend: DemoBackend, id: string) {
  const res = await callApi(backend, 'GET', `/plugins/${id}`);
  if (res.status !== 200) {
    throw new Error(
      `GET /plugins/${id}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body as {
    state: string;
    currentVersion?: string;
    instances: Instance[];
  };
}

const running = (instances: Instance[]) =>
  instances.filter(i => i.status === 'running');

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

async function act(
  backend: DemoBackend,
  pluginId: string,
  action: string,
  body: unknown,
) {
  const res = await callApi(
    backend,
    'POST',
    `/plugins/${pluginId}/${action}`,
    body,
  );
  if (res.status !== 202) {
    throw new Error(
      `${action} refused: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body.operationId as string;
}

/** Start time of a process (/proc/<pid>/stat field 22), undefined when gone or a zombie. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' ? undefined : rest[19];
  } catch {
    return undefined;
  }
}

/** Whether the very process (pid and start time) still runs. */
const stillRuns = (p: { pid: number; startTime?: string }) =>
  p.startTime !== undefined && startTimeOf(p.pid) === p.startTime;

/** Processes whose command line holds `marker`. */
function processesWith(
  marker: string,
): Array<{ pid: number; startTime?: string }> {
  const found: Array<{ pid: number; startTime?: string }> = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) {
        const pid = Number(name);
        found.push({ pid, startTime: startTimeOf(pid) });
      }
    } catch {
      // gone
    }
  }
  return found.filter(p => p.pid !== process.pid);
}

/** Whether something accepts TCP connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000, () => socket.destroy(new Error('timeout')));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

/** A bounded load: `rate` GETs per second to each target, counted. */
function startLoad(
  targets: Array<{ name: string; url: () => string }>,
  rate = 50,
) {
  // A connection per request: a keep-alive connection that the server
  // closes as idle just when a request goes out would count as a failure
  // that says nothing about whether the instance serves.
  const agent = new http.Agent({ keepAlive: false, maxSockets: 32 });
  const counts = new Map(
    targets.map(t => [t.name, { ok: 0, failed: 0, errors: [] as string[] }]),
  );
  const inFlight = new Set<Promise<void>>();
  const one = (target: (typeof targets)[number]) => {
    const count = counts.get(target.name)!;
    const done = new Promise<void>(resolve => {
      const req = http.get(target.url(), { agent, timeout: 5_000 }, res => {
        res.resume();
        res.once('end', () => {
          if (res.statusCode === 200) count.ok++;
          else {
            count.failed++;
            count.errors.push(`status ${res.statusCode}`);
          }
          resolve();
        });
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', e => {
        count.failed++;
        count.errors.push(e.message);
        resolve();
      });
    });
    inFlight.add(done);
    done.finally(() => inFlight.delete(done));
  };
  const timer = setInterval(() => targets.forEach(one), 1000 / rate);
  return {
    counts,
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      agent.destroy();
      return counts;
    },
  };
}

describe('instances outlive the backend (issue #13)', () => {
  const leftovers: number[] = [];
  let last: DemoBackend | undefined;

  afterAll(async () => {
    fs.rmSync(HANGING, { recursive: true, force: true });
    await last?.dispose({ keepData: true });
    // What the backends left running on purpose: instances and nginx.
    if (last) {
      for (const dir of ['.journal']) {
        const journal = path.join(last.work, 'plugin-lifecycle', dir);
        for (const name of fs.existsSync(journal)
          ? fs.readdirSync(journal)
          : []) {
          try {
            const entry = JSON.parse(
              fs.readFileSync(path.join(journal, name), 'utf8'),
            );
            leftovers.push(entry.processGroup);
          } catch {
            // half written
          }
        }
      }
      const nginxPid = path.join(
        last.work,
        'plugin-lifecycle',
        '.nginx',
        'nginx.pid',
      );
      if (fs.existsSync(nginxPid)) {
        try {
          process.kill(Number(fs.readFileSync(nginxPid, 'utf8')), 'SIGQUIT');
        } catch {
          // gone
        }
      }
    }
    for (const group of leftovers) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await last?.dispose();
  });

  function start(restartOf?: DemoBackend) {
    return startDemoBackend({
      nodeEnv: 'production',
      restartOf,
      shutdown: { gracePeriod: 3_000 },
      dataPlane: nginx ? { engine: 'nginx' } : undefined,
      pluginLifecycle: {
        plugins: {
          'outlive-sample': {
            artifact: {
              type: 'command',
              command: process.execPath,
              args: [SAMPLE],
            },
          },
          // Listens only after 20 s, and an instance is recorded once it
          // listens: a backend killed before then never recorded it.
          'outlive-unrecorded': {
            artifact: {
              type: 'command',
              command: 'sh',
              args: [
                '-c',
                `sleep 20; exec ${process.execPath} ${SAMPLE} # unrecorded-${MARKER}`,
              ],
            },
          },
          'outlive-renamed': {
            artifact: {
              type: 'command',
              command: process.execPath,
              args: ['-e', RENAMER],
            },
          },
          'outlive-hanging': {
            artifact: {
              type: 'npm',
              package: 'hanging-package',
              version: `file:${HANGING}`,
            },
          },
          'outlive-update': {
            artifact: {
              type: 'tarball',
              path: path.join(
                ROOT,
                'examples/dist/sample-http-service-$${version}.tgz',
              ),
            },
          },
        },
        runtime: {
          process: {
            readyTimeout: 8_000,
            stopGracePeriod: 3_000,
            npm: { allowScripts: true },
          },
        },
      },
    }).then(b => {
      last = b;
      return b;
    });
  }

  it('keeps serving through a backend SIGTERM and a SIGKILL, and adopts the instances', async () => {
    let backend = await start();
    const install = await act(backend, 'outlive-sample', 'install', {
      version: '1.0.0',
      replicas: 2,
      start: true,
    });
    expect(await waitForOperation(backend, install)).toMatchObject({
      status: 'succeeded',
    });
    const before = running((await plugin(backend, 'outlive-sample')).instances);
    expect(before).toHaveLength(2);
    const starts = new Map(before.map(i => [i.id, startTimeOf(i.pid)]));

    const targets = before.map(i => ({
      name: `instance ${i.id}`,
      url: () => `http://127.0.0.1:${i.port}/`,
    }));
    if (nginx) {
      // Through nginx once it routes to the instances.
      await eventually('nginx routes to the plugin', async () => {
        const res = await fetch(
          `http://127.0.0.1:${backend.dataPlanePort}/proxy/outlive-sample/`,
        ).catch(() => undefined);
        return res?.status === 200 || undefined;
      });
      targets.push({
        name: 'nginx data plane',
        url: () =>
          `http://127.0.0.1:${backend.dataPlanePort}/proxy/outlive-sample/`,
      });
    }
    const load = startLoad(targets);

    /** The instances, once they are owned by none of `previous`. */
    const adoptedBy = (b: DemoBackend, previous: Set<string>) =>
      eventually('the instances are adopted', async () => {
        const p = await plugin(b, 'outlive-sample');
        const live = running(p.instances);
        return live.length === 2 && live.every(i => !previous.has(i.owner))
          ? p
          : undefined;
      });

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const owners = new Set(
        running((await plugin(backend, 'outlive-sample')).instances).map(
          i => i.owner,
        ),
      );
      const exit = await timeToExit(backend, signal, 30_000);
      expect(exit.ms).toBeDefined();
      for (const i of before) expect(startTimeOf(i.pid)).toBe(starts.get(i.id));
      backend = await start(backend);
      // Adopted: the same instances, the same processes, owned by the new
      // backend; no instance was started, none stopped.
      const after = await adoptedBy(backend, owners);
      expect(after.state).toBe('running');
      expect(after.instances.map(i => [i.id, i.pid, i.status]).sort()).toEqual(
        before.map(i => [i.id, i.pid, 'running']).sort(),
      );
      for (const i of before) expect(startTimeOf(i.pid)).toBe(starts.get(i.id));
      // A second of traffic on the new backend's watch.
      await new Promise(r => setTimeout(r, 1_000));
      // eslint-disable-next-line no-console
      console.log(
        `after backend ${signal}: ${JSON.stringify(
          Object.fromEntries(load.counts),
        )}`,
      );
    }
    const counts = await load.stop();
    for (const [name, count] of counts) {
      expect({
        name,
        failed: count.failed,
        errors: count.errors.slice(0, 5),
      }).toEqual({
        name,
        failed: 0,
        errors: [],
      });
      expect(count.ok).toBeGreaterThan(100);
    }
    // No restart recorded: the plugin never left running.
    const history = await callApi(
      backend,
      'GET',
      '/plugins/outlive-sample/history',
    );
    expect(
      history.body.items.map((h: any) => `${h.fromState}->${h.toState}`),
    ).not.toContain('running->error');
  });

  it('never drops below the capacity it had when the backend is killed during an update of the broken version', async () => {
    const pack = require(path.join(ROOT, 'examples/scripts/pack.js'));
    await pack();
    let backend = last?.child.exitCode === null ? last : await start();
    const install = await act(backend, 'outlive-update', 'install', {
      version: '1.1.0',
      replicas: 2,
      start: true,
    });
    expect(await waitForOperation(backend, install)).toMatchObject({
      status: 'succeeded',
    });
    const before = running((await plugin(backend, 'outlive-update')).instances);
    expect(before).toHaveLength(2);

    // Capacity: how many 1.1.0 instances answer ready, sampled throughout.
    const known = new Map(before.map(i => [i.id, i]));
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const ready = await Promise.all(
          [...known.values()].map(i =>
            fetch(`http://127.0.0.1:${i.port}/ready`, {
              signal: AbortSignal.timeout(2_000),
            }).then(
              r => r.status === 200,
              () => false,
            ),
          ),
        );
        samples.push(ready.filter(Boolean).length);
        await new Promise(r => setTimeout(r, 100));
      }
    })();

    const posted = await callApi(
      backend,
      'POST',
      '/plugins/outlive-update/update',
      { version: '2.0.0' },
    );
    expect(posted.status).toBe(202);
    // The operation installs 2.0.0 and hands the instances over to the
    // deployment, which starts the 2.0.0 instances.
    const { operationId: update, deploymentId } = posted.body as {
      operationId: string;
      deploymentId: string;
    };
    // Killed once the broken version's first instance is there.
    await eventually(
      'a 2.0.0 instance starts',
      async () =>
        (
          await plugin(backend, 'outlive-update')
        ).instances.some(i => i.version === '2.0.0') || undefined,
    );
    await timeToExit(backend, 'SIGKILL', 30_000);
    backend = await start(backend);
    const op = await waitForOperation(backend, update);
    // The next backend resumes the deployment where it was (after the
    // killed one's claim expired) and rolls it back.
    const deployment = await eventually(
      'the deployment ends',
      async () => {
        const res = await callApi(
          backend,
          'GET',
          `/deployments/${deploymentId}`,
        );
        return ['succeeded', 'failed', 'rolled-back', 'aborted'].includes(
          res.body.phase,
        )
          ? res.body
          : undefined;
      },
      120_000,
    );
    // Newer 1.1.0 instances count too, should the update start any.
    for (const i of running(
      (await plugin(backend, 'outlive-update')).instances,
    )) {
      if (i.version === '1.1.0') known.set(i.id, i);
    }
    await new Promise(r => setTimeout(r, 1_000));
    sampling = false;
    await sampler;
    // eslint-disable-next-line no-console
    console.log(
      `update to the broken 2.0.0, backend SIGKILLed: operation ${
        op.status
      }, deployment ${deployment.phase}; ready 1.1.0 instances min ${Math.min(
        ...samples,
      )} over ${samples.length} samples`,
    );
    // The hand-over was done before the kill (a 2.0.0 instance ran).
    expect(op.status).toBe('succeeded');
    expect(deployment).toMatchObject({
      phase: 'rolled-back',
      message: expect.stringMatching(/2\.0\.0 did not become ready/),
      traffic: { '1.1.0': 100 },
    });
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2);
    const after = await plugin(backend, 'outlive-update');
    expect(after).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    expect(running(after.instances).map(i => i.version)).toEqual([
      '1.1.0',
      '1.1.0',
    ]);
  });

  it('stops orphans of every kind on the next start, and never a plain process', async () => {
    let backend = last?.child.exitCode === null ? last : await start();
    const renamed = await act(backend, 'outlive-renamed', 'install', {
      version: '1.0.0',
      start: true,
    });
    expect(await waitForOperation(backend, renamed)).toMatchObject({
      status: 'succeeded',
    });
    const [renamedInstance] = running(
      (await plugin(backend, 'outlive-renamed')).instances,
    );
    const renamedProcess = {
      pid: renamedInstance.pid,
      startTime: startTimeOf(renamedInstance.pid),
    };
    expect(
      fs.readFileSync(`/proc/${renamedInstance.pid}/cmdline`, 'utf8'),
    ).toContain(`renamed-${MARKER}`);

    // An instance the backend will die before recording: it listens only
    // after 20 s, and the record is written once it listens.
    await act(backend, 'outlive-unrecorded', 'install', {
      version: '1.0.0',
      start: true,
    });
    // An install step left running: npm packs a directory whose prepare
    // script hangs.
    await act(backend, 'outlive-hanging', 'install', { version: '1.0.0' });
    const unrecorded = await eventually('the unrecorded instance runs', () => {
      const found = processesWith(`unrecorded-${MARKER}`);
      return found.length > 0 ? found : undefined;
    });
    const installStep = await eventually('the install step hangs', () => {
      const found = processesWith(`hang-${MARKER}`);
      return found.length > 0 ? found : undefined;
    });
    // A process no backend started, in a group of its own.
    const plain: ChildProcess = spawn('sleep', ['300'], {
      detached: true,
      stdio: 'ignore',
    });
    leftovers.push(plain.pid!);
    const plainProcess = {
      pid: plain.pid!,
      startTime: startTimeOf(plain.pid!),
    };

    process.kill(renamedInstance.pid, 'SIGUSR2');
    await eventually(
      'the renamed instance stops listening',
      async () => !(await accepts(renamedInstance.port)) || undefined,
    );
    await timeToExit(backend, 'SIGKILL', 30_000);
    expect(stillRuns(renamedProcess)).toBe(true);
    expect(unrecorded.every(stillRuns)).toBe(true);
    expect(installStep.every(stillRuns)).toBe(true);

    backend = await start(backend);
    // The start reconciles before it resumes anything: by now they are gone.
    expect(stillRuns(renamedProcess)).toBe(false);
    expect(unrecorded.filter(stillRuns)).toEqual([]);
    expect(installStep.filter(stillRuns)).toEqual([]);
    expect(stillRuns(plainProcess)).toBe(true);
    const output = backend.output();
    expect(output).toMatch(/stopping an orphaned install step/);
    expect(output).toMatch(
      /stopping an orphaned instance of plugin outlive-unrecorded/,
    );
    plain.kill('SIGKILL');
  });
});
