import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
import { makeTempDir } from '../../__testUtils__/sampleArtifacts';
import { ExecProbePolicy } from '../health/execProbePolicy';
import { ExecProber } from '../health/probers/ExecProber';
import { ProcessRuntime } from './ProcessRuntime';
import { derivedUserName, ProcessIdentities } from './processIdentity';

jest.setTimeout(60_000);

const asRoot = process.getuid?.() === 0;
if (!asRoot) {
  // eslint-disable-next-line no-console
  console.warn(
    'The tests do not run as root: plugins cannot run as other users, so the attacks between plugins are skipped; only the isolation mode none is tested.',
  );
}
const SECRET = 'canary-7f3a91c2-db-password';
const TENANT_A = 'iso-tenant-a';
const TENANT_B = 'iso-tenant-b';
const never = new AbortController().signal;

// A plugin that does what a hostile one would: reads any file it is told to
// and says what it got, or the error.
const SPY = `
const fs = require('fs');
require('http').createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = url.searchParams.get('path');
  const out = { uid: process.getuid() };
  try {
    out.content = url.pathname === '/list'
      ? fs.readdirSync(file).join(',')
      : fs.readFileSync(file, 'utf8');
  } catch (error) {
    out.error = error.code;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(out));
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGHUP', () => {});
`;

function statusIds(pid: number) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (key: string) =>
    status
      .split('\n')
      .find(l => l.startsWith(`${key}:`))!
      .split(/\s+/)
      .slice(1, 5)
      .map(Number);
  return { uids: ids('Uid'), gids: ids('Gid') };
}

function modeOf(file: string) {
  const stat = fs.statSync(file);
  return { mode: stat.mode & 0o777, uid: stat.uid };
}

function userExists(name: string) {
  try {
    execFileSync('getent', ['passwd', name]);
    return true;
  } catch {
    return false;
  }
}

async function spyOn(
  instance: { host: string; port: number },
  file: string,
  what: 'read' | 'list' = 'read',
): Promise<{ uid: number; content?: string; error?: string }> {
  const res = await fetch(
    `http://${instance.host}:${instance.port}/${what}?path=${encodeURIComponent(
      file,
    )}`,
  );
  return res.json();
}

function setUp(identities?: ProcessIdentities) {
  const dataDir = makeTempDir('plugin-lifecycle-isolation-');
  const scripts = makeTempDir('plugin-lifecycle-isolation-scripts-');
  fs.chmodSync(scripts, 0o755);
  fs.writeFileSync(path.join(scripts, 'spy.js'), SPY);
  const runtime = ProcessRuntime.create({
    logger: mockServices.logger.mock(),
    dataDir,
    startTimeoutMs: 10_000,
    identities,
  });
  const artifact = {
    type: 'command' as const,
    command: process.execPath,
    args: ['spy.js'],
    cwd: scripts,
  };
  async function start(pluginId: string, env: Record<string, string> = {}) {
    const { location } = await runtime.install({
      pluginId,
      version: '1.0.0',
      artifact,
    });
    return runtime.startInstance({
      pluginId,
      version: '1.0.0',
      instanceId: `${pluginId}-1`,
      artifact,
      location,
      env,
    });
  }
  return { dataDir, scripts, runtime, start };
}

const secretEnv = {
  PLUGIN_CONFIG: JSON.stringify({ database: { password: SECRET } }),
  PLUGIN_CONFIG_DATABASE_PASSWORD: SECRET,
};

