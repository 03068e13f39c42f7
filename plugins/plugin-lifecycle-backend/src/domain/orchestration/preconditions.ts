import semver from 'semver';

/**
 * A dependency as a manifest declares it.
 *
 * @public
 */
export interface ManifestDependency {
  pluginId: string;
  /** A semver range, e.g. `^2.0.0`. */
  range: string;
}

/**
 * What {@link checkDependenciesRunning} needs to know about a plugin.
 *
 * @public
 */
export interface DependencyStatus {
  state: string;
  currentVersion?: string;
}

/**
 * Explains each dependency that keeps a plugin from starting: it is not
 * installed, not running, or runs a version outside the declared range.
 * Pre-releases only satisfy ranges that name a pre-release of the same
 * version, as in npm.
 *
 * @param manifestDeps - the dependencies the plugin's manifest declares
 * @param lookup - the current state of a plugin, or undefined if unknown
 * @returns one message per unmet dependency; empty when all are met
 * @public
 */
export function checkDependenciesRunning(
  manifestDeps: ManifestDependency[] | undefined,
  lookup: (pluginId: string) => DependencyStatus | undefined,
): string[] {
  const problems: string[] = [];
  for (const { pluginId, range } of manifestDeps ?? []) {
    const dependency = lookup(pluginId);
    if (!dependency) {
      problems.push(`'${pluginId}' is not installed`);
      continue;
    }
    if (dependency.state !== 'running') {
      problems.push(`'${pluginId}' is ${dependency.state}, it must be running`);
      continue;
    }
    if (semver.validRange(range) === null) {
      problems.push(
        `'${pluginId}' is required with an invalid version range '${range}'`,
      );
      continue;
    }
    const version = dependency.currentVersion;
    if (!version) {
      // Without a known version only an unconstrained range is met.
      if (!isAnyVersion(range)) {
        problems.push(
          `'${pluginId}' runs an unknown version, which does not satisfy ${range}`,
        );
      }
      continue;
    }
    if (!semver.satisfies(version, range, { includePrerelease: false })) {
      problems.push(
        `'${pluginId}' runs ${version}, which does not satisfy ${range}`,
      );
    }
  }
  return problems;
}

function isAnyVersion(range: string) {
  return semver.validRange(range) === '*';
}

/**
 * States in which a plugin relies on its dependencies being up.
 */
const ACTIVE_STATES: ReadonlySet<string> = new Set([
  'running',
  'starting',
  'updating',
  'maintenance',
]);

/**
 * The plugins that would break if `pluginId` went down: those in an active
 * state (running, starting, updating, maintenance) that depend on it
 * directly.
 *
 * @public
 */
export function findRunningDependents(
  pluginId: string,
  all: Array<{ id: string; state: string; dependencies: string[] }>,
): string[] {
  const dependents = all
    .filter(
      plugin =>
        plugin.id !== pluginId &&
        ACTIVE_STATES.has(plugin.state) &&
        (plugin.dependencies ?? []).includes(pluginId),
    )
    .map(plugin => plugin.id);
  return [...new Set(dependents)];
}

/**
 * The keys that a configuration JSON Schema lists as `required` at its top
 * level and that have no usable value: no entry, or an entry whose value is
 * undefined, null or the empty string. Keys may contain dots, e.g.
 * `database.url`; such a key is also met by an entry for a prefix whose
 * value is an object holding the rest, e.g. `database` with `{ url }`.
 *
 * @param schema - the manifest's configuration schema, if any
 * @param entries - the plugin's configuration entries
 * @public
 */
export function missingRequiredConfiguration(
  schema: Record<string, unknown> | undefined,
  entries: Array<{ key: string; value?: unknown }>,
): string[] {
  const required = schema?.required;
  if (!Array.isArray(required)) {
    return [];
  }
  const values = new Map<string, unknown>();
  for (const entry of entries) {
    values.set(entry.key, entry.value);
  }
  const keys = [
    ...new Set(
      required.filter((k): k is string => typeof k === 'string' && k !== ''),
    ),
  ];
  return keys.filter(key => !hasValue(lookupValue(values, key)));
}

function lookupValue(values: Map<string, unknown>, key: string): unknown {
  if (values.has(key) && hasValue(values.get(key))) {
    return values.get(key);
  }
  // Try every split of the dotted key into an entry key and a nested path.
  const parts = key.split('.');
  for (let split = parts.length - 1; split >= 1; split--) {
    const prefix = parts.slice(0, split).join('.');
    if (!values.has(prefix)) continue;
    let value: unknown = values.get(prefix);
    for (const part of parts.slice(split)) {
      value =
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        Object.prototype.hasOwnProperty.call(value, part)
          ? (value as Record<string, unknown>)[part]
          : undefined;
    }
    if (hasValue(value)) return value;
  }
  return undefined;
}

function hasValue(value: unknown) {
  return value !== undefined && value !== null && value !== '';
}

/**
 * The dependency view with every plugin's dependencies on other tenants'
 * plugins left out: a plugin's manifest names ids, and an id in another
 * tenant is not there for it. Otherwise tenant B could declare a dependency
 * on tenant A's plugin and so block A from stopping or uninstalling it.
 * Ids of plugins not installed stay (they may be installed in the tenant).
 *
 * @public
 */
export function withinTenantDependencies<
  T extends { id: string; tenant: string; dependencies: string[] },
>(all: T[]): T[] {
  const tenantOf = new Map(all.map(p => [p.id, p.tenant]));
  return all.map(plugin => ({
    ...plugin,
    dependencies: plugin.dependencies.filter(id => {
      const tenant = tenantOf.get(id);
      return tenant === undefined || tenant === plugin.tenant;
    }),
  }));
}
