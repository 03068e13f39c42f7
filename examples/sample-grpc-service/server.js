#!/usr/bin/env node
/*
 * sample-grpc-service: a tiny gRPC "plugin service" used by demos, tests and
 * benchmarks of the plugin-lifecycle orchestrator. It serves the standard
 * grpc.health.v1.Health service (via grpc-health-check) plus a trivial
 * sample.Echo/Echo method that returns the request bytes unchanged.
 *
 * Env: PORT (required), HOST (default 127.0.0.1), SAMPLE_GRPC_NOT_SERVING=1
 * (report NOT_SERVING), SAMPLE_GRPC_SHUTDOWN_TIMEOUT_MS (default 5000).
 */
'use strict';

const grpc = require('@grpc/grpc-js');
const { HealthImplementation } = require('grpc-health-check');
const { version } = require('./package.json');

const SERVICE = 'sample-grpc-service';
const ECHO_SERVICE = 'sample.Echo';

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
const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
const shutdownTimeoutMs = Number(
  process.env.SAMPLE_GRPC_SHUTDOWN_TIMEOUT_MS || 5000,
);

const status =
  process.env.SAMPLE_GRPC_NOT_SERVING === '1' ? 'NOT_SERVING' : 'SERVING';
const health = new HealthImplementation({ '': status, [ECHO_SERVICE]: status });

// Raw-bytes method definition: Echo works for any protobuf message type.
const identity = buf => buf;
const echoDefinition = {
  echo: {
    path: `/${ECHO_SERVICE}/Echo`,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const server = new grpc.Server();
health.addToServer(server);
server.addService(echoDefinition, {
  echo: (call, callback) => callback(null, call.request),
});

server.bindAsync(
  address,
  grpc.ServerCredentials.createInsecure(),
  (err, boundPort) => {
    if (err) {
      process.stderr.write(
        `${SERVICE}: cannot listen on ${address}: ${err.message}\n`,
      );
      process.exit(1);
    }
    console.log(
      `listening on ${host}:${boundPort} (version ${version}, health ${status})`,
    );
  },
);

let shuttingDown = false;
process.on('SIGTERM', () => {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log('received SIGTERM, shutting down');
  health.setStatus('', 'NOT_SERVING');
  health.setStatus(ECHO_SERVICE, 'NOT_SERVING');
  // Open Watch streams would keep tryShutdown waiting forever, hence the timeout.
  const timer = setTimeout(() => {
    server.forceShutdown();
    process.exit(0);
  }, shutdownTimeoutMs);
  server.tryShutdown(() => {
    clearTimeout(timer);
    process.exit(0);
  });
});
