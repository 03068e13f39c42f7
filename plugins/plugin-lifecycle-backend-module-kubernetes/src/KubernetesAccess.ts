import { NotAllowedError } from '@backstage/errors';
import { AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node';

/** One thing the runtime does on the cluster. @public */
export interface KubernetesRight {
  verb: string;
  /** API group: '' for core/v1, 'apps' for Deployments. */
  group: string;
  resource: string;
  /** Unset for cluster-scoped resources (namespaces). */
  namespace?: string;
}

const NAMESPACED: Array<Omit<KubernetesRight, 'namespace'>> = [
  ...['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'].map(
    verb => ({
      verb,
      group: 'apps',
      resource: 'deployments',
    }),
  ),
  ...['get', 'list', 'watch', 'create', 'patch', 'delete'].map(verb => ({
    verb,
    group: '',
    resource: 'services',
  })),
  // patch: the track label when a deployment promotes the set.
  ...['get', 'list', 'create', 'update', 'patch', 'delete'].map(verb => ({
    verb,
    group: '',
    resource: 'secrets',
  })),
  // patch: an instance's label on its pod; delete: a stopped instance's pod.
  ...['get', 'list', 'watch', 'patch', 'delete'].map(verb => ({
    verb,
    group: '',
    resource: 'pods',
  })),
  // Why pods are not created: the ReplicaSet's ReplicaFailure condition.
  { verb: 'list', group: 'apps', resource: 'replicasets' },
];

/**
 * What the runtime needs in a namespace: Deployments, Services and Secrets
 * it owns, and reading Pods for readiness and failures; with `createNamespace`,
 * also creating the namespace (per-plugin namespaces).
 *
 * @public
 */
export function requiredRights(
  namespace: string,
  options: { createNamespace?: boolean } = {},
): KubernetesRight[] {
  const rights: KubernetesRight[] = NAMESPACED.map(r => ({ ...r, namespace }));
  if (options.createNamespace) {
    rights.push({
      verb: 'create',
      group: '',
      resource: 'namespaces',
    });
  }
  return rights;
}

/**
 * Missing rights as a person reads them, one group per resource:
 * `get, list deployments.apps in namespace x; create namespaces`.
 *
 * @public
 */
export function describeRights(rights: KubernetesRight[]): string {
  const groups = new Map<string, string[]>();
  for (const right of rights) {
    const resource = right.group
      ? `${right.resource}.${right.group}`
      : right.resource;
    const where = `${resource}${
      right.namespace ? ` in namespace ${right.namespace}` : ''
    }`;
    groups.set(where, [...(groups.get(where) ?? []), right.verb]);
  }
  return [...groups]
    .map(([where, verbs]) => `${verbs.join(', ')} ${where}`)
    .join('; ');
}

/**
 * Asks the cluster (SelfSubjectAccessReview, which every authenticated user
 * may) which of `rights` the configured identity lacks, so a missing grant is
 * one clear error before anything is created rather than a forbidden error
 * halfway through a rollout.
 *
 * @public
 */
export async function missingRights(
  kc: KubeConfig,
  rights: KubernetesRight[],
): Promise<KubernetesRight[]> {
  const authorization = kc.makeApiClient(AuthorizationV1Api);
  const answers = await Promise.all(
    rights.map(async right => {
      const review = await authorization.createSelfSubjectAccessReview({
        body: {
          spec: {
            resourceAttributes: {
              verb: right.verb,
              group: right.group,
              resource: right.resource,
              namespace: right.namespace,
            },
          },
        },
      });
      return review.status?.allowed ? undefined : right;
    }),
  );
  return answers.filter((r): r is KubernetesRight => r !== undefined);
}

/**
 * Throws one error naming the user and every missing right, or returns when
 * the identity may do all the runtime does in `namespace`. A NotAllowedError,
 * so that the backend does not retry the operation: only a grant helps.
 *
 * @public
 */
export async function assertRights(
  kc: KubeConfig,
  namespace: string,
  options: { createNamespace?: boolean } = {},
): Promise<void> {
  const missing = await missingRights(kc, requiredRights(namespace, options));
  if (missing.length > 0) {
    const user = kc.getCurrentUser()?.name ?? 'the configured user';
    throw new NotAllowedError(
      `the kubernetes runtime's identity (${user}) may not ${describeRights(
        missing,
      )}: grant them with a Role and RoleBinding`,
    );
  }
}
