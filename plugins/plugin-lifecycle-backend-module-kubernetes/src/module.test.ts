import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  PluginRuntime,
  pluginLifecycleHealthProbesExtensionPoint,
  pluginLifecycleRuntimesExtensionPoint,
} from '@internal/plugin-lifecycle-node';
import { pluginLifecycleModuleKubernetesRuntime } from './module';
import { KubernetesRuntime } from './KubernetesRuntime';

// Reading a kubeconfig contacts no cluster: a file is enough here.
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: 'https://127.0.0.1:6443' }
users:
- name: u
  user: { token: t }
contexts:
- name: ctx
  context: { cluster: c, user: u }
current-context: ctx
`;

describe('pluginLifecycleModuleKubernetesRuntime', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-module-'));
    fs.writeFileSync(path.join(dir, 'kubeconfig'), KUBECONFIG);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const start = async (config: object) => {
    const added: PluginRuntime[] = [];
    const probes: string[] = [];
    const backend = await startTestBackend({
      extensionPoints: [
        [
          pluginLifecycleRuntimesExtensionPoint,
          { addRuntime: (r: PluginRuntime) => added.push(r) },
        ],
        [
          pluginLifecycleHealthProbesExtensionPoint,
          { addProbeFunction: (name: string) => probes.push(name) },
        ],
      ],
      features: [
        pluginLifecycleModuleKubernetesRuntime,
        mockServices.rootConfig.factory({ data: config }),
      ],
    });
    await backend.stop();
    return { added, probes };
  };

  it('registers the kubernetes runtime when it is configured', async () => {
    const { added, probes } = await start({
      pluginLifecycle: {
        runtime: {
          kubernetes: { kubeconfig: path.join(dir, 'kubeconfig') },
        },
      },
    });
    expect(added).toHaveLength(1);
    expect(added[0]).toBeInstanceOf(KubernetesRuntime);
    expect(added[0].type).toBe('kubernetes');
    expect(probes).toEqual(['kubernetes-pod']);
  });

  it('adds nothing without its configuration', async () => {
    await expect(start({})).resolves.toEqual({ added: [], probes: [] });
  });
});
