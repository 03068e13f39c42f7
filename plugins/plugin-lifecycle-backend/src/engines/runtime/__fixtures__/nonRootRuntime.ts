/*
 * Runs the process runtime in a backend that is not root (the test starts
 * this file as another user): installs and starts a command artifact with
 * a secret in its configuration, prints what it saw as JSON, and stops it.
 *
 * argv: <dataDir> <scriptsDir>
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProcessRuntime } from '../ProcessRuntime';

async function main() {
  const [dataDir, scripts] = process.argv.slice(2);
  const warnings: string[] = [];
  const logger: any = {
    error() {},
    warn: (message: string) => warnings.push(message),
    info() {},
    debug() {},
    child: () => logger,
  };
  const runtime = ProcessRuntime.create({ logger, dataDir });
  const artifact = {
    type: 'command' as const,
    command: process.execPath,
    args: ['spy.js'],
    cwd: scripts,
  };
  const { location } = await runtime.install({
    pluginId: 'non-root',
    version: '1.0.0',
    artifact,
  });
  const instance = await runtime.startInstance({
    pluginId: 'non-root',
    version: '1.0.0',
    instanceId: 'non-root-1',
    artifact,
    location,
    env: { PLUGIN_CONFIG: JSON.stringify({ secret: process.env.SECRET }) },
  });
  const configFile = path.join(
    dataDir,
    'non-root',
    '.run',
    'non-root-1.config.json',
  );
  const served = await (
    await fetch(
      `http://${instance.host}:${instance.port}/read?path=${encodeURIComponent(
        configFile,
      )}`,
    )
  ).json();
  const stat = fs.statSync(configFile);
  await runtime.shutdown({ gracePeriodMs: 1000 });
  process.stdout.write(
    JSON.stringify({
      backendUid: process.getuid!(),
      warnings,
      served,
      configMode: stat.mode & 0o777,
      configUid: stat.uid,
    }),
  );
}

main().catch(error => {
  process.stderr.write(String(error?.stack ?? error));
  process.exit(1);
});
