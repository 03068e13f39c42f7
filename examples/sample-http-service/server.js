#!/usr/bin/env node
/*
 * sample-http-service: a tiny HTTP "plugin service" used by demos, tests and
 * benchmarks of the plugin-lifecycle orchestrator. Uses only node:http.
 *
 * Routes: GET / (identity), /health (liveness), /startup (startup probe),
 * /ready (readiness), /config (the PLUGIN_CONFIG* env it was given, and the
 * configuration it reloaded since: on SIGHUP it re-reads PLUGIN_CONFIG_FILE,
 * on POST /-/reload it takes the JSON body). A configuration with
 * "sample.failReadiness": true makes /ready fail, to show a bad change
 * being rolled back.
 * Behaviour is tuned with env vars; see README.md.
 */
'use strict';

const http = require('node:http');
const pkg = require('./package.json');

const SERVICE = 'sample-http-service';
const version = pkg.version;
const failReadiness = Boolean(
  pkg.sampleBehaviour && pkg.sampleBehaviour.failReadiness,
);
// A bad release that its probes do not catch: only its traffic shows it.
const failRequests = Boolean(
  pkg.sampleBehaviour && pkg.sampleBehaviour.failRequests,
);
const PROBE_PATHS = new Set(['/health', '/startup', '/ready']);

function ms(name) {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? 0 : Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(
      `${SERVICE}: ${name} must be a non-negative number of ms, got "${raw}"\n`,
    );
    process.exit(1);
  }
  return value;
}

if (process.env.SAMPLE_EXIT_IMMEDIATELY === '1') {
  process.stderr.write('exiting at once as asked\n');
  process.exit(3);
}

const rawPort = process.env.PORT;
const port = Number(rawPort);
if (!rawPort || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(
    `${SERVICE}: the PORT environment variable is required (an integer 0-65535), got "${
      rawPort ?? ''
    }"\n`,
  );
  process.exit(1);
}
const host = process.env.HOST || '127.0.0.1';
const startupDelayMs = ms('SAMPLE_STARTUP_DELAY_MS');
const shutdownDelayMs = ms('SAMPLE_SHUTDOWN_DELAY_MS');

let started = false;
let shuttingDown = false;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(`${JSON.stringify(body)}\n`);
}

function configFromEnv() {
  const config = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('PLUGIN_CONFIG_')) config[name] = value;
  }
  if (process.env.PLUGIN_CONFIG !== undefined) {
    config.PLUGIN_CONFIG = JSON.parse(process.env.PLUGIN_CONFIG); // throws on bad JSON
  }
  return config;
}

// The configuration in force: from the environment at start, then replaced
// by every hot reload.
let liveConfig = (() => {
  try {
    return JSON.parse(process.env.PLUGIN_CONFIG || '{}');
  } catch {
    return {};
  }
})();
let reloads = 0;

function reloadFromFile() {
  const file = process.env.PLUGIN_CONFIG_FILE;
  if (!file) return;
  try {
    liveConfig = JSON.parse(require('node:fs').readFileSync(file, 'utf8'));
    reloads++;
    console.log(`reloaded configuration from ${file} (reload ${reloads})`);
  } catch (err) {
    process.stderr.write(`cannot reload ${file}: ${err.message}\n`);
  }
}

process.on('SIGHUP', reloadFromFile);

const routes = {
  '/': req => [
    200,
    {
      service: SERVICE,
      version,
      instanceId: process.env.PLUGIN_INSTANCE_ID || null,
      pid: process.pid,
      // W3C trace context, when there is one: the operation that started
      // this instance (TRACEPARENT) and the request (the proxy's span).
      ...(process.env.TRACEPARENT
        ? { startedIn: process.env.TRACEPARENT }
        : {}),
      ...(req.headers.traceparent
        ? { traceparent: req.headers.traceparent }
        : {}),
    },
  ],
  '/health': () => [200, { status: 'ok' }],
  '/startup': () =>
    started ? [200, { status: 'started' }] : [503, { status: 'starting' }],
  '/ready': () => {
    if (!started)
      return [503, { status: 'not-ready', reason: 'still starting' }];
    if (liveConfig['sample.failReadiness'] === true)
      return [
        503,
        {
          status: 'not-ready',
          reason: 'configuration says sample.failReadiness',
        },
      ];
    if (failReadiness)
      return [
        503,
        {
          status: 'not-ready',
          reason: `version ${version} is deliberately broken`,
        },
      ];
    return [200, { status: 'ready' }];
  },
  '/config': () => {
    try {
      return [200, { ...configFromEnv(), live: liveConfig, reloads }];
    } catch (err) {
      return [
        500,
        { error: `PLUGIN_CONFIG is not valid JSON: ${err.message}` },
      ];
    }
  },
};

const server = http.createServer((req, res) => {
  const path = new URL(req.url || '/', 'http://localhost').pathname;
  if (req.method === 'POST' && path === '/-/reload') {
    let body = '';
    req.on('data', chunk => {
      body += chunk;
    });
    req.on('end', () => {
      try {
        liveConfig = JSON.parse(body || '{}');
        reloads++;
        console.log(`reloaded configuration by request (reload ${reloads})`);
        send(res, 200, { reloaded: true, reloads });
      } catch (err) {
        send(res, 400, { error: `body is not JSON: ${err.message}` });
      }
    });
    return;
  }
  if (failRequests && !PROBE_PATHS.has(path)) {
    send(res, 500, { error: 'this release is bad', version });
    return;
  }
  const route = req.method === 'GET' ? routes[path] : undefined;
  if (!route) {
    send(res, 404, { error: 'not found', method: req.method, path });
    return;
  }
  const [status, body] = route(req);
  send(res, status, body);
});

server.on('error', err => {
  process.stderr.write(
    `${SERVICE}: cannot listen on ${host}:${port}: ${err.message}\n`,
  );
  process.exit(1);
});

server.listen(port, host, () => {
  const actual = server.address();
  console.log(
    `listening on http://${host}:${actual.port} (version ${version})`,
  );
  setTimeout(() => {
    started = true;
  }, startupDelayMs);
});

process.on('SIGTERM', () => {
  if (process.env.SAMPLE_IGNORE_SIGTERM === '1') {
    console.log(
      'received SIGTERM, ignoring it as asked (SAMPLE_IGNORE_SIGTERM=1)',
    );
    return;
  }
  if (shuttingDown) return;
  shuttingDown = true;
  console.log('received SIGTERM, shutting down');
  server.close();
  setTimeout(() => process.exit(0), shutdownDelayMs);
});
