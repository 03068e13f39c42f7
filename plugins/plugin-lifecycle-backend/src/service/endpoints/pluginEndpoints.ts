import { pluginRoutes as routes } from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { nextCursor, readCursor, readNumberPage } from '../paging';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/**
 * Reading managed plugins: the list (a page at a time, filtered by the
 * policy's conditions), one plugin, the versions its artifact source
 * offers, its history and its operations.
 */
export function bindPluginEndpoints(router: Router, context: EndpointContext) {
  const { system, authorize, authorizeList } = context;

  mount(router, routes.listPlugins, async (req, res) => {
    const { scope, filter: visible } = await authorizeList(
      req,
      routes.listPlugins.permission,
    );
    const {
      limit = 500,
      cursor,
      ...filter
    } = parseInput(routes.listPlugins.query, req.query, 'query');
    const after =
      cursor === undefined ? undefined : readCursor(cursor, 'string');
    const page = await system.listPlugins(filter, scope, { limit, after });
    // The cursor follows the page as read: a conditional policy may keep
    // fewer items than the limit, and the next page goes on after them.
    res.json({
      items: await visible(page),
      ...nextCursor(page, limit, p => p.id),
    });
  });

  mount(router, routes.getPlugin, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.getPlugin.permission,
      req.params.pluginId,
    );
    res.json(await system.getPlugin(req.params.pluginId, scope));
  });

  mount(router, routes.listAvailableVersions, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.listAvailableVersions.permission,
      req.params.pluginId,
    );
    res.json(await system.listAvailableVersions(req.params.pluginId, scope));
  });

  mount(router, routes.getPluginCatalogSync, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.getPluginCatalogSync.permission,
      req.params.pluginId,
    );
    res.json(await system.getPluginCatalogSync(req.params.pluginId, scope));
  });

  mount(router, routes.getHistory, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.getHistory.permission,
      req.params.pluginId,
    );
    const { limit, after } = readNumberPage(req.query, 500);
    const items = await system.getHistory(req.params.pluginId, scope, {
      limit,
      afterId: after,
    });
    res.json({ items, ...nextCursor(items, limit, t => t.id) });
  });

  mount(router, routes.listPluginOperations, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.listPluginOperations.permission,
      req.params.pluginId,
    );
    // Newest first: the cursor is the sequence number to go on below.
    const { limit, after } = readNumberPage(req.query, 50);
    const items = await system.listOperations(req.params.pluginId, scope, {
      limit,
      beforeSeq: after,
    });
    res.json({ items, ...nextCursor(items, limit, o => o.seq) });
  });
}
