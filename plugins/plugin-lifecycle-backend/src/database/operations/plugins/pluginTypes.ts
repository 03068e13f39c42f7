import {
  ConfigurationEntry,
  LifecycleState,
  PluginSummary,
  PluginVersion,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';
import { BreakerState } from '../../../domain/orchestration';

/** A plugin as stored, with what the engines need beyond the summary. */
export interface PluginRecord extends PluginSummary {
  environment?: string;
  configuration: ConfigurationEntry[];
  probes: ProbeDefinition[];
  /** The operation holding the current transitional state, if any. */
  operationId?: string;
  breaker?: BreakerState;
  /** The configuration revision the running instances use. */
  configRevision?: number;
}

/** The fields that can change outside a state transition. */
export type PluginPatch = Partial<
  Pick<
    PluginRecord,
    | 'tenant'
    | 'entityRef'
    | 'runtime'
    | 'desiredState'
    | 'currentVersion'
    | 'replicas'
    | 'environment'
    | 'configuration'
    | 'probes'
    | 'lastError'
    | 'breaker'
    | 'configRevision'
  >
>;

/** An installed version, with where its files are. */
export interface StoredVersion extends PluginVersion {
  location?: string;
}

/** A state transition as asked for: from the state and revision the caller read. */
export interface TransitionInput {
  pluginId: string;
  from: LifecycleState;
  to: LifecycleState;
  expectedRevision: number;
  action: string;
  operationId?: string;
  actor?: string;
  reason?: string;
  patch?: PluginPatch;
}

/** What creating a plugin takes. */
export interface NewPlugin {
  id: string;
  tenant: string;
  runtime: string;
  entityRef?: string;
  replicas?: number;
}
