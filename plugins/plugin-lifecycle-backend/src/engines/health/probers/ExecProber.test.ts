import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../../../__testUtils__/sampleArtifacts';
import { ExecProbePolicy } from '../execProbePolicy';
import { ExecProber } from './ExecProber';
import { Probe, ProbeTarget } from './types';

jest.setTimeout(20_000);

const NODE = process.execPath;
const target: ProbeTarget = {
  host: '127.0.0.1',
  port: 4321,
  instanceId: 'sample-1',
  pluginId: 'sample',
};
const never = new AbortController().signal;

function probe(args: string[], overrides: Partial<Probe> = {}): Probe {
  return {
    name: 'alive',
    type: 'liveness',
    method: 'exec',
    exec: { command: NODE, args },
    ...overrides,
  };
}

/** The live (not zombie) processes of a process group, from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parens.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
  }
  return members;
}

async function waitFor<T>(read: () => T | undefined, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('waited in vain');
    await new Promise(r => setTimeout(r, 20));
  }
}

/**
 * A script that starts a grandchild sleeping forever, writes both pids to
 * the file given as its argument, then sleeps forever itself or exits.
 */
const SPAWN_AND = (then: 'sleep' | 'exit') => `
  const { spawn } = require('node:child_process');
  const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  require('node:fs').writeFileSync(process.argv[1], JSON.stringify({ pid: process.pid, grandchild: grandchild.pid }));
  ${then === 'sleep' ? 'setInterval(() => {}, 1000);' : 'process.exit(0);'}
`;

