/*
 * The README's "Using it" examples, run as written: every shell block of that
 * section, in order, in one shell state (variables carry from block to
 * block), against this demo backend started as `npm start` starts it (the
 * repository's app-config.yaml, guest sign-in, the example plugins), with
 * throwaway data and free ports in place of 7007, 8080 and 9464. Every curl fails
 * the block on an HTTP error (curl --fail-with-body), so an example that
 * answers 4xx/5xx is a failed test.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, stopJournaledGroups } from './__testUtils__/shutdownHarness';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../../..');
const README = path.join(ROOT, 'README.md');

/** The ```sh blocks of the README section with this heading. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map(m => m[1]);
}

function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some(dir => fs.existsSync(path.join(dir, name)));
}

/** Sends a signal to a process group, ignoring one that is gone. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('the README examples, as written, against the demo backend', () => {
  const blocks = shellBlocks(fs.readFileSync(README, 'utf8'), 'Using it');
  const work = fs.mkdtempSync(
    path.join(os.tmpdir(), 'plugin-lifecycle-readme-'),
  );
  // As root, plugins run as their own users, who pass through here to
  // their directories under the data directory (docs/security/isolation.md).
  fs.chmodSync(work, 0o711);
  const state = path.join(work, 'shell-state.sh');
  const groups: number[] = [];
  let backend: ChildProcess | undefined;
  let backendPort = 0;
  let servicePort = 0;
  let metricsPort = 0;
  let backendLog = '';

  beforeAll(async () => {
    for (const tool of ['bash', 'curl', 'jq']) {
      if (!hasCommand(tool)) {
        throw new Error(
          `${tool} is not installed (sudo apt-get install -y ${tool}); the README's examples use it`,
        );
      }
    }
    backendPort = await freePort();
    servicePort = await freePort();
    metricsPort = await freePort();
    fs.writeFileSync(state, '');
    const config = path.join(work, 'app-config.readme.yaml');
    fs.writeFileSync(
      config,
      [
        'app:',
        `  baseUrl: http://localhost:${backendPort}`,
        'backend:',
        `  baseUrl: http://localhost:${backendPort}`,
        '  listen:',
        `    port: ${backendPort}`,
        '  database:',
        '    client: better-sqlite3',
        '    connection:',
        `      directory: ${path.join(work, 'sqlite')}`,
        'pluginLifecycle:',
        `  dataDir: ${path.join(work, 'plugin-lifecycle')}`,
        // Instances outlive a backend by default; the test's end with it.
        '  shutdown:',
        '    stopInstances: true',
        '',
      ].join('\n'),
    );
    // The artifacts the example catalog's plugins install (as npm start does).
    const pack = spawn(process.execPath, ['examples/scripts/pack.js'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    await exited(pack, 60_000);

    const log = fs.openSync(path.join(work, 'backend.log'), 'w');
    backend = spawn(
      process.execPath,
      [
        require.resolve('@backstage/cli/bin/backstage-cli'),
        'package',
        'start',
        // As the backend's start script: the OpenTelemetry SDK with the
        // Prometheus exporter, on a free port in place of 9464.
        '--require',
        './src/instrumentation.js',
        '--config',
        path.join(ROOT, 'app-config.yaml'),
        '--config',
        config,
      ],
      {
        cwd: path.join(ROOT, 'packages/backend'),
        env: {
          ...process.env,
          NODE_ENV: 'development',
          PLUGIN_LIFECYCLE_METRICS_PORT: String(metricsPort),
        },
        stdio: ['ignore', log, log],
        detached: true, // its own process group, stopped as a whole
      },
    );
    const readiness = `http://localhost:${backendPort}/.backstage/health/v1/readiness`;
    const deadline = Date.now() + 150_000;
    for (;;) {
      if (backend.exitCode !== null) break;
      const ok = await fetch(readiness).then(
        r => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) break;
      await new Promise(r => setTimeout(r, 500));
    }
    backendLog = fs.readFileSync(path.join(work, 'backend.log'), 'utf8');
    throw new Error(
      `the demo backend did not become ready:\n${backendLog.slice(-3000)}`,
    );
  });

  afterAll(async () => {
    for (const pid of groups) killGroup(pid, 'SIGKILL');
    if (backend) {
      // SIGTERM lets the backend stop the plugin instances it started.
      killGroup(backend.pid, 'SIGTERM');
      if (!(await exited(backend, 30_000))) killGroup(backend.pid, 'SIGKILL');
    }
    stopJournaledGroups(path.join(work, 'plugin-lifecycle'));
    fs.rmSync(work, { recursive: true, force: true });
  });

  /**
   * Runs one block in bash, in the variables the blocks before it left, and
   * keeps the variables it sets for the next.
   */
  async function runBlock(block: string): Promise<string> {
    const script = [
      'set -euo pipefail',
      'curl() { command curl --fail-with-body --show-error "$@"; }',
      `source ${JSON.stringify(state)}`,
      '__before=$(compgen -v | sort)',
      block
        .replaceAll('localhost:7007', `localhost:${backendPort}`)
        .replaceAll('8080', String(servicePort))
        .replaceAll('localhost:9464', `localhost:${metricsPort}`),
      `for __v in $(comm -13 <(echo "$__before") <(compgen -v | sort)); do`,
      `  [[ $__v == __* ]] || declare -p "$__v"`,
      `done >> ${JSON.stringify(state)}`,
    ].join('\n');
    const out = path.join(work, `block-${groups.length}.out`);
    const fd = fs.openSync(out, 'w');
    // A file, not a pipe, for output: a server a block starts in the
    // background keeps its output open after the block ends.
    const shell = spawn('bash', ['-c', script], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    groups.push(shell.pid!);
    const code = await new Promise<number | null>(resolve =>
      shell.once('exit', c => resolve(c)),
    );
    fs.closeSync(fd);
    const output = fs.readFileSync(out, 'utf8');
    if (code !== 0) {
      throw new Error(
        `this README block exited with ${code}:\n${block}\n--- its output:\n${output}`,
      );
    }
    return output;
  }

  const api = async (p: string) => {
    const token = (
      await (
        await fetch(
          `http://localhost:${backendPort}/api/auth/guest/refresh?env=development`,
          { headers: { 'X-Requested-With': 'XMLHttpRequest' } },
        )
      ).json()
    ).backstageIdentity.token;
    const res = await fetch(
      `http://localhost:${backendPort}/api/plugin-lifecycle${p}`,
      { headers: { Authorization: `Bearer ${token}` } },
    );
    expect(res.status).toBe(200);
    return res.json();
  };

  it('has the blocks this test knows', () => {
    // A block added to the README is run below only once this test says what
    // it must show: update both together.
    expect(blocks).toHaveLength(7);
  });

  it('gets a guest token', async () => {
    await runBlock(blocks[0]);
    expect(fs.readFileSync(state, 'utf8')).toMatch(/TOKEN="eyJ/);
  });

  it('installs and starts the sample plugin', async () => {
    const output = await runBlock(blocks[1]);
    expect(output).toContain('"status": "succeeded"');
    expect(output).toContain('"state": "running"');
    const plugin = await api('/plugins/sample-http-service');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.0.0' });
  });

  it('runs a batch over the example plugins', async () => {
    const output = await runBlock(blocks[2]);
    const outcomes = output
      .trim()
      .split('\n')
      .map(line => JSON.parse(line));
    expect(outcomes).toEqual([
      {
        pluginId: 'sample-grpc-service',
        type: 'install',
        status: 'succeeded',
      },
      {
        pluginId: 'sample-http-service',
        type: 'restart',
        status: 'succeeded',
      },
    ]);
    expect(await api('/plugins/sample-grpc-service')).toMatchObject({
      state: 'running',
    });
  });

  it('updates the running plugin with a canary deployment to its end', async () => {
    const output = JSON.parse(await runBlock(blocks[3]));
    expect(output).toEqual({
      phase: 'succeeded',
      traffic: { '1.1.0': 100 },
      steps: expect.arrayContaining(['finish succeeded']),
    });
    for (const step of output.steps) expect(step).toMatch(/ succeeded$/);
    expect(await api('/plugins/sample-http-service')).toMatchObject({
      state: 'running',
      currentVersion: '1.1.0',
    });
  });

  it('writes configuration, also a second time', async () => {
    const first = await runBlock(blocks[4]);
    expect(first).toContain('"layer": "development"');
    expect(first).toContain('"********"');
    expect(first).not.toContain('s3cret');
    // The same write again changes nothing: it answers the same version.
    const second = await runBlock(blocks[4]);
    expect(second).toContain('"layer": "development"');
    expect(second).toContain('"version": 1,');
    const versions = await api(
      '/plugins/sample-http-service/config/development/versions',
    );
    expect(versions.items.map((v: { version: number }) => v.version)).toEqual([
      1,
    ]);
  });

  it('registers a service on this machine and reaches it through the proxy', async () => {
    const output = await runBlock(blocks[5]);
    expect(output).toContain('"serviceId": "my-api-1"');
    expect(output).toContain(`"url": "http://127.0.0.1:${servicePort}"`);
    expect(output).toContain('{"status":"ok"}');
    expect(output).toMatch(/"verdict": "\w+"/);
  });

  it('shows the metrics on the Prometheus endpoint', async () => {
    const output = await runBlock(blocks[6]);
    // What the blocks above did is in the scrape.
    expect(output).toMatch(
      /^plugin_lifecycle_plugin_state\{plugin="sample-http-service",state="running"[^}]*\} 1$/m,
    );
    expect(output).toMatch(
      /^plugin_lifecycle_proxy_requests_total\{service="my-api",[^}]*code_class="2xx"[^}]*\} [1-9]/m,
    );
  });
});
