import { artifactSchema } from './schemas';

describe('artifactSchema', () => {
  it('takes an image artifact with its command, arguments and port', () => {
    expect(
      artifactSchema.parse({
        type: 'image',
        image: 'registry.example.com/hello@sha256:0123',
        command: ['node'],
        args: ['server.js', '--port', '8080'],
        port: 8080,
      }),
    ).toEqual({
      type: 'image',
      image: 'registry.example.com/hello@sha256:0123',
      command: ['node'],
      args: ['server.js', '--port', '8080'],
      port: 8080,
    });
    expect(artifactSchema.parse({ type: 'image', image: 'hello:1' })).toEqual({
      type: 'image',
      image: 'hello:1',
    });
  });

  it('refuses an image artifact without an image, with spaces or unknown keys', () => {
    expect(artifactSchema.safeParse({ type: 'image' }).success).toBe(false);
    expect(
      artifactSchema.safeParse({ type: 'image', image: 'a b' }).success,
    ).toBe(false);
    expect(
      artifactSchema.safeParse({ type: 'image', image: 'a', cpu: 1 }).success,
    ).toBe(false);
    expect(
      artifactSchema.safeParse({ type: 'image', image: 'a', port: 0 }).success,
    ).toBe(false);
  });
});
