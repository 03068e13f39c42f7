import { fmix32, fnv1a32, fnv1a32Int, hash32 } from './hash';

describe('fnv1a32', () => {
  it('matches the reference test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('continues from a state', () => {
    expect(fnv1a32('bar', fnv1a32('foo'))).toBe(fnv1a32('foobar'));
  });

  it('hashes an integer as its four little-endian bytes', () => {
    const state = fnv1a32('id');
    expect(fnv1a32Int(state, 0x64636261)).toBe(fnv1a32('abcd', state));
    expect(fnv1a32Int(state, 0xffffffff)).toBe(
      fnv1a32('\xff\xff\xff\xff', state),
    );
  });
});

describe('hash32', () => {
  it('returns unsigned 32-bit integers', () => {
    for (const text of ['', 'a', '10.0.0.1', '2001:db8::1', 'ünïcødé']) {
      const h = hash32(text);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
    expect(fmix32(0)).toBe(0);
  });

  it('spreads addresses that differ only in the last octet over the whole range', () => {
    // the top 4 bits pick one of 16 buckets; 4096 addresses should fill them evenly
    const buckets = new Array(16).fill(0);
    for (let i = 0; i < 4096; i++) {
      buckets[hash32(`10.0.${i >> 8}.${i & 255}`) >>> 28]++;
    }
    for (const count of buckets) {
      expect(count).toBeGreaterThan(256 * 0.75);
      expect(count).toBeLessThan(256 * 1.25);
    }
  });
});
