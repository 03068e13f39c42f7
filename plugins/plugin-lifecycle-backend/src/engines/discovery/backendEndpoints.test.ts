import { ConfigReader } from '@backstage/config';
import { backendEndpointsOf } from './backendEndpoints';

describe('backendEndpointsOf', () => {
  it("lists the backend's own port, its base URL's and every database with a host", () => {
    const endpoints = backendEndpointsOf(
      new ConfigReader({
        backend: {
          listen: { port: 7010, host: '10.0.0.4' },
          database: {
            client: 'pg',
            connection: 'postgresql://u:p@db.internal:6543/backstage',
            plugin: {
              catalog: { connection: { host: '10.0.0.9' } },
              search: { client: 'better-sqlite3', connection: ':memory:' },
            },
          },
        },
      }),
      { ownBaseUrl: 'http://localhost:7011/api/plugin-lifecycle' },
    );
    expect(endpoints).toEqual([
      { what: "the backend's own listener", host: '127.0.0.1', port: 7010 },
      { what: "the backend's own listener", host: '10.0.0.4', port: 7010 },
      { what: "the backend's own listener", host: '127.0.0.1', port: 7011 },
      { what: "the backend's own listener", host: 'localhost', port: 7011 },
      { what: "the backend's database", host: 'db.internal', port: 6543 },
      {
        what: "the database of plugin 'catalog'",
        host: '10.0.0.9',
        port: 5432,
      },
    ]);
  });

  it('defaults to port 7007 and nothing more for SQLite', () => {
    expect(
      backendEndpointsOf(
        new ConfigReader({
          backend: {
            database: { client: 'better-sqlite3', connection: ':memory:' },
          },
        }),
      ),
    ).toEqual([
      { what: "the backend's own listener", host: '127.0.0.1', port: 7007 },
    ]);
  });
});
