import { ConflictError, InputError } from '@backstage/errors';
import { CustomProber, CustomProbeFunction } from './CustomProber';
import { Probe, ProbeTarget } from './types';

const target: ProbeTarget = {
  host: '127.0.0.1',
  port: 4321,
  instanceId: 'sample-1',
  pluginId: 'sample',
};
const never = new AbortController().signal;

function probe(name: string, overrides: Partial<Probe> = {}): Probe {
  return {
    name: 'ready',
    type: 'readiness',
    method: 'custom',
    custom: { name },
    ...overrides,
  };
}

describe('CustomProber', () => {
  it('passes the target and the probe to the function and takes a boolean', async () => {
    const calls: Array<[ProbeTarget, Probe]> = [];
    const prober = CustomProber.create({
      functions: {
        up: async (t, p) => {
          calls.push([t, p]);
          return true;
        },
        down: () => false,
      },
    });
    await expect(prober.probe(target, probe('up'), never)).resolves.toEqual({
      ok: true,
      latencyMs: expect.any(Number),
    });
    expect(calls).toEqual([[target, probe('up')]]);
    await expect(prober.probe(target, probe('down'), never)).resolves.toEqual({
      ok: false,
      latencyMs: expect.any(Number),
    });
  });

  it('takes an outcome, measuring the latency when it has none', async () => {
    const prober = CustomProber.create();
    prober.register('queue', async () => ({
      ok: false,
      message: 'queue depth 5000',
      statusCode: 3,
    }));
    prober.register('timed', async () => ({ ok: true, latencyMs: 42 }));
    await expect(prober.probe(target, probe('queue'), never)).resolves.toEqual({
      ok: false,
      latencyMs: expect.any(Number),
      message: 'queue depth 5000',
      statusCode: 3,
    });
    await expect(prober.probe(target, probe('timed'), never)).resolves.toEqual({
      ok: true,
      latencyMs: 42,
    });
  });

  it('fails with the message of a function that throws or rejects', async () => {
    const prober = CustomProber.create({
      functions: {
        throws: () => {
          throw new Error('cache unreachable');
        },
        rejects: async () => {
          throw new Error('token expired');
        },
      },
    });
    await expect(
      prober.probe(target, probe('throws'), never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'custom probe failed: cache unreachable',
    });
    await expect(
      prober.probe(target, probe('rejects'), never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'custom probe failed: token expired',
    });
  });

  it('fails for a name nobody registered, saying which are known', async () => {
    const prober = CustomProber.create({
      functions: { b: () => true, a: () => true },
    });
    await expect(
      prober.probe(target, probe('missing'), never),
    ).resolves.toMatchObject({
      ok: false,
      message:
        "no custom probe function named 'missing' is registered (known: a, b)",
    });
    await expect(
      CustomProber.create().probe(target, probe('missing'), never),
    ).resolves.toMatchObject({
      message: "no custom probe function named 'missing' is registered",
    });
  });

  it('fails without custom settings', async () => {
    await expect(
      CustomProber.create().probe(
        target,
        { ...probe('x'), custom: undefined },
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message: 'a custom probe needs its "custom" settings',
    });
  });

  it('fails for an answer that is neither a boolean nor an outcome', async () => {
    const prober = CustomProber.create({
      functions: { odd: (async () => 'yes') as unknown as CustomProbeFunction },
    });
    await expect(
      prober.probe(target, probe('odd'), never),
    ).resolves.toMatchObject({
      ok: false,
      message: "custom probe 'odd' answered neither a boolean nor an outcome",
    });
  });

  it('times out a function that never answers and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    const prober = CustomProber.create({
      functions: {
        stuck: (_t, _p, signal) => {
          seen = signal;
          return new Promise(() => {});
        },
      },
    });
    const outcome = await prober.probe(
      target,
      probe('stuck', { timeoutSeconds: 0.2 }),
      never,
    );
    expect(outcome).toEqual({
      ok: false,
      latencyMs: expect.any(Number),
      message: 'timed out after 200ms',
    });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(150);
    expect(seen?.aborted).toBe(true);
  });

  it('stops waiting when the caller aborts', async () => {
    const prober = CustomProber.create({
      functions: { stuck: () => new Promise(() => {}) },
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(
      prober.probe(target, probe('stuck'), controller.signal),
    ).resolves.toMatchObject({
      ok: false,
      message: expect.stringMatching(/^aborted/),
    });
  });

  it('refuses a taken name, an empty name and a non-function', () => {
    const prober = CustomProber.create({ functions: { a: () => true } });
    expect(() => prober.register('a', () => true)).toThrow(ConflictError);
    expect(() => prober.register('', () => true)).toThrow(InputError);
    expect(() =>
      prober.register('b', 'nope' as unknown as CustomProbeFunction),
    ).toThrow("Custom probe 'b' must be a function");
    expect(prober.has('a')).toBe(true);
    expect(prober.has('b')).toBe(false);
    expect(prober.names()).toEqual(['a']);
  });
});
