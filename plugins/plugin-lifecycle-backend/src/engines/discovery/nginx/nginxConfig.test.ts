import {
  NginxConfigOptions,
  NginxPool,
  isSafeNginxValue,
  renderNginxConfig,
} from './nginxConfig';

const base: Omit<NginxConfigOptions, 'pools'> = {
  host: '127.0.0.1',
  port: 7008,
  directory: '/var/lib/plo',
  workers: 2,
  maxRetries: 2,
  connectTimeoutMs: 5_000,
  readTimeoutMs: 60_000,
  maxFails: 5,
  failTimeoutMs: 10_000,
  keepAlive: 128,
  keepAliveTimeoutMs: 4_000,
  logFlushMs: 250,
  generation: 7,
};

const pool = (overrides: Partial<NginxPool> = {}): NginxPool => ({
  index: 0,
  tenant: 'default',
  serviceName: 'billing',
  strategy: 'round-robin',
  protocol: 'http',
  hostHeader: 'billing',
  forwardAuthorization: false,
  servers: [
    { address: '10.0.0.1:8080', weight: 100 },
    { address: '[fd00::2]:8080', weight: 50, maxConnections: 10 },
  ],
  ...overrides,
});

function upstreamOf(config: string, index: number | string): string {
  const start = config.indexOf(`upstream plo_${index} {`);
  return config.slice(start, config.indexOf('}', start) + 1);
}