(asRoot ? describe : describe.skip)(
  'a plugin attacking another on a backend running as root (per-plugin-user)',
  () => {
    const { dataDir, scripts, runtime, start } = setUp();
    let a: Awaited<ReturnType<typeof start>>;
    let b: Awaited<ReturnType<typeof start>>;
    const configOfA = path.join(
      dataDir,
      TENANT_A,
      '.run',
      `${TENANT_A}-1.config.json`,
    );

    beforeAll(async () => {
      a = await start(TENANT_A, secretEnv);
      b = await start(TENANT_B);
    });

    afterAll(async () => {
      await runtime.shutdown({ gracePeriodMs: 1000 });
      for (const user of [`pl-${TENANT_A}`, `pl-${TENANT_B}`]) {
        execFileSync('userdel', [user]);
      }
    });

    it('runs each plugin as its own unprivileged user', () => {
      const idsA = statusIds(a.pid!);
      const idsB = statusIds(b.pid!);
      // real, effective, saved and filesystem ids: none is root
      expect(new Set(idsA.uids).size).toBe(1);
      expect(idsA.uids[0]).not.toBe(0);
      expect(idsA.gids[0]).not.toBe(0);
      expect(new Set(idsB.uids).size).toBe(1);
      expect(idsB.uids[0]).not.toBe(0);
      expect(idsB.uids[0]).not.toBe(idsA.uids[0]);
      expect(
        execFileSync('getent', ['passwd', `pl-${TENANT_A}`], {
          encoding: 'utf8',
        }),
      ).toBe(
        `pl-${TENANT_A}:x:${idsA.uids[0]}:${idsA.gids[0]}:plugin-lifecycle ${TENANT_A}:/nonexistent:/usr/sbin/nologin\n`,
      );
    });

    it("gives a plugin its configuration in a file only it can read, and B cannot read A's", async () => {
      // A reads its own: the file is where its environment says
      const own = await spyOn(a, configOfA);
      expect(own.content).toContain(SECRET);

      const stolen = await spyOn(b, configOfA);
      expect(stolen).toEqual({
        uid: statusIds(b.pid!).uids[0],
        error: 'EACCES',
      });
      expect(await spyOn(b, path.join(dataDir, TENANT_A), 'list')).toEqual({
        uid: statusIds(b.pid!).uids[0],
        error: 'EACCES',
      });
      // nor find the other plugins by listing the data directory
      expect((await spyOn(b, dataDir, 'list')).error).toBe('EACCES');
    });

    it("keeps A's environment from B: /proc/<A's pid>/environ is EACCES", async () => {
      const stolen = await spyOn(b, `/proc/${a.pid}/environ`);
      expect(stolen.error).toBe('EACCES');
      expect(JSON.stringify(stolen)).not.toContain(SECRET);
      // the secret is there: A itself can read it
      expect((await spyOn(a, `/proc/${a.pid}/environ`)).content).toContain(
        SECRET,
      );
    });

    it("keeps the backend's own environment from plugins", async () => {
      const stolen = await spyOn(b, `/proc/${process.pid}/environ`);
      expect(stolen.error).toBe('EACCES');
    });

    it('owns the files of each plugin with modes 0711/0700/0600, and no shared config directory', () => {
      const uidA = statusIds(a.pid!).uids[0];
      expect(modeOf(dataDir)).toEqual({ mode: 0o711, uid: 0 });
      expect(modeOf(path.join(dataDir, TENANT_A))).toEqual({
        mode: 0o700,
        uid: uidA,
      });
      expect(modeOf(path.join(dataDir, TENANT_A, '.run'))).toEqual({
        mode: 0o700,
        uid: uidA,
      });
      expect(modeOf(path.join(dataDir, TENANT_A, '.home'))).toEqual({
        mode: 0o700,
        uid: uidA,
      });
      expect(modeOf(configOfA)).toEqual({ mode: 0o600, uid: uidA });
      expect(fs.existsSync(path.join(dataDir, '.instances'))).toBe(false);
    });

    it('keeps the same owner and mode when a hot reload rewrites the configuration', async () => {
      await runtime.reloadInstance({
        pluginId: TENANT_A,
        instanceId: a.instanceId,
        strategy: 'signal',
        signal: 'SIGHUP', // the spy ignores it: only the file matters here
        env: { PLUGIN_CONFIG: JSON.stringify({ rotated: SECRET }) },
      });
      expect(modeOf(configOfA)).toEqual({
        mode: 0o600,
        uid: statusIds(a.pid!).uids[0],
      });
      expect((await spyOn(a, configOfA)).content).toContain('rotated');
      expect((await spyOn(b, configOfA)).error).toBe('EACCES');
    });

    it("runs B's exec probe as B: it cannot read A's environment or configuration", async () => {
      const prober = ExecProber.create({
        policy: ExecProbePolicy.create({ allowedCommands: ['cat', 'id'] }),
        identities: ProcessIdentities.create({
          logger: mockServices.logger.mock(),
        }),
      });
      const targetOf = (pluginId: string, instance: typeof a) => ({
        host: instance.host,
        port: instance.port,
        instanceId: instance.instanceId,
        pluginId,
      });
      const cat = (file: string) => ({
        name: 'steal',
        type: 'liveness' as const,
        method: 'exec' as const,
        exec: { command: 'cat', args: [file] },
      });
      for (const file of [`/proc/${a.pid}/environ`, configOfA]) {
        const outcome = await prober.probe(
          targetOf(TENANT_B, b),
          cat(file),
          never,
        );
        expect(outcome.ok).toBe(false);
        expect(outcome.message).toMatch(/Permission denied/);
        expect(outcome.message).not.toContain(SECRET);
      }
      const whoami = await prober.probe(
        targetOf(TENANT_A, a),
        {
          name: 'who',
          type: 'liveness',
          method: 'exec',
          exec: { command: 'id', args: ['-u'] },
        },
        never,
      );
      expect(whoami).toMatchObject({
        ok: true,
        message: `exited with code 0: ${statusIds(a.pid!).uids[0]}`,
      });
    });

    it("runs a registered service's exec probe as the probe user, not as a plugin's", async () => {
      const prober = ExecProber.create({
        policy: ExecProbePolicy.create({ allowedCommands: ['id'] }),
        identities: ProcessIdentities.create({
          logger: mockServices.logger.mock(),
        }),
      });
      const outcome = await prober.probe(
        {
          host: a.host,
          port: a.port,
          instanceId: 'svc-1',
          // a registration may name any plugin: its word is not trusted
          pluginId: TENANT_A,
          serviceName: 'some-service',
        },
        {
          name: 'who',
          type: 'liveness',
          method: 'exec',
          exec: { command: 'id', args: ['-un'] },
        },
        never,
      );
      expect(outcome).toMatchObject({
        ok: true,
        message: 'exited with code 0: pl-probes',
      });
    });

    it("refuses, with a clear message, a command whose working directory the plugin's user cannot read", async () => {
      const closed = makeTempDir('plugin-lifecycle-isolation-closed-'); // 0700 root
      const artifact = {
        type: 'command' as const,
        command: process.execPath,
        args: ['spy.js'],
        cwd: closed,
      };
      const { location } = await runtime.install({
        pluginId: TENANT_B,
        version: '2.0.0',
        artifact,
      });
      await expect(
        runtime.startInstance({
          pluginId: TENANT_B,
          version: '2.0.0',
          instanceId: `${TENANT_B}-2`,
          artifact,
          location,
          env: {},
        }),
      ).rejects.toThrow(
        `the plugin's user 'pl-${TENANT_B}' cannot read the command's working directory ${closed}`,
      );
      expect(scripts).not.toBe(closed);
    });
  },
);

