/**
 * The lifecycle states of a managed plugin.
 *
 * @public
 */
export const LifecycleState = {
  INACTIVE: 'inactive',
  INSTALLING: 'installing',
  INSTALLED: 'installed',
  CONFIGURING: 'configuring',
  STARTING: 'starting',
  RUNNING: 'running',
  UPDATING: 'updating',
  STOPPING: 'stopping',
  UNINSTALLING: 'uninstalling',
  ERROR: 'error',
  MAINTENANCE: 'maintenance',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type LifecycleState =
  (typeof LifecycleState)[keyof typeof LifecycleState];

/**
 * Every lifecycle state, in the order the UI lists them.
 *
 * @public
 */
export const LIFECYCLE_STATES: readonly LifecycleState[] = Object.freeze(
  Object.values(LifecycleState),
);

/**
 * States in which work is in progress. Each has a timeout that leads to
 * `error`; no new action may start from one of them.
 *
 * @public
 */
export const TRANSITIONAL_STATES: ReadonlySet<LifecycleState> = new Set([
  LifecycleState.INSTALLING,
  LifecycleState.CONFIGURING,
  LifecycleState.STARTING,
  LifecycleState.UPDATING,
  LifecycleState.STOPPING,
  LifecycleState.UNINSTALLING,
]);

/** @public */
export function isLifecycleState(value: unknown): value is LifecycleState {
  return (
    typeof value === 'string' &&
    (LIFECYCLE_STATES as readonly string[]).includes(value)
  );
}

/**
 * A state as it reads after "it is": `running`, `installed`, but `in
 * maintenance` and `in error` (for messages such as "Cannot stop plugin
 * 'x': it is in maintenance").
 *
 * @public
 */
export function describeLifecycleState(state: LifecycleState): string {
  return state === 'maintenance' || state === 'error' ? `in ${state}` : state;
}
