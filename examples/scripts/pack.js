#!/usr/bin/env node
/*
 * Packs examples/sample-http-service into npm-style tarballs in four
 * versions (1.0.0, 1.1.0, a deliberately broken 2.0.0 whose readiness
 * probe always fails, and a bad 2.1.0 that passes its probes but answers
 * 500 to every request that is not a probe), for demos, tests and
 * benchmarks of plugin upgrades and of canary analysis.
 *
 * Entries live under `package/` like `npm pack` makes them (with node-tar,
 * the library npm itself uses); mtimes are fixed so the output is
 * deterministic.
 *
 *   node examples/scripts/pack.js [outDir]   (default: <repo>/examples/dist)
 *   require('./pack.js')(outDir) => Promise<{ [version]: absolutePath }>
 */
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tar = require('tar');

const SOURCE_DIR = path.resolve(__dirname, '../sample-http-service');
const DEFAULT_OUT_DIR = path.resolve(__dirname, '../dist');
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0', '2.1.0'];
const BROKEN_VERSIONS = new Set(['2.0.0']);
const FAILING_VERSIONS = new Set(['2.1.0']);
const MTIME = new Date('1985-10-26T08:15:00Z'); // the constant npm pack uses
const FILES = ['package.json', 'server.js'];

function packageJsonFor(version) {
  const pkg = JSON.parse(
    fs.readFileSync(path.join(SOURCE_DIR, 'package.json'), 'utf8'),
  );
  pkg.version = version;
  delete pkg.sampleBehaviour;
  if (BROKEN_VERSIONS.has(version)) {
    pkg.sampleBehaviour = { failReadiness: true };
  }
  if (FAILING_VERSIONS.has(version)) {
    pkg.sampleBehaviour = { failRequests: true };
  }
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

async function packSampleHttpService(outDir = DEFAULT_OUT_DIR) {
  const dir = path.resolve(outDir);
  await fs.promises.mkdir(dir, { recursive: true });
  const result = {};
  for (const version of VERSIONS) {
    const staging = await fs.promises.mkdtemp(
      path.join(os.tmpdir(), 'sample-pack-'),
    );
    try {
      await fs.promises.copyFile(
        path.join(SOURCE_DIR, 'server.js'),
        path.join(staging, 'server.js'),
      );
      await fs.promises.writeFile(
        path.join(staging, 'package.json'),
        packageJsonFor(version),
      );
      const file = path.join(dir, `sample-http-service-${version}.tgz`);
      await tar.c(
        {
          gzip: true,
          file,
          cwd: staging,
          prefix: 'package/',
          portable: true,
          mtime: MTIME,
        },
        FILES,
      );
      result[version] = file;
    } finally {
      await fs.promises.rm(staging, { recursive: true, force: true });
    }
  }
  return result;
}

module.exports = packSampleHttpService;
module.exports.packSampleHttpService = packSampleHttpService;
module.exports.VERSIONS = VERSIONS;

if (require.main === module) {
  packSampleHttpService(process.argv[2]).then(
    paths => {
      for (const [version, file] of Object.entries(paths)) {
        console.log(`${version}\t${file}`);
      }
    },
    error => {
      console.error(error);
      process.exit(1);
    },
  );
}
