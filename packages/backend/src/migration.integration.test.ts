/*
 * docs/migration.md, run as written: every shell block, in order, against
 * the demo backend (the repository's app-config.yaml, guest sign-in, the
 * example plugins) with a real "legacy" service, the sample HTTP service
 * started here as the plugin that runs elsewhere. Requests go through the
 * proxy the whole time, from the registration to after the old service is
 * stopped: not one may fail, and they must be answered by the old service
 * first and by the managed instances at the end.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DocShell, hasCommand, shellBlocks } from './__testUtils__/docBlocks';
import {
  DemoBackend,
  freePort,
  startDemoBackend,
} from './__testUtils__/shutdownHarness';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../../..');
const DOC = path.join(ROOT, 'docs/migration.md');
const PLUGIN = 'sample-http-service';

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

/**
 * Sends requests through the proxy one after the other on a few lanes until
 * stopped, and counts who answered and what failed.
 */
class Traffic {
  ok = { legacy: 0, managed: 0 };
  failures: string[] = [];
  /** Answers of the old service after it was told to stop. */
  legacyAfterRetire = 0;
  retired = false;
  #running = true;
  #lanes: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly legacyPid: number,
  ) {}

  start(lanes = 2) {
    for (let i = 0; i < lanes; i++) this.#lanes.push(this.#lane());
  }

  async #lane() {
    while (this.#running) {
      try {
        const res = await fetch(this.url, {
          headers: { Authorization: `Bearer ${this.token}` },
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (res.status !== 200) {
          this.failures.push(`${res.status}: ${text.slice(0, 200)}`);
        } else {
          const body = JSON.parse(text);
          if (body.instanceId) {
            this.ok.managed++;
          } else if (body.pid === this.legacyPid) {
            this.ok.legacy++;
            if (this.retired) this.legacyAfterRetire++;
          } else {
            this.failures.push(`an answer from neither: ${text}`);
          }
        }
      } catch (error) {
        this.failures.push(`no answer: ${error}`);
      }
      await new Promise(r => setTimeout(r, 20));
    }
  }

  async stop() {
    this.#running = false;
    await Promise.all(this.#lanes);
  }
}

describe('docs/migration.md, as written, against the demo backend', () => {
  const blocks = shellBlocks(fs.readFileSync(DOC, 'utf8'));
  let backend: DemoBackend;
  let shell: DocShell;
  let legacy: ChildProcess | undefined;
  let traffic: Traffic | undefined;
  let token = '';

  const api = async (p: string) => {
    const res = await fetch(`${backend.api}${p}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    return res.json();
  };

  beforeAll(async () => {
    for (const tool of ['bash', 'curl', 'jq']) {
      if (!hasCommand(tool)) {
        throw new Error(
          `${tool} is not installed (sudo apt-get install -y ${tool}); the migration guide's examples use it`,
        );
      }
    }
    // The tarballs the example plugin's configured artifact installs.
    const pack = spawn(process.execPath, ['examples/scripts/pack.js'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    await exited(pack, 60_000);

    backend = await startDemoBackend({
      nodeEnv: 'development',
      shutdown: { stopInstances: true },
    });
    // The service that runs elsewhere: the sample, started by hand.
    const legacyPort = await freePort();
    legacy = spawn(
      process.execPath,
      [path.join(ROOT, 'examples/sample-http-service/server.js')],
      {
        env: { ...process.env, PORT: String(legacyPort), HOST: '127.0.0.1' },
        stdio: 'ignore',
        detached: true,
      },
    );
    const deadline = Date.now() + 20_000;
    while (
      !(await fetch(`http://127.0.0.1:${legacyPort}/ready`).then(
        r => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline)
        throw new Error('the legacy service did not start');
      await new Promise(r => setTimeout(r, 100));
    }
    shell = DocShell.create({
      work: backend.work,
      replace: [
        ['localhost:7007', `127.0.0.1:${backend.port}`],
        ['8080', String(legacyPort)],
      ],
    });
  });

  afterAll(async () => {
    await traffic?.stop();
    shell?.dispose();
    if (legacy?.pid && legacy.exitCode === null) {
      try {
        process.kill(-legacy.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await backend?.dispose();
  });

  it('has the blocks this test knows', () => {
    // A block added to the guide is run below only once this test says what
    // it must show: update both together.
    expect(blocks).toHaveLength(9);
  });

  it('gets a guest token', async () => {
    await shell.run(blocks[0]);
    const match = /TOKEN="(eyJ[^"]+)"/.exec(shell.state());
    expect(match).not.toBeNull();
    token = match![1];
  });

  it('registers the service running elsewhere with the external runtime', async () => {
    const output = await shell.run(blocks[1]);
    expect(output).toContain('"status": "succeeded"');
    expect(await api(`/plugins/${PLUGIN}`)).toMatchObject({
      state: 'running',
      currentVersion: '1.0.0-external',
      runtime: 'external',
    });
  });

  it('reaches the old service through the proxy', async () => {
    const answer = JSON.parse(await shell.run(blocks[2]));
    expect(answer).toMatchObject({
      service: PLUGIN,
      instanceId: null,
      pid: legacy!.pid,
    });
    // From here on, callers use the proxy, and none of their requests may fail.
    traffic = new Traffic(
      `${backend.api}/proxy/${PLUGIN}/`,
      token,
      legacy!.pid!,
    );
    traffic.start();
  });

  it('rehearses the cut-over: the green instance runs without traffic', async () => {
    const output = JSON.parse(await shell.run(blocks[3]));
    expect(output).toMatchObject({
      phase: 'awaiting-approval',
      traffic: { '1.0.0-external': 100 },
      steps: expect.arrayContaining(['smoke succeeded']),
    });
    const green = JSON.parse(await shell.run(blocks[4]));
    expect(green).toEqual({ service: PLUGIN, version: '1.0.0', managed: true });
    expect(traffic!.ok.managed).toBe(0);
  });

  it('rolls the rehearsal back by rejecting it', async () => {
    const output = JSON.parse(await shell.run(blocks[5]));
    expect(output).toEqual({
      state: 'running',
      currentVersion: '1.0.0-external',
      runtime: 'external',
    });
    const plugin = await api(`/plugins/${PLUGIN}`);
    expect(
      plugin.instances
        .filter((i: { status: string }) => i.status === 'running')
        .map((i: { version: string }) => i.version),
    ).toEqual(['1.0.0-external']);
    expect(traffic!.ok.managed).toBe(0);
  });

  it('cuts over: approved, the switch moves the traffic to the managed instances', async () => {
    await shell.run(blocks[6]);
    const answer = JSON.parse(await shell.run(blocks[7]));
    expect(answer).toEqual({
      service: PLUGIN,
      version: '1.0.0',
      managed: true,
    });
  });

  it('finishes: the plugin runs under management on the process runtime', async () => {
    const [deployment, plugin] = (await shell.run(blocks[8]))
      .trim()
      .split(/\n(?=\{)/)
      .map(part => JSON.parse(part));
    expect(deployment).toMatchObject({
      phase: 'succeeded',
      traffic: { '1.0.0': 100 },
    });
    for (const step of deployment.steps) expect(step).toMatch(/ succeeded$/);
    expect(plugin).toMatchObject({
      state: 'running',
      currentVersion: '1.0.0',
      runtime: 'process',
    });
    expect(
      plugin.instances.filter(
        (i: { status: string }) => i.status === 'running',
      ),
    ).toEqual([{ version: '1.0.0', runtime: 'process', status: 'running' }]);
  });

  it('lost no request from the registration to after the old service was stopped', async () => {
    // Retire the old service, as its team would, and keep the traffic on.
    traffic!.retired = true;
    legacy!.kill('SIGTERM');
    await exited(legacy!, 10_000);
    const before = traffic!.ok.managed;
    await new Promise(r => setTimeout(r, 3_000));
    await traffic!.stop();
    expect(traffic!.failures).toEqual([]);
    expect(traffic!.ok.legacy).toBeGreaterThan(20);
    expect(traffic!.ok.managed).toBeGreaterThan(before + 20);
    expect(traffic!.legacyAfterRetire).toBe(0);
  });
});
