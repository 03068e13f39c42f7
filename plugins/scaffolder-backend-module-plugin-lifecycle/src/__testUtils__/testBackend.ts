import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { BackstageCredentials } from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import scaffolderPlugin from '@backstage/plugin-scaffolder-backend';
// The backend the actions call, in the same test backend (tests only).
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import pluginLifecyclePlugin from '@internal/plugin-lifecycle-backend';
import { PluginLifecycleClient } from '@internal/plugin-lifecycle-common';
import { parse } from 'yaml';
import { PluginLifecycleClientFor } from '../actions/client';
import { scaffolderModulePluginLifecycle } from '../module';

export const ROOT = path.resolve(__dirname, '../../../..');

/** A template of examples/templates, as the catalog holds it. */
export function exampleTemplate(name: string): Entity {
  return parse(
    fs.readFileSync(
      path.join(ROOT, 'examples/templates', name, 'template.yaml'),
      'utf8',
    ),
  );
}

/**
 * The real plugin-lifecycle backend (SQLite, process runtime, the sample
 * service packed and configured under each id) and the real scaffolder
 * backend with this module, in one test backend; the catalog holds the
 * given templates.
 */
export async function startBackend(options: {
  pluginIds: string[];
  templates?: Entity[];
}) {
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'scaffolder-pl-'));
  fs.chmodSync(artifacts, 0o755);
  // eslint-disable-next-line @backstage/no-relative-monorepo-imports
  await require(path.join(ROOT, 'examples/scripts/pack.js'))(artifacts);
  const backend = await startTestBackend({
    features: [
      pluginLifecyclePlugin,
      scaffolderPlugin,
      scaffolderModulePluginLifecycle,
      catalogServiceMock.factory({ entities: options.templates ?? [] }),
      mockServices.rootConfig.factory({
        data: {
          pluginLifecycle: {
            dataDir: fs.mkdtempSync(
              path.join(os.tmpdir(), 'scaffolder-pl-data-'),
            ),
            shutdown: { stopInstances: true },
            // The broken sample (2.0.0) fails its readiness in seconds.
            runtime: { process: { readyTimeout: 4000, stopGracePeriod: 2000 } },
            plugins: Object.fromEntries(
              options.pluginIds.map(id => [
                id,
                {
                  artifact: {
                    type: 'tarball',
                    path: path.join(
                      artifacts,
                      'sample-http-service-${version}.tgz',
                    ),
                  },
                },
              ]),
            ),
          },
        },
      }),
    ],
  });
  const { port } = backend.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}/api`;
  return { backend, baseUrl, stop: () => backend.stop() };
}

/**
 * What the module's client factory does with real tokens, with the mock
 * auth's: the user of the credentials calls the plugin-lifecycle backend.
 */
export function clientFor(baseUrl: string): PluginLifecycleClientFor {
  return (credentials: BackstageCredentials) => {
    const principal = credentials.principal as { userEntityRef?: string };
    const authorization = principal.userEntityRef
      ? mockCredentials.user.header(principal.userEntityRef)
      : mockCredentials.service.header();
    return new PluginLifecycleClient({
      discoveryApi: { getBaseUrl: async id => `${baseUrl}/${id}` },
      fetchApi: {
        fetch: (input, init) => {
          const headers = new Headers(init?.headers);
          headers.set('Authorization', authorization);
          return fetch(input, { ...init, headers });
        },
      },
    });
  };
}