describe('renderNginxConfig', () => {
  it('renders a pool split by version subsets as an upstream per subset and a split_clients by weight; a pool of one subset as before', () => {
    const v1 = { address: '10.0.0.1:8080', weight: 100 };
    const v2 = { address: '10.0.0.2:8080', weight: 100 };
    const plain = renderNginxConfig({ ...base, pools: [pool()] });
    // Without a split, nothing of the split is rendered.
    expect(plain).not.toContain('split_clients');
    expect(plain).not.toContain('$plo_upstream');
    expect(plain).toContain('proxy_pass $plo_scheme://plo_$plo_key$plo_rest;');

    const config = renderNginxConfig({
      ...base,
      pools: [
        pool(),
        pool({
          index: 1,
          serviceName: 'versions',
          servers: [v1, v2],
          subsets: [
            { weight: 80, servers: [v1] },
            { weight: 20, servers: [v2] },
          ],
        }),
        pool({
          index: 2,
          serviceName: 'sticky',
          strategy: 'ip-hash',
          servers: [v1, v2],
          subsets: [
            { weight: 1, servers: [v1] },
            { weight: 2, servers: [v2] },
          ],
        }),
      ],
    });
    // The pool without a split is rendered as before.
    expect(upstreamOf(config, 0)).toBe(upstreamOf(plain, 0));
    expect(config).not.toContain('upstream plo_1 {');
    expect(upstreamOf(config, '1_0')).toContain(
      'server 10.0.0.1:8080 max_fails=5 fail_timeout=10s;',
    );
    expect(upstreamOf(config, '1_1')).toContain(
      'server 10.0.0.2:8080 max_fails=5 fail_timeout=10s;',
    );
    expect(config).toContain(`  split_clients "$request_id" $plo_split_1 {
    80.00% 1_0;
    * 1_1;
  }`);
    // A sticky pool splits by the affinity key: a client stays in its subset.
    expect(config).toContain(`  split_clients "$plo_affinity" $plo_split_2 {
    33.33% 2_0;
    * 2_1;
  }`);
    expect(config).toContain(`  map $plo_key $plo_upstream {
    "1" $plo_split_1;
    "2" $plo_split_2;
    default $plo_key;
  }`);
    expect(config).toContain(
      'proxy_pass $plo_scheme://plo_$plo_upstream$plo_rest;',
    );
  });

  it('renders a header or cookie match as a map to the match subset, the split or the pool otherwise', () => {
    const v1 = { address: '10.0.0.1:8080', weight: 100 };
    const v2 = { address: '10.0.0.2:8080', weight: 100 };
    const config = renderNginxConfig({
      ...base,
      pools: [
        // A/B: all weight on v1, requests with the header on v2 (weight 0).
        pool({
          index: 0,
          servers: [v1],
          match: {
            subset: 'canary/1.1.0',
            header: { name: 'X-Variant', value: 'B"$x' },
            servers: [v2],
          },
        }),
        // A canary with weight, and a cookie that sends its holders there.
        pool({
          index: 1,
          serviceName: 'versions',
          servers: [v1, v2],
          subsets: [
            { key: 'canary/1.1.0', weight: 20, servers: [v2] },
            { key: 'stable/1.0.0', weight: 80, servers: [v1] },
          ],
          match: {
            subset: 'canary/1.1.0',
            cookie: { name: 'ab-group', value: 'b' },
            servers: [v2],
          },
        }),
      ],
    });
    expect(upstreamOf(config, 0)).toContain('server 10.0.0.1:8080');
    expect(upstreamOf(config, '0_m')).toContain('server 10.0.0.2:8080');
    // Every character but letters and digits as \xHH: no quote, no $ variable.
    expect(config).toContain(`  map $http_x_variant $plo_match_0 {
    "~^B\\x22\\x24x$" 0_m;
    default 0;
  }`);
    // The subset has weight: its split upstream, no other.
    expect(config).not.toContain('upstream plo_1_m');
    expect(config).toContain(`  map $http_cookie $plo_match_1 {
    "~(?:^|;) *ab\\x2dgroup=b *(?:;|$)" 1_0;
    default $plo_split_1;
  }`);
    expect(config).toContain(`  map $plo_key $plo_upstream {
    "0" $plo_match_0;
    "1" $plo_match_1;
    default $plo_key;
  }`);
    expect(config).toContain(
      'proxy_pass $plo_scheme://plo_$plo_upstream$plo_rest;',
    );
  });

  it('renders each pool as an upstream with its strategy, weights and limits', () => {
    const config = renderNginxConfig({
      ...base,
      pools: [
        pool(),
        pool({
          index: 1,
          serviceName: 'wrr',
          strategy: 'weighted-round-robin',
        }),
        pool({ index: 2, serviceName: 'lc', strategy: 'least-connections' }),
        pool({ index: 3, serviceName: 'hash', strategy: 'ip-hash' }),
        pool({
          index: 4,
          serviceName: 'hw',
          strategy: 'health-weighted',
          servers: [{ address: '10.0.0.9:1', weight: 0.4 }],
        }),
      ],
    });
    expect(config).toContain('worker_processes 2;');
    expect(upstreamOf(config, 0)).toContain(
      'server 10.0.0.1:8080 max_fails=5 fail_timeout=10s;',
    );
    expect(upstreamOf(config, 0)).toContain(
      'server [fd00::2]:8080 max_conns=10 max_fails=5 fail_timeout=10s;',
    );
    expect(upstreamOf(config, 1)).toContain('server 10.0.0.1:8080 weight=100');
    expect(upstreamOf(config, 1)).toContain('server [fd00::2]:8080 weight=50');
    expect(upstreamOf(config, 2)).toContain('least_conn;');
    expect(upstreamOf(config, 2)).toContain('weight=100');
    expect(upstreamOf(config, 3)).toContain('hash $plo_affinity consistent;');
    expect(upstreamOf(config, 3)).not.toContain('weight=');
    // nginx weights are whole numbers of at least 1.
    expect(upstreamOf(config, 4)).toContain('server 10.0.0.9:1 weight=1 ');
    expect(config).toContain('zone plo_0 64k;');
    expect(upstreamOf(config, 0)).toContain('keepalive_timeout 4000ms;');
  });

  it('routes a name by the tenant header through maps, and answers for a pool with no instance', () => {
    const config = renderNginxConfig({
      ...base,
      pools: [
        pool({ index: 4, tenant: 'team-a', forwardAuthorization: true }),
        pool({
          index: 9,
          tenant: 'team.b',
          servers: [],
          unavailable:
            "Service 'billing' has no ready instance (1 known, none ready)",
        }),
        pool({
          index: 5,
          serviceName: 'default',
          protocol: 'https',
          hostHeader: 'api.example.com',
        }),
      ],
    });
    // One hash lookup: service name and tenant header.
    expect(config).toContain(
      'map "$plo_name|$http_x_plugin_lifecycle_tenant" $plo_key {',
    );
    expect(config).toContain('"billing|" "*";');
    expect(config).toContain('"billing|team-a" 4;');
    expect(config).toContain('"billing|team.b" 9;');
    expect(config).toContain('"default|" 5;');
    // The 400 for a name in several tenants names none of them.
    expect(config).not.toContain('team-a, team.b');
    expect(config).toContain(
      'exists in several tenants; say which with the x-plugin-lifecycle-tenant header',
    );
    expect(config).toMatch(
      /map \$plo_key \$plo_az \{\s+"4" \$plo_authorization;\s+default "";/,
    );
    expect(config).toMatch(
      /map \$plo_key \$plo_host \{[^}]*"5" "api\.example\.com";/,
    );
    expect(config).toMatch(
      /map \$plo_key \$plo_scheme \{\s+"5" https;\s+default http;/,
    );
    expect(config).toContain(
      `"9" "Service 'billing' has no ready instance (1 known, none ready)";`,
    );
    expect(config).not.toContain('upstream plo_9');
    // Every service shares one location.
    expect(config.match(/location \^~ \/proxy\//g)).toHaveLength(1);
    expect(config).toContain('proxy_pass $plo_scheme://plo_$plo_key$plo_rest;');
    expect(config).toContain(
      "location = /.plugin-lifecycle/generation {\n      return 200 '7';",
    );
  });

  it("gives a caller who names no tenant the default tenant's pool, so a name squatted in made-up tenants takes no calls", () => {
    const config = renderNginxConfig({
      ...base,
      defaultTenant: 'default',
      pools: [
        pool({ index: 1, tenant: 'default' }),
        pool({ index: 2, tenant: 'zz-junk' }),
        pool({ index: 3, tenant: 'secret-customer-name' }),
        pool({ index: 4, serviceName: 'orders', tenant: 'team-a' }),
        pool({ index: 5, serviceName: 'orders', tenant: 'team-b' }),
      ],
    });
    expect(config).toContain('"billing|" 1;');
    expect(config).toContain('"billing|zz-junk" 2;');
    // No pool in the default tenant: ask which, naming none.
    expect(config).toContain('"orders|" "*";');
    expect(config).not.toMatch(/secret-customer-name"? "?[a-z-]+, /);
  });

  it('writes keys that differ only in case, and map parameter names, so nginx keeps them apart', () => {
    const config = renderNginxConfig({
      ...base,
      pools: [
        pool({ index: 1, serviceName: 'api', tenant: 'Team' }),
        pool({ index: 2, serviceName: 'api', tenant: 'team' }),
        pool({ index: 3, serviceName: 'default', tenant: 'x' }),
        pool({ index: 4, serviceName: 'default', tenant: 'y' }),
      ],
    });
    // nginx compares plain map keys without regard to case.
    expect(config).toContain('"~^api\\|Team$" 1;');
    expect(config).toContain('"~^api\\|team$" 2;');
    // A service named like a map parameter is a plain key with its tenant.
    expect(config).toContain('"default|" "*";');
    expect(config).toContain('"default|x" 3;');
  });

  it('checks the token in the header or as a bearer token, case-sensitively', () => {
    const config = renderNginxConfig({
      ...base,
      token: 'Abc.def-123',
      pools: [],
    });
    expect(config).toContain('"~^Abc\\.def-123$" 1;');
    expect(config).toContain('"~^Bearer Abc\\.def-123$" 1;');
    expect(config).toContain('if ($plo_denied) { return 401');
    expect(renderNginxConfig({ ...base, pools: [] })).not.toContain(
      '$plo_denied',
    );
  });

  it('refuses what the configuration cannot hold safely', () => {
    expect(() =>
      renderNginxConfig({ ...base, token: 'a"b;c', pools: [] }),
    ).toThrow(/token must be letters/);
    expect(() =>
      renderNginxConfig({ ...base, pools: [pool({ tenant: 'a b' })] }),
    ).toThrow(/cannot be written/);
    expect(isSafeNginxValue('team-a.prod@x')).toBe(true);
    expect(isSafeNginxValue('$host')).toBe(false);
    expect(isSafeNginxValue("it's")).toBe(false);
  });

  it('refuses a tenant header without a token, and passes cookies only for pools that allow them', () => {
    const anonymous = renderNginxConfig({
      ...base,
      pools: [
        pool(),
        pool({ index: 1, serviceName: 'jar', passCookies: true }),
      ],
    });
    expect(anonymous).toMatch(
      /if \(\$http_x_plugin_lifecycle_tenant\) \{ return 400 '.*needs an authenticated caller/,
    );
    expect(anonymous).toMatch(
      /map \$plo_key \$plo_cookie \{\s+"1" \$http_cookie;\s+default "";/,
    );
    expect(anonymous).toMatch(/proxy_set_header Cookie \$plo_cookie;/);
    // Set-Cookie is hidden in the shared location; cookie pools go on to one that keeps it.
    const shared = anonymous.slice(
      anonymous.indexOf('location ^~ /proxy/'),
      anonymous.indexOf('location @plo_with_cookies'),
    );
    expect(shared).toMatch(
      /if \(\$plo_cookies\) \{ return 418; \}\s+proxy_hide_header Set-Cookie;/,
    );
    expect(shared).toMatch(/error_page 502 = @plo_502;/);
    const withCookies = anonymous.slice(
      anonymous.indexOf('location @plo_with_cookies'),
    );
    expect(withCookies).not.toMatch(/proxy_hide_header/);
    expect(withCookies).toMatch(
      /proxy_pass \$plo_scheme:\/\/plo_\$plo_key\$plo_rest;/,
    );

    const guarded = renderNginxConfig({
      ...base,
      token: 'tok-1234567890',
      pools: [pool()],
    });
    expect(guarded).not.toMatch(/if \(\$http_x_plugin_lifecycle_tenant\)/);
  });
});
