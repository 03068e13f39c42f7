import { z } from 'zod';

// The original design's system configuration (ORIGINAL-DESIGN.md,
// "Configuration") under pluginLifecycle: `serviceDiscovery.*`,
// `healthMonitor.*`, `configurationManager.*` and `globalSettings.*`, mapped
// onto our keys before our schema reads them. (`orchestrator.*` has the
// design's names already.) Each key, its default and what it maps to are
// documented in config.d.ts; README.md has the table.
//
// When a design key and ours are both set and differ, ours wins with a
// warning: ours is the more precise, and app-config layered for one
// environment usually sets ours. A switch we cannot honour stops the backend
// at start with what to do instead, rather than being silently ignored.

const ms = (min: number, max: number) =>
  z.number().int('must be a whole number of milliseconds').min(min).max(max);

/** The design's sections, as app-config may give them. */
const designSchema = z.object({
  serviceDiscovery: z
    .object({
      enableHealthChecks: z.boolean().optional(),
      enableLoadBalancing: z.boolean().optional(),
      tenantIsolation: z.boolean().optional(),
    })
    .strict()
    .optional(),
  healthMonitor: z
    .object({
      enableCircuitBreakers: z.boolean().optional(),
      enableAutoRecovery: z.boolean().optional(),
      maxConsecutiveFailures: z.number().int().min(1).max(10_000).optional(),
      healthCheckInterval: ms(10, 86_400_000).optional(),
    })
    .strict()
    .optional(),
  configurationManager: z
    .object({
      enableVersioning: z.boolean().optional(),
      enableEncryption: z.boolean().optional(),
      maxVersionHistory: z.number().int().min(1).optional(),
    })
    .strict()
    .optional(),
  globalSettings: z
    .object({
      enableMetrics: z.boolean().optional(),
      enableAuditLogging: z.boolean().optional(),
      defaultEnvironment: z.string().min(1).optional(),
    })
    .strict()
    .optional(),
});

/** The top-level keys of the design's sections. */
export const DESIGN_SECTIONS = [
  'serviceDiscovery',
  'healthMonitor',
  'configurationManager',
  'globalSettings',
] as const;

type Raw = Record<string, unknown>;

/** What {@link mapDesignConfiguration} makes of `pluginLifecycle`. */
export interface MappedConfiguration {
  /** `pluginLifecycle` without the design's sections, their values moved to ours. */
  raw: Raw;
  /** Said once at start: a design key that our key overrides, and the like. */
  warnings: string[];
  /** Keys of the wrong type, and switches that cannot be honoured. */
  problems: string[];
}

function get(raw: Raw, path: string[]): unknown {
  let node: unknown = raw;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Raw)[key];
  }
  return node;
}

function set(raw: Raw, path: string[], value: unknown) {
  let node = raw;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      node[key] = {};
    }
    node = node[key] as Raw;
  }
  node[path[path.length - 1]] = value;
}

/**
 * Moves the design's keys onto ours. `raw` is `pluginLifecycle` as read
 * from app-config; it is not changed.
 */
