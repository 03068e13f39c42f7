import { z } from 'zod';
import { LOAD_BALANCING_STRATEGIES, LoadBalancingStrategy } from './types';

describe('LoadBalancingStrategy', () => {
  it('lists every strategy once, in the order of the const object', () => {
    expect(LOAD_BALANCING_STRATEGIES).toEqual(
      Object.values(LoadBalancingStrategy),
    );
    expect(LOAD_BALANCING_STRATEGIES).toEqual([
      'round-robin',
      'weighted-round-robin',
      'least-connections',
      'ip-hash',
      'health-weighted',
    ]);
  });

  it('feeds a zod enum', () => {
    const schema = z.enum(LOAD_BALANCING_STRATEGIES);
    expect(schema.parse('ip-hash')).toBe(LoadBalancingStrategy.IpHash);
    expect(schema.safeParse('random').success).toBe(false);
  });
});