(asRoot ? describe : describe.skip)(
  "npm at install runs as the plugin's user, never as root",
  () => {
    const pluginId = 'iso-npm';
    afterAll(() => {
      if (userExists(`pl-${pluginId}`))
        execFileSync('userdel', [`pl-${pluginId}`]);
    });

    it("runs a package's install script (allowed) as the plugin's user, and hands it the files", async () => {
      // A package whose postinstall writes down who ran it
      const root = makeTempDir('plugin-lifecycle-isolation-npm-');
      fs.chmodSync(root, 0o755);
      const pkgDir = path.join(root, 'package');
      fs.mkdirSync(pkgDir);
      fs.writeFileSync(
        path.join(pkgDir, 'package.json'),
        JSON.stringify({
          name: 'iso-npm',
          version: '1.0.0',
          main: 'server.js',
          scripts: {
            postinstall: `node -e "require('fs').writeFileSync('installed-by', String(process.getuid()) + ' ' + process.env.HOME)"`,
          },
        }),
      );
      fs.writeFileSync(path.join(pkgDir, 'server.js'), SPY);
      const tarball = path.join(root, 'iso-npm-1.0.0.tgz');
      execFileSync('tar', ['czf', tarball, '-C', root, 'package']);
      fs.chmodSync(tarball, 0o644);

      const dataDir = makeTempDir('plugin-lifecycle-isolation-');
      const runtime = ProcessRuntime.create({
        logger: mockServices.logger.mock(),
        dataDir,
        npm: { allowScripts: true },
      });
      const { location } = await runtime.install({
        pluginId,
        version: '1.0.0',
        artifact: {
          type: 'npm',
          package: 'iso-npm',
          version: `file:${tarball}`,
        },
      });
      const uid = Number(
        execFileSync('id', ['-u', `pl-${pluginId}`], { encoding: 'utf8' }),
      );
      expect(uid).not.toBe(0);
      expect(
        fs.readFileSync(path.join(location!, 'installed-by'), 'utf8'),
      ).toBe(`${uid} ${path.join(dataDir, pluginId, '.home')}`);
      for (const file of ['.', 'package.json', 'server.js', 'installed-by']) {
        expect(fs.statSync(path.join(location!, file)).uid).toBe(uid);
      }
      expect(modeOf(location!).mode).toBe(0o700);

      // a local package the plugin's user cannot read: a clear refusal
      const closed = makeTempDir('plugin-lifecycle-isolation-closed-');
      fs.copyFileSync(tarball, path.join(closed, 'iso-npm-1.0.0.tgz'));
      await expect(
        runtime.install({
          pluginId,
          version: '1.0.1',
          artifact: {
            type: 'npm',
            package: 'iso-npm',
            version: `file:${path.join(closed, 'iso-npm-1.0.0.tgz')}`,
          },
        }),
      ).rejects.toThrow(
        `The plugin's user (uid ${uid}) cannot read ${closed}/iso-npm-1.0.0.tgz`,
      );
    });
  },
);

