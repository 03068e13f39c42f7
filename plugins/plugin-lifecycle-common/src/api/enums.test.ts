import {
  DEPLOYMENT_STRATEGIES,
  DeploymentStrategy,
  deploymentStrategySchema,
} from './deployments';
import {
  SERVICE_LOAD_BALANCING_STRATEGIES,
  serviceLoadBalancingStrategySchema,
  serviceTypeSchema,
} from './discovery';
import {
  LoadBalancingStrategy,
  PROBE_METHODS,
  PROBE_TYPES,
  ProbeMethod,
  ProbeType,
} from './enums';
import { installRequestSchema, probeSchema } from './schemas';
import { validationMessage } from './validationMessage';

describe("the original design's enums", () => {
  it('have our wire strings as values', () => {
    expect(ProbeType).toEqual({
      STARTUP: 'startup',
      READINESS: 'readiness',
      LIVENESS: 'liveness',
    });
    expect(ProbeMethod).toEqual({
      HTTP: 'http',
      TCP: 'tcp',
      GRPC: 'grpc',
      EXEC: 'exec',
      CUSTOM: 'custom',
    });
    expect(PROBE_TYPES).toEqual(['startup', 'readiness', 'liveness']);
    expect(PROBE_METHODS).toEqual(['http', 'tcp', 'grpc', 'exec', 'custom']);
    // Every strategy the balancer has, and no other.
    expect(new Set(Object.values(LoadBalancingStrategy))).toEqual(
      new Set(SERVICE_LOAD_BALANCING_STRATEGIES),
    );
    expect(LoadBalancingStrategy.HEALTH_WEIGHTED).toBe('health-weighted');
    expect(LoadBalancingStrategy.WEIGHTED).toBe(
      LoadBalancingStrategy.WEIGHTED_ROUND_ROBIN,
    );
    expect(new Set(Object.values(DeploymentStrategy))).toEqual(
      new Set(DEPLOYMENT_STRATEGIES),
    );
  });

  it('are taken by their key names as well as their values', () => {
    const probe = probeSchema.parse({
      name: 'startup-check',
      type: 'STARTUP',
      method: 'HTTP',
      http: { path: '/startup', timeout: 10000 },
    });
    expect(probe).toMatchObject({ type: 'startup', method: 'http' });
    expect(probeSchema.parse({ ...probe, type: ProbeType.LIVENESS }).type).toBe(
      'liveness',
    );
    for (const [key, value] of Object.entries(LoadBalancingStrategy)) {
      expect(serviceLoadBalancingStrategySchema.parse(key)).toBe(value);
      expect(serviceLoadBalancingStrategySchema.parse(value)).toBe(value);
    }
    for (const [key, value] of Object.entries(DeploymentStrategy)) {
      expect(deploymentStrategySchema.parse(key)).toBe(value);
    }
    expect(serviceTypeSchema.parse('backend')).toBe('http');
  });

  it('say which values they take for anything else', () => {
    const bad = installRequestSchema.safeParse({
      version: '1.0.0',
      healthProbes: [
        { name: 'p', type: 'Startup', method: 'SMTP', http: { path: '/' } },
      ],
    });
    expect(bad.success).toBe(false);
    expect(validationMessage(bad.error!)).toBe(
      'healthProbes.0.type: must be one of startup, readiness, liveness; healthProbes.0.method: must be one of http, tcp, grpc, exec, custom',
    );
    expect(
      serviceLoadBalancingStrategySchema.safeParse('random').error?.issues[0]
        .message,
    ).toBe(
      'must be one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted',
    );
  });
});
