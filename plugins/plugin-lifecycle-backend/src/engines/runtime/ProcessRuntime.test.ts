import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
import { NotFoundError } from '@backstage/errors';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import {
  isProcessAlive,
  makeTempDir,
  packSampleArtifacts,
} from '../../__testUtils__/sampleArtifacts';
import { ProcessRuntime } from './ProcessRuntime';

jest.setTimeout(30_000);

describe('ProcessRuntime with the real sample service', () => {
  let artifacts: Awaited<ReturnType<typeof packSampleArtifacts>>;
  let runtime: ProcessRuntime;
  let dataDir: string;
  const artifact = () => ({
    type: 'tarball' as const,
    path: artifacts.tarballTemplate,
  });

  beforeAll(async () => {
    artifacts = await packSampleArtifacts();
  });

  beforeEach(() => {
    dataDir = makeTempDir('plugin-lifecycle-data-');
    runtime = ProcessRuntime.create({
      logger: mockServices.logger.mock(),
      dataDir,
      startTimeoutMs: 5_000,
    });
  });

  afterEach(async () => {
    await runtime.shutdown({ gracePeriodMs: 1000 });
  });

  async function installAndStart(
    version: string,
    env: Record<string, string> = {},
  ) {
    const installed = await runtime.install({
      pluginId: 'sample',
      version,
      artifact: artifact(),
    });
    const instance = await runtime.startInstance({
      pluginId: 'sample',
      version,
      instanceId: `sample-${version}`,
      artifact: artifact(),
      location: installed.location,
      env,
    });
    return { installed, instance };
  }

  it('installs a version into its own directory and reads its manifest', async () => {
    const installed = await runtime.install({
      pluginId: 'sample',
      version: '1.1.0',
      artifact: artifact(),
    });
    expect(installed.location).toBe(path.join(dataDir, 'sample', '1.1.0'));
    expect(
      JSON.parse(
        fs.readFileSync(path.join(installed.location!, 'package.json'), 'utf8'),
      ).version,
    ).toBe('1.1.0');
    expect(installed.manifest?.probes?.map(p => p.type)).toEqual([
      'startup',
      'readiness',
      'liveness',
    ]);

    await runtime.uninstall({ pluginId: 'sample', version: '1.1.0' });
    expect(fs.existsSync(path.join(dataDir, 'sample'))).toBe(false);
  });

  it('refuses a version whose artifact does not exist, and leaves nothing behind', async () => {
    await expect(
      runtime.install({
        pluginId: 'sample',
        version: '9.9.9',
        artifact: artifact(),
      }),
    ).rejects.toThrow(NotFoundError);
    await expect(
      runtime.install({
        pluginId: 'sample',
        version: '9.9.9',
        artifact: artifact(),
      }),
    ).rejects.toThrow(/sample-http-service-9\.9\.9\.tgz does not exist/);
    expect(fs.existsSync(path.join(dataDir, 'sample', '9.9.9'))).toBe(false);
  });

  it('starts an instance on a free port with its environment, and stops it gracefully', async () => {
    const { instance } = await installAndStart('1.0.0', {
      PLUGIN_INSTANCE_ID: 'sample-1.0.0',
      PLUGIN_CONFIG_GREETING: 'hello',
    });
    expect(instance.port).toBeGreaterThan(0);
    const root = await (
      await fetch(`http://${instance.host}:${instance.port}/`)
    ).json();
    expect(root).toMatchObject({
      service: 'sample-http-service',
      version: '1.0.0',
      instanceId: 'sample-1.0.0',
    });
    const config = await (
      await fetch(`http://${instance.host}:${instance.port}/config`)
    ).json();
    expect(config).toMatchObject({ PLUGIN_CONFIG_GREETING: 'hello' });
    // the backend's own environment is not passed on
    expect(Object.keys(config)).not.toContain('JEST_WORKER_ID');

    const exits: RuntimeInstanceExit[] = [];
    runtime.onInstanceExit(e => exits.push(e));
    const result = await runtime.stopInstance({
      pluginId: 'sample',
      instanceId: instance.instanceId,
      gracePeriodMs: 5_000,
    });
    expect(result).toEqual({ exitCode: 0, signal: null, forced: false });
    expect(isProcessAlive(instance.pid!)).toBe(false);
    expect(await runtime.isAlive(instance.instanceId)).toBe(false);
    expect(exits).toEqual([
      expect.objectContaining({
        instanceId: instance.instanceId,
        expected: true,
        exitCode: 0,
      }),
    ]);
  });

  it('kills an instance that ignores SIGTERM once the grace period is over', async () => {
    const { instance } = await installAndStart('1.0.0', {
      SAMPLE_IGNORE_SIGTERM: '1',
    });
    const started = Date.now();
    const result = await runtime.stopInstance({
      pluginId: 'sample',
      instanceId: instance.instanceId,
      gracePeriodMs: 300,
    });
    expect(result).toEqual({ exitCode: null, signal: 'SIGKILL', forced: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(isProcessAlive(instance.pid!)).toBe(false);
  });

  it('says why when an instance exits at once', async () => {
    await expect(
      installAndStart('1.0.0', { SAMPLE_EXIT_IMMEDIATELY: '1' }),
    ).rejects.toThrow(
      /instance exited during start with code 3: .*exiting at once as asked/,
    );
  });

  it('notices a crash', async () => {
    const { instance } = await installAndStart('1.0.0');
    const exited = new Promise<RuntimeInstanceExit>(resolve =>
      runtime.onInstanceExit(resolve),
    );
    process.kill(instance.pid!, 'SIGKILL');
    await expect(exited).resolves.toMatchObject({
      instanceId: instance.instanceId,
      expected: false,
      signal: 'SIGKILL',
    });
    expect(await runtime.isAlive(instance.instanceId)).toBe(false);
  });

  it('runs a command artifact with ${PORT} in its arguments', async () => {
    const script = path.join(artifacts.dir, 'echo-server.js');
    fs.writeFileSync(
      script,
      "require('http').createServer((q, s) => s.end('port ' + process.argv[2])).listen(Number(process.argv[2]), '127.0.0.1');",
    );
    const commandArtifact = {
      type: 'command' as const,
      command: process.execPath,
      args: [script, '${PORT}'],
    };
    await runtime.install({
      pluginId: 'cmd',
      version: '1.0.0',
      artifact: commandArtifact,
    });
    const instance = await runtime.startInstance({
      pluginId: 'cmd',
      version: '1.0.0',
      instanceId: 'cmd-1',
      artifact: commandArtifact,
      env: {},
    });
    const body = await (
      await fetch(`http://127.0.0.1:${instance.port}/`)
    ).text();
    expect(body).toBe(`port ${instance.port}`);
  });

  it('stops an orphan left by an earlier backend, and nothing that is not its own', async () => {
    const { instance } = await installAndStart('1.0.0');
    // a backend restarted after a SIGKILL: same data directory, new runtime
    const restarted = ProcessRuntime.create({
      logger: mockServices.logger.mock(),
      dataDir,
    });
    const orphan = {
      pluginId: 'sample',
      version: '1.0.0',
      instanceId: 'old',
      pid: instance.pid,
    };
    expect(await restarted.reapOrphan({ ...orphan, pid: process.pid })).toBe(
      false,
    );
    expect(await restarted.reapOrphan({ ...orphan, version: '1.1.0' })).toBe(
      false,
    );
    expect(isProcessAlive(instance.pid!)).toBe(true);
    expect(await restarted.reapOrphan(orphan)).toBe(true);
    expect(isProcessAlive(instance.pid!)).toBe(false);
    expect(await restarted.reapOrphan(orphan)).toBe(false);
  });

  /** A backend started after this one died: same data directory, new runtime. */
  function nextBackend(options: { ownerGone?: boolean } = {}) {
    const logger = mockServices.logger.mock();
    return {
      logger,
      runtime: ProcessRuntime.create({
        logger,
        dataDir,
        owner: 'next-backend',
        isOwnerGone: () => options.ownerGone ?? true,
      }),
    };
  }

  async function eventually(what: string, check: () => boolean) {
    for (let i = 0; i < 100 && !check(); i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    if (!check()) throw new Error(`never: ${what}`);
  }

  it('lets instances run on at shutdown; the next backend adopts them and hears their exit', async () => {
    const { instance } = await installAndStart('1.0.0');
    expect(instance.processGroup).toBe(instance.pid);
    expect(instance.processStartTime).toMatch(/^\d+$/);
    await runtime.shutdown({ gracePeriodMs: 1000, leaveRunning: true });
    expect(isProcessAlive(instance.pid!)).toBe(true);
    expect(await runtime.isAlive(instance.instanceId)).toBe(false);

    const next = nextBackend();
    const recorded = {
      pluginId: 'sample',
      version: '1.0.0',
      instanceId: instance.instanceId,
      host: instance.host,
      port: instance.port,
      pid: instance.pid,
      processGroup: instance.processGroup,
      processStartTime: instance.processStartTime,
    };
    // Not the same process (a pid reused), or not answering: not adopted.
    expect(
      await next.runtime.adoptInstance({
        ...recorded,
        processStartTime: '1',
      }),
    ).toBe(false);
    expect(
      await next.runtime.adoptInstance({
        ...recorded,
        port: instance.port + 1,
      }),
    ).toBe(false);
    expect(await next.runtime.adoptInstance(recorded)).toBe(true);
    expect(await next.runtime.isAlive(instance.instanceId)).toBe(true);
    // Still serving, the same process.
    const served = await (
      await fetch(`http://127.0.0.1:${instance.port}/`)
    ).json();
    expect(served.pid).toBe(instance.pid);
    // Its end is reported as a child's would be, though it is none.
    const exits: RuntimeInstanceExit[] = [];
    next.runtime.onInstanceExit(e => exits.push(e));
    process.kill(instance.pid!, 'SIGKILL');
    await eventually('the exit is reported', () => exits.length > 0);
    expect(exits[0]).toMatchObject({
      instanceId: instance.instanceId,
      expected: false,
    });
    expect(await next.runtime.isAlive(instance.instanceId)).toBe(false);
    // Nothing of it is left in the journal for a later backend to reap.
    expect(await next.runtime.reapOrphans()).toEqual([]);
  });

  it('stops an adopted instance gracefully by its group', async () => {
    const { instance } = await installAndStart('1.0.0');
    await runtime.shutdown({ gracePeriodMs: 1000, leaveRunning: true });
    const next = nextBackend();
    expect(
      await next.runtime.adoptInstance({
        pluginId: 'sample',
        instanceId: instance.instanceId,
        host: instance.host,
        port: instance.port,
        pid: instance.pid,
        processGroup: instance.processGroup,
        processStartTime: instance.processStartTime,
      }),
    ).toBe(true);
    const stopped = await next.runtime.stopInstance({
      pluginId: 'sample',
      instanceId: instance.instanceId,
      gracePeriodMs: 3000,
    });
    expect(stopped.forced).toBe(false);
    expect(isProcessAlive(instance.pid!)).toBe(false);
    await next.runtime.shutdown({ gracePeriodMs: 1000 });
  });

  it('reaps unrecorded instances of gone backends by group and start time, renamed or not, and nothing else', async () => {
    // An instance that renames its process title, as http-server does.
    const renamed = await runtime.startInstance({
      pluginId: 'renamer',
      version: '1.0.0',
      instanceId: 'renamer-1',
      artifact: {
        type: 'command',
        command: process.execPath,
        args: [
          '-e',
          "process.title = 'renamed-server'; require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')",
        ],
      },
      env: {},
    });
    const { instance } = await installAndStart('1.0.0');
    await eventually('the title changed', () =>
      fs
        .readFileSync(`/proc/${renamed.pid}/cmdline`, 'utf8')
        .startsWith('renamed-server'),
    );
    await runtime.shutdown({ gracePeriodMs: 1000, leaveRunning: true });

    // A plain process, started by no runtime, in a group of its own.
    const plain = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      // A live backend's journal is its own: nothing is touched.
      const alongside = nextBackend({ ownerGone: false });
      expect(await alongside.runtime.reapOrphans()).toEqual([]);
      expect(isProcessAlive(instance.pid!)).toBe(true);

      // Its backend gone, nobody recorded them (the database never heard
      // of them): the journal names them, and they are stopped.
      const next = nextBackend();
      const stopped = await next.runtime.reapOrphans();
      expect(stopped.map(e => e.instanceId).sort()).toEqual([
        'renamer-1',
        instance.instanceId,
      ]);
      expect(isProcessAlive(renamed.pid!)).toBe(false);
      expect(isProcessAlive(instance.pid!)).toBe(false);
      expect(isProcessAlive(plain.pid!)).toBe(true);
      expect(await next.runtime.reapOrphans()).toEqual([]);
    } finally {
      plain.kill('SIGKILL');
    }
  });

  it('reaps a recorded instance that renamed itself, by start time', async () => {
    const renamed = await runtime.startInstance({
      pluginId: 'renamer',
      version: '1.0.0',
      instanceId: 'renamer-2',
      artifact: {
        type: 'command',
        command: process.execPath,
        args: [
          '-e',
          "process.title = 'renamed-server'; require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')",
        ],
      },
      env: {},
    });
    await runtime.shutdown({ gracePeriodMs: 1000, leaveRunning: true });
    const next = nextBackend();
    const recorded = {
      pluginId: 'renamer',
      version: '1.0.0',
      instanceId: 'renamer-2',
      pid: renamed.pid,
      processGroup: renamed.processGroup,
    };
    // Another process under that pid (another start time) is not touched.
    expect(
      await next.runtime.reapOrphan({ ...recorded, processStartTime: '1' }),
    ).toBe(false);
    expect(isProcessAlive(renamed.pid!)).toBe(true);
    expect(
      await next.runtime.reapOrphan({
        ...recorded,
        processStartTime: renamed.processStartTime,
      }),
    ).toBe(true);
    expect(isProcessAlive(renamed.pid!)).toBe(false);
  });

  it('writes instance output to a file it logs while it runs', async () => {
    const logger = mockServices.logger.mock();
    const logged: string[] = [];
    const child = { info: (m: string) => logged.push(m) };
    (logger.child as jest.Mock).mockReturnValue({ ...logger, ...child });
    const withLogger = ProcessRuntime.create({ logger, dataDir });
    const started = await withLogger.startInstance({
      pluginId: 'talker',
      version: '1.0.0',
      instanceId: 'talker-1',
      artifact: {
        type: 'command',
        command: process.execPath,
        args: [
          '-e',
          "console.log('hello from the instance'); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')",
        ],
      },
      env: {},
    });
    expect(
      fs.readFileSync(path.join(dataDir, '.logs', 'talker-1.log'), 'utf8'),
    ).toContain('hello from the instance');
    await eventually('the line is logged', () =>
      logged.includes('hello from the instance'),
    );
    await withLogger.stopInstance({
      pluginId: 'talker',
      instanceId: started.instanceId,
      gracePeriodMs: 2000,
    });
    expect(fs.existsSync(path.join(dataDir, '.logs', 'talker-1.log'))).toBe(
      false,
    );
  });
});
