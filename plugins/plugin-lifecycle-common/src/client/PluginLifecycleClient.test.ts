/**
 * @jest-environment node
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
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
