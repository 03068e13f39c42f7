import { HeldRequests, TooManyRequestsError } from './HeldRequests';

describe('HeldRequests', () => {
  it('refuses a caller past its cap with a 429, and takes it again once one is released', () => {
    const held = HeldRequests.create({ maxPerCaller: 2, maxTotal: 10 });
    const first = held.acquire('user:default/mallory');
    held.acquire('user:default/mallory');
    let error: unknown;
    try {
      held.acquire('user:default/mallory');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TooManyRequestsError);
    expect(error).toMatchObject({
      statusCode: 429,
      message: expect.stringContaining(
        'pluginLifecycle.heldRequests.maxPerCaller',
      ),
    });
    // Another caller is not held up by this one.
    expect(() => held.acquire('user:default/alice')).not.toThrow();

    first();
    first(); // a second release changes nothing
    expect(held.heldBy('user:default/mallory')).toBe(1);
    expect(held.total).toBe(2);
    expect(() => held.acquire('user:default/mallory')).not.toThrow();
  });

  it('refuses anyone past the total', () => {
    const held = HeldRequests.create({ maxPerCaller: 5, maxTotal: 3 });
    const releases = ['a', 'b', 'c'].map(c => held.acquire(c));
    expect(() => held.acquire('d')).toThrow(
      /at most 3 \(pluginLifecycle\.heldRequests\.maxTotal\)/,
    );
    releases.forEach(r => r());
    expect(held.total).toBe(0);
    expect(held.heldBy('a')).toBe(0);
  });
});
