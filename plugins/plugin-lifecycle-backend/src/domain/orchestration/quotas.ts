import { InputError } from '@backstage/errors';

/**
 * The limits of one tenant; a missing limit means unlimited.
 *
 * @public
 */
export interface TenantQuota {
  maxPlugins?: number;
  maxInstances?: number;
  maxCpuMillicores?: number;
  maxMemoryMiB?: number;
}

/**
 * What a tenant uses, or what an operation asks for.
 *
 * @public
 */
export interface Usage {
  plugins: number;
  instances: number;
  cpuMillicores: number;
  memoryMiB: number;
}

// A Kubernetes quantity: a signed decimal number followed by a binary SI
// suffix (Ki..Ei), a decimal SI suffix (n u m k M G T P E) or a decimal
// exponent (e3, E-2).
const QUANTITY =
  /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

const SUFFIX_FACTORS: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * Parses a Kubernetes quantity into its amount in base units, e.g. `1Ki`
 * is 1024, `500m` is 0.5 and `1e3` is 1000.
 */
function parseQuantity(
  input: string | number,
  what: string,
): { amount: number; suffix: string } {
  const text = typeof input === 'number' ? String(input) : input;
  const match =
    typeof text === 'string' ? QUANTITY.exec(text.trim()) : undefined;
  if (!match) {
    throw new InputError(`Invalid ${what} quantity '${String(input)}'`);
  }
  const [, number, suffix = ''] = match;
  const factor = /^[eE]/.test(suffix)
    ? 10 ** Number(suffix.slice(1))
    : SUFFIX_FACTORS[suffix];
  const amount = Number(number) * factor;
  if (!Number.isFinite(amount) || amount < 0) {
    throw new InputError(
      `Invalid ${what} quantity '${String(
        input,
      )}', it must be a non-negative finite amount`,
    );
  }
  return { amount, suffix };
}

/**
 * Rounds up, ignoring the noise of binary floating point (0.1 * 1000 is
 * 100.00000000000001 and must stay 100).
 */
function ceilClean(value: number) {
  return Math.ceil(Number(value.toPrecision(12)));
}

/**
 * Parses a Kubernetes CPU quantity into millicores: `500m` is 500, `1` is
 * 1000 and `0.5` is 500. Amounts finer than a millicore are rounded up, as a
 * quota must not under-count.
 *
 * @throws InputError for anything that is not a non-negative quantity
 * @public
 */
export function parseCpu(value: string | number): number {
  const { amount } = parseQuantity(value, 'CPU');
  return ceilClean(amount * 1000);
}

/**
 * Parses a Kubernetes memory quantity into MiB: `512Mi` is 512, `1Gi` is
 * 1024, `1G` and `1000M` are 953.67 rounded up to 954. A plain number
 * counts bytes, so `1024` is 1 KiB, which rounds up to 1 MiB. Amounts are
 * rounded up to whole MiB, as a quota must not under-count.
 *
 * @throws InputError for anything that is not a non-negative quantity, and
 *   for the suffixes `m`, `u` and `n`, which mean fractions of a byte and are
 *   almost always a typo for `Mi`
 * @public
 */
export function parseMemory(value: string | number): number {
  const { amount, suffix } = parseQuantity(value, 'memory');
  if (suffix === 'm' || suffix === 'u' || suffix === 'n') {
    throw new InputError(
      `Invalid memory quantity '${String(
        value,
      )}': '${suffix}' means fractions of a byte; did you mean 'Mi'?`,
    );
  }
  return ceilClean(amount / 2 ** 20);
}

const QUOTA_FIELDS: ReadonlyArray<[keyof TenantQuota, keyof Usage]> = [
  ['maxPlugins', 'plugins'],
  ['maxInstances', 'instances'],
  ['maxCpuMillicores', 'cpuMillicores'],
  ['maxMemoryMiB', 'memoryMiB'],
];

/**
 * Checks whether a request fits a tenant's quota on top of its usage.
 *
 * Only what the request asks for is checked: a request for no additional
 * amount of a resource passes even if the tenant is already over that quota
 * (for example after the quota was lowered), so that stopping or removing
 * things is never blocked.
 *
 * @returns one message per exceeded quota; empty when the request fits
 * @throws InputError for negative or non-finite numbers
 * @public
 */
export function checkQuota(
  quota: TenantQuota | undefined,
  usage: Usage,
  request: Partial<Usage>,
): string[] {
  const problems: string[] = [];
  for (const [limitField, usageField] of QUOTA_FIELDS) {
    const limit = quota?.[limitField];
    const requested = request[usageField];
    if (requested !== undefined)
      assertAmount(requested, `request.${usageField}`);
    if (limit === undefined || limit === null) continue;
    assertAmount(limit, `quota.${limitField}`);
    if (!requested) continue;
    const inUse = usage[usageField] ?? 0;
    assertAmount(inUse, `usage.${usageField}`);
    if (inUse + requested > limit) {
      problems.push(
        `tenant quota ${limitField} exceeded: ${inUse} in use + ${requested} requested > ${limit}`,
      );
    }
  }
  return problems;
}

function assertAmount(value: number, name: string) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InputError(
      `${name} must be a non-negative number, got ${String(value)}`,
    );
  }
}

/**
 * CPU and memory as written in app-config or a manifest (Kubernetes
 * quantities).
 *
 * @public
 */
export interface ResourceAmounts {
  cpu?: string;
  memory?: string;
}

/**
 * What one instance counts against its tenant's quota. The operator's size
 * (app-config) is the most it counts for: a manifest may ask for less, and
 * what it asks above that is capped, since a package's author must not pick
 * its own share. Where app-config gives no size, the manifest's word is all
 * there is.
 *
 * @throws InputError for a quantity that does not parse
 * @public
 */
export function instanceResources(
  requested: ResourceAmounts | undefined,
  allowed: ResourceAmounts | undefined,
): { cpuMillicores: number; memoryMiB: number } {
  const amount = (
    parse: (v: string) => number,
    asked?: string,
    limit?: string,
  ) => {
    const max = limit ? parse(limit) : undefined;
    const wanted = asked ? parse(asked) : undefined;
    if (max === undefined) return wanted ?? 0;
    return wanted === undefined ? max : Math.min(wanted, max);
  };
  return {
    cpuMillicores: amount(parseCpu, requested?.cpu, allowed?.cpu),
    memoryMiB: amount(parseMemory, requested?.memory, allowed?.memory),
  };
}