export function mapDesignConfiguration(input: unknown): MappedConfiguration {
  const raw: Raw =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? structuredClone(input as Raw)
      : {};
  const warnings: string[] = [];
  const problems: string[] = [];
  const design: Raw = {};
  for (const section of DESIGN_SECTIONS) {
    if (section in raw) {
      design[section] = raw[section];
      delete raw[section];
    }
  }
  const parsed = designSchema.safeParse(design);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(
        `pluginLifecycle.${issue.path.join('.')}: ${issue.message}`,
      );
    }
    return { raw, warnings, problems };
  }
  const {
    serviceDiscovery,
    healthMonitor,
    configurationManager,
    globalSettings,
  } = parsed.data;

  /** Ours at `path` takes the design's value unless it is set already. */
  const map = (designKey: string, value: unknown, path: string[]) => {
    if (value === undefined) return;
    const ours = get(raw, path);
    if (ours === undefined) {
      set(raw, path, value);
    } else if (JSON.stringify(ours) !== JSON.stringify(value)) {
      warnings.push(
        `pluginLifecycle.${designKey} (${JSON.stringify(
          value,
        )}) is overridden by pluginLifecycle.${path.join(
          '.',
        )} (${JSON.stringify(ours)}), which is also set`,
      );
    }
  };
  const refuse = (designKey: string, why: string) =>
    problems.push(
      `pluginLifecycle.${designKey}: false cannot be honoured: ${why}`,
    );

  if (serviceDiscovery) {
    map(
      'serviceDiscovery.enableHealthChecks',
      serviceDiscovery.enableHealthChecks,
      ['discovery', 'healthChecks'],
    );
    if (serviceDiscovery.enableLoadBalancing === false) {
      refuse(
        'serviceDiscovery.enableLoadBalancing',
        'discovery always picks an instance by a strategy; to send all traffic to one instance, give the others weight 0 (PATCH /services/{id}), or choose the strategy with pluginLifecycle.discovery.defaultStrategy. Remove the key or set it to true',
      );
    }
    map('serviceDiscovery.tenantIsolation', serviceDiscovery.tenantIsolation, [
      'tenancy',
      'enabled',
    ]);
  }
  if (healthMonitor) {
    map(
      'healthMonitor.enableCircuitBreakers',
      healthMonitor.enableCircuitBreakers,
      ['health', 'circuitBreakers'],
    );
    // Auto-recovery of a failing instance is the liveness remediation of
    // every plugin: a restart (ours' default), or only the event.
    if (healthMonitor.enableAutoRecovery !== undefined) {
      map(
        'healthMonitor.enableAutoRecovery',
        healthMonitor.enableAutoRecovery ? 'restart' : 'event',
        ['health', 'remediation', '*', 'onLivenessFailure'],
      );
    }
    map(
      'healthMonitor.maxConsecutiveFailures',
      healthMonitor.maxConsecutiveFailures,
      ['health', 'probeDefaults', 'failureThreshold'],
    );
    map(
      'healthMonitor.healthCheckInterval',
      healthMonitor.healthCheckInterval === undefined
        ? undefined
        : healthMonitor.healthCheckInterval / 1000,
      ['health', 'probeDefaults', 'periodSeconds'],
    );
  }
  if (configurationManager) {
    if (configurationManager.enableVersioning === false) {
      refuse(
        'configurationManager.enableVersioning',
        'every configuration change is a new version (rollback, audit and watches depend on it); keep fewer with pluginLifecycle.configuration.maxVersionHistory. Remove the key or set it to true',
      );
    }
    if (configurationManager.enableEncryption === false) {
      refuse(
        'configurationManager.enableEncryption',
        'secret and sensitive values are always stored encrypted; a backend without pluginLifecycle.configuration.encryption.keys refuses them instead. Remove the key or set it to true',
      );
    } else if (
      configurationManager.enableEncryption === true &&
      !(get(raw, ['configuration', 'encryption', 'keys']) as unknown[])?.length
    ) {
      warnings.push(
        'pluginLifecycle.configurationManager.enableEncryption is true but pluginLifecycle.configuration.encryption.keys is empty: secret and sensitive values are refused until a key is configured',
      );
    }
    map(
      'configurationManager.maxVersionHistory',
      configurationManager.maxVersionHistory,
      ['configuration', 'maxVersionHistory'],
    );
  }
  if (globalSettings) {
    map('globalSettings.enableMetrics', globalSettings.enableMetrics, [
      'metrics',
      'export',
    ]);
    if (globalSettings.enableAuditLogging === false) {
      refuse(
        'globalSettings.enableAuditLogging',
        "every change is recorded through Backstage's auditor service, which decides where audit events go (backend.auditor in app-config); it cannot be turned off here. Remove the key or set it to true",
      );
    }
    map(
      'globalSettings.defaultEnvironment',
      globalSettings.defaultEnvironment,
      ['defaultEnvironment'],
    );
  }
  return { raw, warnings, problems };
}
