import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './sampleArtifacts';

// A tiny HTTP server: `tiny-http-server --port N --dir D` answers GET / with
// its arguments and the file `index.txt` of D.
const SERVER = `#!/usr/bin/env node
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const argv = process.argv.slice(2);
const opt = name => argv[argv.indexOf(name) + 1];
const dir = opt('--dir');
http
  .createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      argv,
      index: fs.readFileSync(path.join(dir, 'index.txt'), 'utf8'),
    }));
  })
  .listen(Number(opt('--port')), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * Creates a package `tiny-http-server` whose `prepare` and `postinstall`
 * scripts write marker files, packs it (without running them) and gives
 * its folder, tarball and the markers' paths.
 */
export function createTinyNpmPackage(version = '1.0.0'): {
  dir: string;
  tarball: string;
  markers: { prepare: string; postinstall: string };
} {
  const root = makeTempDir('plugin-lifecycle-tiny-npm-');
  // npm packs it as the plugin's user when tests run as root.
  fs.chmodSync(root, 0o755);
  const dir = path.join(root, 'tiny-http-server');
  const markers = {
    prepare: path.join(root, 'prepare-ran'),
    postinstall: path.join(root, 'postinstall-ran'),
  };
  const write = (file: string) =>
    `node -e "require('fs').writeFileSync(${JSON.stringify(file).replace(
      /"/g,
      "'",
    )}, 'ran')"`;
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'tiny-http-server',
        version,
        bin: { 'tiny-http-server': 'server.js' },
        scripts: {
          prepare: write(markers.prepare),
          postinstall: write(markers.postinstall),
        },
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(path.join(dir, 'server.js'), SERVER, { mode: 0o755 });
  const out = execFileSync(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', root, dir],
    { encoding: 'utf8' },
  );
  const [{ filename }] = JSON.parse(out);
  return { dir, tarball: path.join(root, path.basename(filename)), markers };
}

/**
 * Whether the npm registry answers (within 15 s); tests that need it are
 * skipped with a message when it does not.
 */
export function npmRegistryReachable(): boolean {
  const result = spawnSync('npm', ['view', 'http-server', 'version'], {
    timeout: 15_000,
    encoding: 'utf8',
  });
  return result.status === 0 && /^\d+\.\d+\.\d+/.test(result.stdout.trim());
}

/**
 * A tiny npm registry on 127.0.0.1 answering the packument (`GET /<name>`)
 * of each package given with its versions, enough for `npm view`; 404 for
 * any other package. Its `url` goes into `npm_config_registry`.
 */
export async function startTinyRegistry(
  packages: Record<string, string[]>,
): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0]);
    requests.push(name);
    const versions = packages[name];
    res.setHeader('content-type', 'application/json');
    if (!versions) {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: 'Not found' }));
      return;
    }
    res.end(
      JSON.stringify({
        name,
        'dist-tags': { latest: versions[versions.length - 1] },
        versions: Object.fromEntries(
          versions.map(version => [
            version,
            {
              name,
              version,
              dist: { tarball: `http://127.0.0.1/${name}-${version}.tgz` },
            },
          ]),
        ),
        time: Object.fromEntries(
          versions.map(v => [v, '2026-01-01T00:00:00.000Z']),
        ),
      }),
    );
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}
