/**
 * @jest-environment node
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { DEPLOYMENT_ACTIONS } from '../api/deployments';
import { pluginLifecycleRoutes } from '../routes';
import { PluginLifecycleClient } from './PluginLifecycleClient';

/** A server that pages ids by two, as the backend pages them by `limit`. */
async function pagingServer(ids: string[]) {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url!);
    const url = new URL(req.url!, 'http://x');
    const after = url.searchParams.get('cursor') ?? '';
    const rest = ids.filter(id => id > after);
    const items = rest.slice(0, 2);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        items: items.map(id => ({ id })),
        ...(rest.length > 2 ? { nextCursor: items[1] } : {}),
      }),
    );
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, requests };
}

describe('PluginLifecycleClient paging', () => {
  it('follows nextCursor, so a caller of listPlugins and getHistory still gets every item', async () => {
    const { server, base, requests } = await pagingServer([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
    try {
      const client = new PluginLifecycleClient({
        discoveryApi: { getBaseUrl: async () => base },
      });
      expect(
        (await client.listPlugins({ state: 'running' })).map(p => p.id),
      ).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(requests).toEqual([
        '/plugins?state=running&limit=1000',
        '/plugins?state=running&limit=1000&cursor=b',
        '/plugins?state=running&limit=1000&cursor=d',
      ]);
      const page = await client.listPluginsPage({ limit: 2 });
      expect(page).toEqual({
        items: [{ id: 'a' }, { id: 'b' }],
        nextCursor: 'b',
      });
      expect(await client.getHistory('p')).toHaveLength(5);
    } finally {
      server.close();
    }
  });
});

describe('PluginLifecycleClient routes', () => {
  it('sends every request to a method and path of the route registry', async () => {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(`${req.method!.toLowerCase()} ${req.url!.split('?')[0]}`);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = new PluginLifecycleClient({
        discoveryApi: { getBaseUrl: async () => base },
      });
      await client.listPlugins();
      await client.getPlugin('p');
      await client.getHistory('p');
      await client.listVersions('p');
      await client.getPluginHealth('p', { recent: 3 });
      await client.setPluginProbes('p', []);
      await client.getPluginVersionMetrics('p', {
        since: '2025-01-01T10:00:00Z',
      });
      await client.installPlugin('p', { version: '1.0.0' });
      await client.updatePlugin('p', { version: '1.0.1' });
      await client.rollbackUpdate('p', 'op 1');
      for (const command of [
        'start',
        'stop',
        'restart',
        'uninstall',
      ] as const) {
        await client.runCommand('p', command);
      }
      await client.listOperations('p');
      await client.cancelOperation('op');
      await client.submitBatch({ operations: [] });
      await client.getOperation('op', { waitSeconds: 1 });
      await client.getConfigEnvironments();
      await client.getConfiguration('p', 'production', { reveal: true });
      await client.setConfiguration('p', 'base', { entries: [] });
      await client.patchConfiguration('p', 'base', { entries: [] });
      await client.previewConfiguration('p', 'base', 'merge', { entries: [] });
      await client.listConfigVersions('p', 'base');
      await client.getConfigVersion('p', 'base', 2);
      await client.diffConfigVersions('p', 'base', 1, 2);
      await client.rollbackConfiguration('p', 'base', { toVersion: 1 });
      await client.watchConfiguration('p', 'production', { afterRevision: 0 });
      await client.getDeployment('d');
      await client.listDeployments({ pluginId: 'p', active: true });
      await client.listPluginDeployments('p', { phase: 'paused' });
      for (const action of DEPLOYMENT_ACTIONS) {
        await client.deploymentAction('d', action, { reason: 'why' });
      }
      const routes = Object.values(pluginLifecycleRoutes).map(route => ({
        method: route.method,
        pattern: new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`),
      }));
      const unknown = requests.filter(r => {
        const [method, path] = r.split(' ');
        return !routes.some(
          route => route.method === method && route.pattern.test(path),
        );
      });
      expect(unknown).toEqual([]);
      expect(requests).toContain('post /plugins/p/update/op%201/rollback');
      expect(requests).toContain('get /plugins/p/config/base/versions/2');
      expect(requests).toContain('get /plugins/p/versions');
      expect(requests).toContain('post /deployments/d/approve');
      expect(requests).toContain('post /deployments/d/rollback');
      expect(requests).toContain('put /plugins/p/probes');
      expect(requests).toContain('get /plugins/p/metrics/versions');
    } finally {
      server.close();
    }
  });
});
