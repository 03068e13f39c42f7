import { configRoutes as routes } from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/**
 * Watching a plugin's effective configuration: a long-poll that answers
 * once it changes, or server-sent events with `Accept: text/event-stream`.
 * Both count against the caller's held requests and end at shutdown.
 */
export function bindConfigWatchEndpoint(
  router: Router,
  context: EndpointContext,
) {
  const { system, authorize, shutdown, heldRequests } = context;
  const manager = () => system.getPluginConfigurationManager();

  mount(router, routes.watchConfiguration, async (req, res) => {
    const { pluginId, environment } = req.params;
    const { scope, actor } = await authorize(
      req,
      routes.watchConfiguration.permission,
      pluginId,
    );
    const query = parseInput(
      routes.watchConfiguration.query,
      req.query,
      'query',
    );
    // Over the cap: a 429 at once. Released when the answer or stream ends.
    const release = heldRequests?.acquire(actor ?? 'anonymous');
    if (release) res.on('close', release);
    if (
      req.accepts(['application/json', 'text/event-stream']) ===
      'text/event-stream'
    ) {
      // Resolves first, so an unknown plugin or environment is a plain 4xx.
      const current = await manager().getEffectiveConfiguration(
        pluginId,
        environment,
        { scope },
      );
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        // no-transform: the backend's compression middleware (and proxies)
        // would otherwise hold events back in a gzip buffer.
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
      });
      const send = (event: string, data: unknown) =>
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      send('configuration', current);
      const unwatch = manager().watchConfiguration(
        pluginId,
        environment,
        query.key,
        configuration => send('configuration', configuration),
      );
      const heartbeat = setInterval(
        () => res.write(': keep-alive\n\n'),
        15_000,
      );
      // A stream would hold the server open past any grace period: at
      // shutdown it ends, and the client reconnects (to another replica).
      const end = () => res.end();
      res.on('close', () => {
        clearInterval(heartbeat);
        unwatch();
        shutdown?.removeEventListener('abort', end);
      });
      if (shutdown?.aborted) end();
      else shutdown?.addEventListener('abort', end);
      return;
    }
    const abort = new AbortController();
    // The response's close, not the request's: a GET's request closes once read.
    res.on('close', () => abort.abort());
    // At shutdown a long-poll answers at once (`changed: false`), as at its timeout.
    const onShutdown = () => abort.abort();
    if (shutdown?.aborted) abort.abort();
    else shutdown?.addEventListener('abort', onShutdown);
    res.on('close', () => shutdown?.removeEventListener('abort', onShutdown));
    res.json(
      await manager().waitForChange(pluginId, environment, {
        scope,
        afterRevision: query.afterRevision,
        afterVersion: query.afterVersion,
        key: query.key,
        timeoutMs: query.timeoutMs,
        signal: abort.signal,
      }),
    );
  });
}
