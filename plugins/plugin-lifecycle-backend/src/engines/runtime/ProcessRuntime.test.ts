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
});
