import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '@backstage/errors';
import { makeTempDir } from '../../__testUtils__/sampleArtifacts';
import { createTinyNpmPackage } from '../../__testUtils__/tinyNpmPackage';
import {
  fetchNpmPackage,
  installDependencies,
  NpmTimeoutError,
  parseNpmSpec,
} from './artifactInstall';

jest.setTimeout(60_000);

describe('parseNpmSpec', () => {
  it('takes registry names and versions, ranges and tags', () => {
    expect(parseNpmSpec('http-server', '14.1.1')).toMatchObject({
      type: 'version',
      registry: true,
    });
    expect(parseNpmSpec('@scope/pkg', '^1.2.0').type).toBe('range');
    expect(parseNpmSpec('http-server', 'latest').type).toBe('tag');
  });

  it('marks file:, git and URL specs as not from the registry', () => {
    expect(parseNpmSpec('x', 'file:./x.tgz', '/base')).toMatchObject({
      type: 'file',
      fetchSpec: '/base/x.tgz',
    });
    expect(parseNpmSpec('x', 'github:owner/repo').registry).toBeFalsy();
  });

  it('never lets a name or a version be an option of npm', () => {
    expect(() => parseNpmSpec('--foo', '1.0.0')).toThrow(InputError);
    expect(() => parseNpmSpec('--foo', '1.0.0')).toThrow(
      /artifact.package '--foo' is not an npm package name: name cannot start with a hyphen/,
    );
    expect(() => parseNpmSpec('x', '--registry=http://evil')).toThrow(
      /artifact.version '--registry=http:\/\/evil' must be an npm version, range or tag, not an option/,
    );
    expect(() => parseNpmSpec('node_modules', '1.0.0')).toThrow(
      /is not an npm package name/,
    );
  });
});

describe('fetchNpmPackage and installDependencies with a local package', () => {
  it('installs where no parent directory exists yet, running no script', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'new-plugin', '1.0.0');

    await fetchNpmPackage('tiny-http-server', `file:${pkg.tarball}`, dir);
    await installDependencies(dir);

    expect(
      JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')),
    ).toMatchObject({ name: 'tiny-http-server', version: '1.0.0' });
    expect(fs.existsSync(path.join(dir, 'server.js'))).toBe(true);
    // Nothing left beside the version directory.
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['1.0.0']);
    expect(fs.existsSync(pkg.markers.prepare)).toBe(false);
    expect(fs.existsSync(pkg.markers.postinstall)).toBe(false);
  });

  it('says that npm pack timed out, not that an operation was aborted', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'slow', '1.0.0');
    // npm cannot even start in 50 ms.
    const error = await fetchNpmPackage(
      'tiny-http-server',
      `file:${pkg.tarball}`,
      dir,
      { packTimeoutMs: 50 },
    ).catch(e => e);
    expect(error).toBeInstanceOf(NpmTimeoutError);
    expect(error.message).toBe('npm pack timed out after 0.05 s');
    expect(error.code).toBe('ETIMEDOUT');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('says that npm was stopped when the operation is aborted', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'stopped', '1.0.0');
    const abort = new AbortController();
    abort.abort(new Error('the operation timed out after 300 s'));
    const error = await fetchNpmPackage(
      'tiny-http-server',
      `file:${pkg.tarball}`,
      dir,
      { signal: abort.signal },
    ).catch(e => e);
    expect(error.message).toBe(
      'npm pack was stopped before it finished: the operation timed out after 300 s',
    );
  });

  it('does not run prepare when it packs a directory', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'p', '1.0.0');
    await fetchNpmPackage('tiny-http-server', `file:${pkg.dir}`, dir);
    expect(fs.existsSync(path.join(dir, 'server.js'))).toBe(true);
    expect(fs.existsSync(pkg.markers.prepare)).toBe(false);
  });

  it('runs prepare and the install scripts only when allowed', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'p', '1.0.0');
    await fetchNpmPackage('tiny-http-server', `file:${pkg.dir}`, dir, {
      allowScripts: true,
    });
    expect(fs.existsSync(pkg.markers.prepare)).toBe(true);
    expect(fs.existsSync(pkg.markers.postinstall)).toBe(false);
    await installDependencies(dir, { allowScripts: true });
    expect(fs.existsSync(pkg.markers.postinstall)).toBe(true);
  });

  it('resolves a relative file: spec from cwd', async () => {
    const pkg = createTinyNpmPackage();
    const dir = path.join(makeTempDir('npm-fetch-'), 'p', '1.0.0');
    await fetchNpmPackage(
      'tiny-http-server',
      `file:./${path.basename(pkg.tarball)}`,
      dir,
      { cwd: path.dirname(pkg.tarball) },
    );
    expect(fs.existsSync(path.join(dir, 'server.js'))).toBe(true);
  });
});
