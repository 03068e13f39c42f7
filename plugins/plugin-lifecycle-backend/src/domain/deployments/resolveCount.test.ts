import { InputError } from '@backstage/errors';
import { resolveCount } from './resolveCount';

describe('resolveCount', () => {
  it('takes a count as it is', () => {
    expect(resolveCount(3, 10, 'up')).toBe(3);
    expect(resolveCount(0, 10, 'down')).toBe(0);
  });

  it('rounds a percentage up or down like Kubernetes', () => {
    expect(resolveCount('25%', 10, 'up')).toBe(3);
    expect(resolveCount('25%', 10, 'down')).toBe(2);
    expect(resolveCount('25%', 4, 'up')).toBe(1);
    expect(resolveCount('25%', 4, 'down')).toBe(1);
    expect(resolveCount('10%', 3, 'down')).toBe(0);
    expect(resolveCount('10%', 3, 'up')).toBe(1);
    expect(resolveCount('100%', 7, 'down')).toBe(7);
    expect(resolveCount('0%', 7, 'up')).toBe(0);
  });

  it('rejects what is neither', () => {
    expect(() => resolveCount('25', 4, 'up')).toThrow(InputError);
    expect(() => resolveCount('a%', 4, 'up')).toThrow(/percentage such as 25%/);
    expect(() => resolveCount(-1, 4, 'up')).toThrow(/at least 0/);
    expect(() => resolveCount(1.5, 4, 'up')).toThrow(InputError);
  });
});
