import { hasCookie, matchesRequest } from './trafficSplit';

describe('matchesRequest', () => {
  const header = {
    subset: 'canary/1.1.0',
    header: { name: 'X-Variant', value: 'B' },
  };
  const cookie = {
    subset: 'canary/1.1.0',
    cookie: { name: 'ab-group', value: 'b' },
  };

  it('matches a header by its lower-case name and exact value', () => {
    expect(matchesRequest(header, { 'x-variant': 'B' })).toBe(true);
    expect(matchesRequest(header, { 'x-variant': 'b' })).toBe(false);
    expect(matchesRequest(header, { 'x-variant': 'B2' })).toBe(false);
    expect(matchesRequest(header, {})).toBe(false);
    expect(matchesRequest(header, undefined)).toBe(false);
    // Several headers of the name: joined, as node:http and nginx do.
    expect(matchesRequest(header, { 'x-variant': ['B', 'B'] })).toBe(false);
    expect(
      matchesRequest(
        { subset: 's', header: { name: 'x-variant', value: 'B, C' } },
        { 'x-variant': ['B', 'C'] },
      ),
    ).toBe(true);
  });

  it('matches a cookie by name and exact value among the pairs', () => {
    expect(matchesRequest(cookie, { cookie: 'ab-group=b' })).toBe(true);
    expect(matchesRequest(cookie, { cookie: 'a=1;  ab-group=b ; c=3' })).toBe(
      true,
    );
    expect(matchesRequest(cookie, { cookie: 'ab-group=bb' })).toBe(false);
    expect(matchesRequest(cookie, { cookie: 'xab-group=b' })).toBe(false);
    expect(matchesRequest(cookie, { 'ab-group': 'b' })).toBe(false);
    expect(hasCookie(undefined, cookie.cookie)).toBe(false);
    expect(hasCookie('ab-group', cookie.cookie)).toBe(false);
  });
});
