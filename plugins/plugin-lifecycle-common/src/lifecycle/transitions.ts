import { LifecycleState, TRANSITIONAL_STATES } from './states';

const S = LifecycleState;

/**
 * The lifecycle transition table: for each state, the states it may move to.
 * Anything not listed is forbidden.
 *
 * Transitional states end in their success state, in `error`, or in the state
 * their compensating action restores (a failed install cleans up and returns to
 * `inactive`; a failed update restores the previous version and returns to
 * `running` or `installed`; a failed start stops what started).
 *
 * @public
 */
export const LIFECYCLE_TRANSITIONS: Readonly<
  Record<LifecycleState, readonly LifecycleState[]>
> = Object.freeze({
  [S.INACTIVE]: [S.INSTALLING],
  [S.INSTALLING]: [S.INSTALLED, S.INACTIVE, S.ERROR],
  [S.INSTALLED]: [
    S.CONFIGURING,
    S.STARTING,
    S.UPDATING,
    S.UNINSTALLING,
    S.MAINTENANCE,
  ],
  [S.CONFIGURING]: [S.INSTALLED, S.RUNNING, S.ERROR],
  [S.STARTING]: [S.RUNNING, S.INSTALLED, S.ERROR],
  [S.RUNNING]: [S.CONFIGURING, S.UPDATING, S.STOPPING, S.MAINTENANCE, S.ERROR],
  [S.UPDATING]: [S.RUNNING, S.INSTALLED, S.ERROR],
  [S.STOPPING]: [S.INSTALLED, S.ERROR],
  [S.UNINSTALLING]: [S.INACTIVE, S.ERROR],
  [S.ERROR]: [
    S.INSTALLING,
    S.STARTING,
    S.STOPPING,
    S.UNINSTALLING,
    S.MAINTENANCE,
  ],
  [S.MAINTENANCE]: [
    S.RUNNING,
    S.INSTALLED,
    S.STOPPING,
    S.UNINSTALLING,
    S.ERROR,
  ],
});

/**
 * Whether the table allows moving from one state to another.
 *
 * @public
 */
export function isTransitionAllowed(
  from: LifecycleState,
  to: LifecycleState,
): boolean {
  return LIFECYCLE_TRANSITIONS[from]?.includes(to) ?? false;
}

/**
 * The actions a user or the orchestrator can ask for.
 *
 * @public
 */
export const LifecycleAction = {
  INSTALL: 'install',
  CONFIGURE: 'configure',
  START: 'start',
  STOP: 'stop',
  RESTART: 'restart',
  UPDATE: 'update',
  UNINSTALL: 'uninstall',
  ENTER_MAINTENANCE: 'maintenance-on',
  EXIT_MAINTENANCE: 'maintenance-off',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type LifecycleAction =
  (typeof LifecycleAction)[keyof typeof LifecycleAction];

/**
 * How one action moves a plugin: the states it may start from, the
 * transitional state it passes through (if any) and where it ends on success.
 * Where it ends on failure depends on the compensation (see
 * {@link LIFECYCLE_TRANSITIONS}).
 *
 * @public
 */
export interface LifecycleActionSpec {
  action: LifecycleAction;
  from: readonly LifecycleState[];
  via?: LifecycleState;
  /** For composite actions: the actions it runs, in order. */
  steps?: readonly LifecycleAction[];
  /** The end state; `'previous'` means the state the action started from. */
  to: LifecycleState | 'previous';
  /** The state a failed attempt ends in after its compensating action ran. */
  onFailure: LifecycleState | 'previous';
}

/** @public */
export const LIFECYCLE_ACTIONS: Readonly<
  Record<LifecycleAction, LifecycleActionSpec>
> = Object.freeze({
  install: {
    action: 'install',
    from: [S.INACTIVE, S.ERROR],
    via: S.INSTALLING,
    to: S.INSTALLED,
    onFailure: S.INACTIVE,
  },
  configure: {
    action: 'configure',
    from: [S.INSTALLED, S.RUNNING],
    via: S.CONFIGURING,
    to: 'previous',
    onFailure: S.ERROR,
  },
  start: {
    action: 'start',
    from: [S.INSTALLED, S.ERROR],
    via: S.STARTING,
    to: S.RUNNING,
    onFailure: S.ERROR,
  },
  stop: {
    action: 'stop',
    from: [S.RUNNING, S.MAINTENANCE, S.ERROR],
    via: S.STOPPING,
    to: S.INSTALLED,
    onFailure: S.ERROR,
  },
  restart: {
    action: 'restart',
    from: [S.RUNNING, S.ERROR],
    steps: ['stop', 'start'],
    to: S.RUNNING,
    onFailure: S.ERROR,
  },
  update: {
    action: 'update',
    from: [S.INSTALLED, S.RUNNING],
    via: S.UPDATING,
    to: 'previous',
    onFailure: 'previous',
  },
  uninstall: {
    action: 'uninstall',
    from: [S.INSTALLED, S.ERROR, S.MAINTENANCE],
    via: S.UNINSTALLING,
    to: S.INACTIVE,
    onFailure: S.ERROR,
  },
  'maintenance-on': {
    action: 'maintenance-on',
    from: [S.INSTALLED, S.RUNNING, S.ERROR],
    to: S.MAINTENANCE,
    onFailure: 'previous',
  },
  'maintenance-off': {
    action: 'maintenance-off',
    from: [S.MAINTENANCE],
    // Running instead when its instances still run (they kept running
    // through maintenance): the backend's maintenance-off decides.
    to: S.INSTALLED,
    onFailure: S.MAINTENANCE,
  },
});

/**
 * Whether an action may begin from the given state.
 *
 * @public
 */
export function canPerformAction(
  state: LifecycleState,
  action: LifecycleAction,
): boolean {
  return LIFECYCLE_ACTIONS[action].from.includes(state);
}

/**
 * The actions that may begin from a state; the UI offers exactly these.
 *
 * @public
 */
export function availableActions(state: LifecycleState): LifecycleAction[] {
  return (Object.keys(LIFECYCLE_ACTIONS) as LifecycleAction[]).filter(a =>
    canPerformAction(state, a),
  );
}

/** @public */
export function isTransitional(state: LifecycleState): boolean {
  return TRANSITIONAL_STATES.has(state);
}