(asRoot ? describe : describe.skip)('users for plugins', () => {
  const created: string[] = [];
  afterAll(() => {
    for (const user of created) {
      if (userExists(user)) execFileSync('userdel', [user]);
    }
  });

  it("never shares a user that is not the plugin's: a squatted name gives the hashed one", async () => {
    // Someone else's user with the name the plugin would get
    execFileSync('useradd', ['--system', '--no-create-home', 'pl-iso-squat']);
    created.push('pl-iso-squat');
    const identities = ProcessIdentities.create({
      logger: mockServices.logger.mock(),
    });
    const identity = await identities.forPlugin('iso-squat');
    expect(identity!.user).toMatch(/^pl-iso-squat-[0-9a-f]{8}$/);
    created.push(identity!.user);
    const squatter = execFileSync('id', ['-u', 'pl-iso-squat'], {
      encoding: 'utf8',
    });
    expect(identity!.uid).not.toBe(Number(squatter));
    // the same answer from a fresh instance: deterministic
    const again = await ProcessIdentities.create({
      logger: mockServices.logger.mock(),
    }).forPlugin('iso-squat');
    expect(again).toEqual(identity);
  });

  it('says why when useradd refuses: a group of that name exists', async () => {
    execFileSync('groupadd', ['--system', 'pl-iso-grp']);
    try {
      await expect(
        ProcessIdentities.create({
          logger: mockServices.logger.mock(),
        }).forPlugin('iso-grp'),
      ).rejects.toThrow(
        /could not create user 'pl-iso-grp' for plugin processes: useradd: group pl-iso-grp exists/,
      );
    } finally {
      execFileSync('groupdel', ['pl-iso-grp']);
    }
  });

  it('creates a user once when many starts ask at the same time', async () => {
    const identities = ProcessIdentities.create({
      logger: mockServices.logger.mock(),
    });
    const all = await Promise.all(
      Array.from({ length: 5 }, () => identities.forPlugin('iso-concurrent')),
    );
    created.push('pl-iso-concurrent');
    expect(new Set(all.map(i => i!.uid)).size).toBe(1);
  });

  it('takes a configured user as it is, and refuses root or a missing one', async () => {
    const identities = ProcessIdentities.create({
      logger: mockServices.logger.mock(),
      users: { x: 'nobody', y: 'root', z: 'no-such-user-here' },
    });
    expect(await identities.forPlugin('x')).toMatchObject({ user: 'nobody' });
    await expect(identities.forPlugin('y')).rejects.toThrow(
      "pluginLifecycle.runtime.process.isolation.users.y names 'root', which is root",
    );
    await expect(identities.forPlugin('z')).rejects.toThrow(
      "pluginLifecycle.runtime.process.isolation.users.z names user 'no-such-user-here', which does not exist",
    );
  });

  it('runs every plugin as one user in shared-user mode', async () => {
    const identities = ProcessIdentities.create({
      logger: mockServices.logger.mock(),
      mode: 'shared-user',
      sharedUser: 'pl-iso-shared',
    });
    created.push('pl-iso-shared');
    const [one, two] = await Promise.all([
      identities.forPlugin('one'),
      identities.forPlugin('two'),
    ]);
    expect(one).toEqual(two);
    expect(one!.user).toBe('pl-iso-shared');
  });
});

