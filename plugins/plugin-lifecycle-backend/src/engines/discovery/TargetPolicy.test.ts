import { TargetPolicy } from './TargetPolicy';

const names: Record<string, string[]> = {
  'internal.test': ['10.1.2.3'],
  'metadata.test': ['169.254.169.254'],
  'split.test': ['10.1.2.3', '169.254.169.254'],
  'db.test': ['10.9.9.9'],
};
const resolve = async (host: string) => {
  const found = names[host];
  if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return found;
};

describe('TargetPolicy', () => {
  const policy = TargetPolicy.create({
    resolve,
    reserved: [
      { what: "the backend's own listener", host: '127.0.0.1', port: 7007 },
      { what: "the backend's database", host: 'db.test', port: 5432 },
    ],
  });
  beforeAll(() => policy.init());

  it.each([
    ['127.0.0.1', 8080],
    ['10.0.0.5', 80],
    ['172.31.255.255', 443],
    ['192.168.1.1', 80],
    ['::1', 8080],
    ['fd12::1', 80],
    ['10.9.9.9', 5433],
  ])('allows %s:%d (loopback and private ranges)', async (host, port) => {
    expect(await policy.check(host, port)).toBeUndefined();
  });

  it.each([
    ['169.254.169.254', 80, /link-local/],
    ['::ffff:169.254.169.254', 80, /link-local/],
    ['fe80::1', 80, /link-local/],
    ['0.0.0.0', 80, /unspecified/],
    ['8.8.8.8', 53, /outside pluginLifecycle\.discovery\.allowedTargets/],
    ['172.32.0.1', 80, /outside/],
    ['127.0.0.1', 7007, /the backend's own listener/],
    ['127.0.0.53', 7007, /the backend's own listener/],
    ['10.9.9.9', 5432, /the backend's database/],
    ['metadata.test', 80, /resolves to 169\.254\.169\.254: .*link-local/],
    ['split.test', 80, /resolves to 169\.254\.169\.254/],
    ['nowhere.test', 80, /does not resolve/],
  ])('refuses %s:%d', async (host, port, why) => {
    expect(await policy.check(host, port)).toMatch(why);
  });

  it('takes its ranges from allowedTargets, never link-local', async () => {
    const wide = TargetPolicy.create({
      allowedTargets: ['0.0.0.0/0', '::/0'],
      resolve,
    });
    expect(await wide.check('8.8.8.8', 53)).toBeUndefined();
    expect(await wide.check('169.254.169.254', 80)).toMatch(/link-local/);
    const narrow = TargetPolicy.create({ allowedTargets: ['10.1.0.0/16'] });
    expect(await narrow.check('10.1.2.3', 80)).toBeUndefined();
    expect(await narrow.check('10.2.0.1', 80)).toMatch(/outside/);
    expect(await narrow.check('127.0.0.1', 80)).toMatch(/outside/);
  });

  it('refuses at connect time a name that resolves to a refused address', async () => {
    const lookup = policy.lookupFor(80);
    const result = (host: string) =>
      new Promise<{ error: any; address: unknown }>(done =>
        lookup(host, { all: true }, (error, address) =>
          done({ error, address }),
        ),
      );
    expect(await result('internal.test')).toEqual({
      error: null,
      address: [{ address: '10.1.2.3', family: 4 }],
    });
    const refused = await result('metadata.test');
    expect(refused.error.code).toBe('ERR_TARGET_NOT_ALLOWED');
    expect(refused.error.message).toMatch(/allowedTargets/);
  });

  it('names a bad CIDR', () => {
    expect(() => TargetPolicy.parseCidrs(['10.0.0.0/8', 'nope'])).toThrow(
      "'nope' is not a CIDR such as 10.0.0.0/8",
    );
  });
});