describe('ExecProber with real commands', () => {
  // Commands by name, and (for the missing command) any of the plugin's.
  const policy = ExecProbePolicy.create({
    allowedCommands: [NODE, 'env'],
    allowedPlugins: ['sample'],
  });
  const prober = ExecProber.create({ policy });
  let dir: string;

  beforeAll(() => {
    dir = makeTempDir('plugin-lifecycle-exec-probe-');
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes when the command exits with 0', async () => {
    await expect(
      prober.probe(target, probe(['-e', 'process.exit(0)']), never),
    ).resolves.toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      statusCode: 0,
      message: 'exited with code 0',
    });
  });

  it('fails with the exit code and the output otherwise', async () => {
    await expect(
      prober.probe(
        target,
        probe([
          '-e',
          'console.log("checking"); console.error("db down"); process.exit(1)',
        ]),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      statusCode: 1,
      message: expect.stringMatching(
        /^exited with code 1: (checking\ndb down|db down\nchecking)$/,
      ),
    });
  });

  it('reports a command killed by a signal', async () => {
    await expect(
      prober.probe(
        target,
        probe(['-e', 'process.kill(process.pid, "SIGTERM")']),
        never,
      ),
    ).resolves.toMatchObject({ ok: false, message: 'killed by SIGTERM' });
  });

  it('fails when the command does not exist', async () => {
    const outcome = await prober.probe(
      target,
      { ...probe([]), exec: { command: path.join(dir, 'no-such-command') } },
      never,
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(
      /^could not run ".*no-such-command": spawn .*no-such-command ENOENT$/,
    );
  });

  it('fails without exec settings', async () => {
    await expect(
      prober.probe(target, { ...probe([]), exec: undefined }, never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'an exec probe needs its "exec" settings',
    });
  });

  it("gives the command the target's host and port, and not the backend's environment", async () => {
    process.env.PLUGIN_LIFECYCLE_TEST_SECRET = 'do not leak';
    try {
      const script = `
        const env = process.env;
        const expected = { PROBE_HOST: '127.0.0.1', PROBE_PORT: '4321', PROBE_INSTANCE_ID: 'sample-1', PROBE_PLUGIN_ID: 'sample' };
        for (const [key, value] of Object.entries(expected)) {
          if (env[key] !== value) { console.error(key + '=' + env[key]); process.exit(2); }
        }
        if (env.PLUGIN_LIFECYCLE_TEST_SECRET !== undefined) process.exit(3);
        if (process.argv[1] !== 'http://127.0.0.1:4321/health') process.exit(4);
      `;
      await expect(
        prober.probe(
          target,
          probe(['-e', script, 'http://${HOST}:${PORT}/health']),
          never,
        ),
      ).resolves.toMatchObject({ ok: true });
    } finally {
      delete process.env.PLUGIN_LIFECYCLE_TEST_SECRET;
    }
  });

  it('keeps only the end of a long output', async () => {
    const small = ExecProber.create({ policy, maxOutputBytes: 100 });
    const outcome = await small.probe(
      target,
      probe([
        '-e',
        'process.stdout.write("a".repeat(100000) + "THE END"); process.exitCode = 1',
      ]),
      never,
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toBe(
      `exited with code 1: ${'a'.repeat(93)}THE END`,
    );
  });

  it('keeps 512 bytes of output by default, so the health API returns no dump', async () => {
    const outcome = await prober.probe(
      target,
      probe([
        '-e',
        'process.stdout.write("x".repeat(10000)); process.exitCode = 1',
      ]),
      never,
    );
    expect(outcome.message).toBe(`exited with code 1: ${'x'.repeat(512)}`);
  });

  it("runs `env` with PATH and the probe's variables only, none of the backend's", async () => {
    process.env.PLUGIN_LIFECYCLE_CANARY = 'backend-secret-canary';
    // Room for the whole environment: PATH alone can pass 512 bytes (in CI
    // it holds every node_modules/.bin on the way up).
    const roomy = ExecProber.create({ policy, maxOutputBytes: 65_536 });
    try {
      const outcome = await roomy.probe(
        target,
        { ...probe([]), exec: { command: 'env' } },
        never,
      );
      expect(outcome.ok).toBe(true);
      expect(outcome.message).not.toContain('backend-secret-canary');
      const names = outcome
        .message!.replace(/^exited with code 0: /, '')
        .split('\n')
        .map(line => line.split('=')[0])
        .sort();
      expect(names).toEqual([
        'PATH',
        'PROBE_HOST',
        'PROBE_INSTANCE_ID',
        'PROBE_PLUGIN_ID',
        'PROBE_PORT',
      ]);
    } finally {
      delete process.env.PLUGIN_LIFECYCLE_CANARY;
    }
  });

  it('kills the whole process group at the timeout', async () => {
    const file = path.join(dir, 'sleeper.json');
    const running = prober.probe(
      target,
      probe(['-e', SPAWN_AND('sleep'), file], { timeoutSeconds: 1.5 }),
      never,
    );
    const pids = await waitFor(() =>
      fs.existsSync(file)
        ? (JSON.parse(fs.readFileSync(file, 'utf8')) as {
            pid: number;
            grandchild: number;
          })
        : undefined,
    );
    expect(groupMembers(pids.pid)).toEqual(
      expect.arrayContaining([pids.pid, pids.grandchild]),
    );

    const outcome = await running;
    expect(outcome).toMatchObject({
      ok: false,
      message: 'timed out after 1500ms',
    });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(1450);
    expect(outcome.latencyMs).toBeLessThan(3000);
    await waitFor(() => (groupMembers(pids.pid).length ? undefined : true));
  });

  it('kills what a passing command left behind', async () => {
    const file = path.join(dir, 'leaver.json');
    const outcome = await prober.probe(
      target,
      probe(['-e', SPAWN_AND('exit'), file], { timeoutSeconds: 5 }),
      never,
    );
    expect(outcome.ok).toBe(true);
    const pids = JSON.parse(fs.readFileSync(file, 'utf8'));
    await waitFor(() => (groupMembers(pids.pid).length ? undefined : true));
  });

  it('kills the command when the caller aborts', async () => {
    const file = path.join(dir, 'aborted.json');
    const controller = new AbortController();
    const running = prober.probe(
      target,
      probe(['-e', SPAWN_AND('sleep'), file], { timeoutSeconds: 10 }),
      controller.signal,
    );
    const pids = await waitFor(() =>
      fs.existsSync(file)
        ? JSON.parse(fs.readFileSync(file, 'utf8'))
        : undefined,
    );
    controller.abort(new Error('instance stopped'));
    const outcome = await running;
    expect(outcome).toMatchObject({
      ok: false,
      message: 'aborted: instance stopped',
    });
    expect(outcome.latencyMs).toBeLessThan(5000);
    await waitFor(() => (groupMembers(pids.pid).length ? undefined : true));
  });
});

describe('ExecProber as the last line against commands nobody allowed', () => {
  it('runs nothing by default, naming the key that would allow it', async () => {
    const dir = makeTempDir('plugin-lifecycle-exec-refused-');
    const marker = path.join(dir, 'ran');
    try {
      const outcome = await ExecProber.create().probe(
        target,
        probe([
          '-e',
          `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`,
        ]),
        never,
      );
      expect(outcome.ok).toBe(false);
      expect(outcome.message).toContain(
        'pluginLifecycle.health.exec.allowedCommands',
      );
      expect(outcome.message).toContain(
        'pluginLifecycle.plugins.sample.allowExecProbes',
      );
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not let a service's health check use a plugin's allowance", async () => {
    const prober = ExecProber.create({
      policy: ExecProbePolicy.create({ allowedPlugins: ['sample'] }),
    });
    const script = probe(['-e', 'process.exit(0)']);
    await expect(prober.probe(target, script, never)).resolves.toMatchObject({
      ok: true,
    });
    const outcome = await prober.probe(
      { ...target, serviceName: 'sample' },
      script,
      never,
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(
      /of service 'sample' is not allowed; an operator may allow it with pluginLifecycle\.health\.exec\.allowedCommands in app-config$/,
    );
  });
});
