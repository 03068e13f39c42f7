import { InputError } from '@backstage/errors';
import {
  Usage,
  checkQuota,
  instanceResources,
  parseCpu,
  parseMemory,
} from './quotas';

describe('parseCpu', () => {
  it.each<[string | number, number]>([
    ['500m', 500],
    ['1', 1000],
    ['0.5', 500],
    ['.5', 500],
    ['2.', 2000],
    ['0.1', 100],
    ['0.3', 300],
    ['1.1', 1100],
    ['250m', 250],
    ['1500m', 1500],
    ['0', 0],
    ['0m', 0],
    ['1k', 1_000_000],
    ['2e3', 2_000_000],
    ['1E-3', 1],
    ['1e-1', 100],
    ['+2', 2000],
    [' 3 ', 3000],
    [2, 2000],
    [0.25, 250],
    ['250000000n', 250],
    ['250000u', 250],
  ])('parses %p as %p millicores', (input, expected) => {
    expect(parseCpu(input)).toBe(expected);
  });

  it('rounds amounts finer than a millicore up', () => {
    expect(parseCpu('0.0001')).toBe(1);
    expect(parseCpu('1n')).toBe(1);
    expect(parseCpu('1500001n')).toBe(2);
  });

  it.each([
    '',
    'abc',
    '1 cpu',
    '500 m',
    'm',
    '1.2.3',
    '1mm',
    '-1',
    '-500m',
    '1e',
    '1e3m',
    'NaN',
    'Infinity',
    '1e400',
  ])('rejects %p', input => {
    expect(() => parseCpu(input)).toThrow(InputError);
  });

  it('rejects non-numeric inputs', () => {
    expect(() => parseCpu(NaN)).toThrow(InputError);
    expect(() => parseCpu(-1)).toThrow(InputError);
    expect(() => parseCpu(undefined as unknown as string)).toThrow(InputError);
    expect(() => parseCpu({} as unknown as string)).toThrow(InputError);
  });

  it('names the bad value', () => {
    expect(() => parseCpu('lots')).toThrow("Invalid CPU quantity 'lots'");
  });
});

describe('parseMemory', () => {
  it.each<[string | number, number]>([
    ['512Mi', 512],
    ['1Gi', 1024],
    ['1.5Gi', 1536],
    ['0.5Gi', 512],
    ['1Ti', 1024 * 1024],
    ['2048Ki', 2],
    ['1G', 954],
    ['1000M', 954],
    ['1024', 1],
    [String(2 ** 20), 1],
    [String(2 ** 20 + 1), 2],
    ['0', 0],
    ['128974848', 123],
    ['129e6', 124],
    ['123Mi', 123],
    ['1k', 1],
    [1073741824, 1024],
  ])('parses %p as %p MiB', (input, expected) => {
    expect(parseMemory(input)).toBe(expected);
  });

  it('treats a plain number as bytes, like Kubernetes', () => {
    expect(parseMemory('1048576')).toBe(1);
    expect(parseMemory('536870912')).toBe(512);
  });

  it.each([
    '',
    'lots',
    '1GB',
    '1gi',
    '1Mb',
    '1 Gi',
    'Gi',
    '-1Gi',
    '1iB',
    '1KI',
  ])('rejects %p', input => {
    expect(() => parseMemory(input)).toThrow(InputError);
  });

  it('rejects fractions of a byte, a common typo for Mi', () => {
    expect(() => parseMemory('512m')).toThrow(
      "Invalid memory quantity '512m': 'm' means fractions of a byte; did you mean 'Mi'?",
    );
    expect(() => parseMemory('1u')).toThrow(InputError);
    expect(() => parseMemory('1n')).toThrow(InputError);
  });
});