describe('user names derived from plugin ids', () => {
  it('is the prefix and the id when that fits 32 characters', () => {
    expect(derivedUserName('pl-', 'billing')).toBe('pl-billing');
    expect(derivedUserName('pl-', 'a'.repeat(29))).toBe(`pl-${'a'.repeat(29)}`);
  });

  it('cuts a longer id and ends in its hash: deterministic, at most 32, distinct', () => {
    const long = `${'a'.repeat(40)}-one`;
    const other = `${'a'.repeat(40)}-two`;
    const name = derivedUserName('pl-', long);
    expect(name).toHaveLength(32);
    expect(name).toMatch(/^pl-a{20}-[0-9a-f]{8}$/);
    expect(derivedUserName('pl-', long)).toBe(name);
    expect(derivedUserName('pl-', other)).not.toBe(name);
    expect(derivedUserName('pl-', 'billing', true)).toMatch(
      /^pl-billing-[0-9a-f]{8}$/,
    );
  });
});

describe("isolation mode 'none' (a backend that is not root)", () => {
  it('refuses to switch users when the backend is not root, saying what to set', () => {
    expect(() =>
      ProcessIdentities.create({
        logger: mockServices.logger.mock(),
        backendUid: 1000,
        mode: 'per-plugin-user',
      }),
    ).toThrow(
      "pluginLifecycle.runtime.process.isolation.mode 'per-plugin-user' needs a backend running as root (it runs as uid 1000)",
    );
  });

  it('defaults to none with a warning when the backend is not root', () => {
    const logger = mockServices.logger.mock();
    const identities = ProcessIdentities.create({ logger, backendUid: 1000 });
    expect(identities.mode).toBe('none');
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('needs a backend started as root'),
    );
  });

  // Started as root here, so the test can run the backend as 'nobody'.
  (asRoot ? describe : describe.skip)(
    'a real backend process as nobody',
    () => {
      it('works: plugins run as its user, with a warning', () => {
        const nobody = execFileSync('getent', ['passwd', 'nobody'], {
          encoding: 'utf8',
        }).split(':');
        const [uid, gid] = [Number(nobody[2]), Number(nobody[3])];
        const { dataDir, scripts } = setUp(
          ProcessIdentities.create({
            logger: mockServices.logger.mock(),
            mode: 'none',
          }),
        );
        fs.chownSync(dataDir, uid, gid);
        const out = execFileSync(
          process.execPath,
          [
            '--require',
            require.resolve('@backstage/cli/config/nodeTransform.cjs'),
            path.join(__dirname, '__fixtures__/nonRootRuntime.ts'),
            dataDir,
            scripts,
          ],
          {
            uid,
            gid,
            cwd: scripts,
            env: { PATH: process.env.PATH, SECRET },
            encoding: 'utf8',
            timeout: 45_000,
          },
        );
        const seen = JSON.parse(out);
        expect(seen).toMatchObject({
          backendUid: uid,
          served: { uid, content: JSON.stringify({ secret: SECRET }) },
          configMode: 0o600,
          configUid: uid,
        });
        expect(seen.warnings).toEqual([
          expect.stringContaining(
            "Plugin processes run as the backend's user, so every plugin can read",
          ),
        ]);
      });
    },
  );

  it("runs instances as the backend's user, the configuration still in the plugin's own 0600 file", async () => {
    const logger = mockServices.logger.mock();
    const { dataDir, runtime, start } = setUp(
      ProcessIdentities.create({ logger, mode: 'none' }),
    );
    try {
      const instance = await start('iso-none', secretEnv);
      expect(statusIds(instance.pid!).uids[0]).toBe(process.getuid!());
      const config = path.join(
        dataDir,
        'iso-none',
        '.run',
        'iso-none-1.config.json',
      );
      expect(modeOf(config).mode).toBe(0o600);
      expect((await spyOn(instance, config)).content).toContain(SECRET);
    } finally {
      await runtime.shutdown({ gracePeriodMs: 1000 });
    }
  });
});