describe('checkQuota', () => {
  const usage: Usage = {
    plugins: 3,
    instances: 4,
    cpuMillicores: 1500,
    memoryMiB: 2048,
  };

  it('passes a request that fits', () => {
    expect(
      checkQuota(
        {
          maxPlugins: 5,
          maxInstances: 6,
          maxCpuMillicores: 2000,
          maxMemoryMiB: 4096,
        },
        usage,
        { plugins: 1, instances: 2, cpuMillicores: 500, memoryMiB: 2048 },
      ),
    ).toEqual([]);
  });

  it('names each exceeded quota', () => {
    expect(
      checkQuota(
        {
          maxPlugins: 3,
          maxInstances: 5,
          maxCpuMillicores: 2000,
          maxMemoryMiB: 2048,
        },
        usage,
        { plugins: 1, instances: 2, cpuMillicores: 501, memoryMiB: 1 },
      ),
    ).toEqual([
      'tenant quota maxPlugins exceeded: 3 in use + 1 requested > 3',
      'tenant quota maxInstances exceeded: 4 in use + 2 requested > 5',
      'tenant quota maxCpuMillicores exceeded: 1500 in use + 501 requested > 2000',
      'tenant quota maxMemoryMiB exceeded: 2048 in use + 1 requested > 2048',
    ]);
  });

  it('allows reaching a quota exactly', () => {
    expect(checkQuota({ maxInstances: 6 }, usage, { instances: 2 })).toEqual(
      [],
    );
    expect(checkQuota({ maxInstances: 5 }, usage, { instances: 2 })).toEqual([
      'tenant quota maxInstances exceeded: 4 in use + 2 requested > 5',
    ]);
  });

  it('treats missing limits as unlimited', () => {
    expect(
      checkQuota({}, usage, {
        plugins: 1000,
        instances: 1000,
        cpuMillicores: 1e9,
        memoryMiB: 1e9,
      }),
    ).toEqual([]);
    expect(checkQuota(undefined, usage, { instances: 1000 })).toEqual([]);
  });

  it('only checks what the request asks for', () => {
    const over = { maxPlugins: 1, maxInstances: 1 };
    // the tenant is already over both limits, e.g. after they were lowered
    expect(checkQuota(over, usage, {})).toEqual([]);
    expect(checkQuota(over, usage, { plugins: 0, instances: 0 })).toEqual([]);
    expect(checkQuota(over, usage, { instances: 1 })).toEqual([
      'tenant quota maxInstances exceeded: 4 in use + 1 requested > 1',
    ]);
  });

  it('handles a zero quota', () => {
    expect(
      checkQuota({ maxPlugins: 0 }, { ...usage, plugins: 0 }, { plugins: 1 }),
    ).toEqual(['tenant quota maxPlugins exceeded: 0 in use + 1 requested > 0']);
  });

  it('works with parsed quantities', () => {
    expect(
      checkQuota(
        { maxCpuMillicores: parseCpu('2'), maxMemoryMiB: parseMemory('4Gi') },
        usage,
        { cpuMillicores: parseCpu('500m'), memoryMiB: parseMemory('3Gi') },
      ),
    ).toEqual([
      'tenant quota maxMemoryMiB exceeded: 2048 in use + 3072 requested > 4096',
    ]);
  });

  it('rejects negative or non-finite numbers', () => {
    expect(() => checkQuota({ maxPlugins: -1 }, usage, { plugins: 1 })).toThrow(
      InputError,
    );
    expect(() => checkQuota({}, usage, { plugins: -1 })).toThrow(
      'request.plugins must be a non-negative number, got -1',
    );
    expect(() =>
      checkQuota({ maxPlugins: 5 }, usage, { plugins: NaN }),
    ).toThrow(InputError);
    expect(() =>
      checkQuota(
        { maxPlugins: 5 },
        { ...usage, plugins: Infinity },
        { plugins: 1 },
      ),
    ).toThrow(InputError);
  });
});

describe('instanceResources', () => {
  const allowed = { cpu: '500m', memory: '512Mi' };

  it("caps a manifest asking more than app-config's size (attack: a bigger self-declared share)", () => {
    expect(instanceResources({ cpu: '64', memory: '1Ti' }, allowed)).toEqual({
      cpuMillicores: 500,
      memoryMiB: 512,
    });
  });

  it("counts app-config's size for a manifest that asks nothing (attack: declare no resources to dodge the quota)", () => {
    expect(instanceResources(undefined, allowed)).toEqual({
      cpuMillicores: 500,
      memoryMiB: 512,
    });
    expect(instanceResources({ cpu: '100m' }, allowed)).toEqual({
      cpuMillicores: 100,
      memoryMiB: 512,
    });
  });

  it("takes the manifest's word where app-config gives no size", () => {
    expect(instanceResources({ memory: '1Gi' }, { cpu: '1' })).toEqual({
      cpuMillicores: 1000,
      memoryMiB: 1024,
    });
    expect(instanceResources(undefined, undefined)).toEqual({
      cpuMillicores: 0,
      memoryMiB: 0,
    });
  });
});
