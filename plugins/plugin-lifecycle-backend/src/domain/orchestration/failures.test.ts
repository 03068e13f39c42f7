import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  serializeError,
} from '@backstage/errors';
import { PreconditionError } from './backoff';
import { ReadinessFailedError, classifyFailure } from './failures';

const readiness = () =>
  new ReadinessFailedError(
    "instance p-1 did not pass its readiness probe 'ready' within 3000 ms: GET /ready answered 503",
    { instanceId: 'p-1', reason: 'probe' },
  );

describe('classifyFailure', () => {
  it('never retries a new version that fails its probes', () => {
    expect(classifyFailure(readiness())).toEqual({
      retryable: false,
      kind: 'readiness',
      reason: expect.stringMatching(/readiness gate/),
    });
    const exited = new ReadinessFailedError('exited before it was ready', {
      instanceId: 'p-1',
      reason: 'exited',
    });
    expect(classifyFailure(exited)).toMatchObject({
      retryable: false,
      kind: 'readiness',
    });
    // as stored or sent over the wire
    expect(classifyFailure(serializeError(readiness()))).toMatchObject({
      retryable: false,
      kind: 'readiness',
    });
  });

  it('never retries rejected requests', () => {
    for (const error of [
      new InputError('bad'),
      new NotAllowedError('no'),
      new NotFoundError('gone'),
      new ConflictError('busy'),
      new PreconditionError('b is not running'),
    ]) {
      expect(classifyFailure(error)).toMatchObject({
        retryable: false,
        kind: 'rejected',
        reason: expect.stringContaining(error.name),
      });
    }
  });

  it.each([
    ['SQLite busy', Object.assign(new Error('x'), { code: 'SQLITE_BUSY' })],
    ['SQLite locked', new Error('SQLITE_BUSY: database is locked')],
    [
      'a knex pool timeout',
      Object.assign(
        new Error('Knex: Timeout acquiring a connection. The pool is full'),
        { name: 'KnexTimeoutError' },
      ),
    ],
    [
      'a PostgreSQL serialization failure',
      Object.assign(new Error('could not serialize'), { code: '40001' }),
    ],
    [
      'a PostgreSQL deadlock',
      Object.assign(new Error('deadlock detected'), { code: '40P01' }),
    ],
  ])('retries a busy database: %s', (_, error) => {
    expect(classifyFailure(error)).toMatchObject({
      retryable: true,
      kind: 'database',
    });
  });

  it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN'])(
    'retries a connection failure: %s',
    code => {
      expect(
        classifyFailure(Object.assign(new Error(code), { code })),
      ).toMatchObject({ retryable: true, kind: 'network' });
    },
  );

  it('retries a fetch timeout', () => {
    const timeout = new DOMException('timed out', 'TimeoutError');
    expect(classifyFailure(timeout)).toMatchObject({
      retryable: true,
      kind: 'network',
    });
  });

  it('retries a registry that answers 5xx or 429, or cannot be reached', () => {
    expect(
      classifyFailure(Object.assign(new Error('bad gateway'), { status: 502 })),
    ).toMatchObject({ retryable: true, kind: 'registry' });
    expect(
      classifyFailure(
        Object.assign(new Error('slow down'), { statusCode: 429 }),
      ),
    ).toMatchObject({ retryable: true, kind: 'registry' });
    expect(classifyFailure(new ServiceUnavailableError('later'))).toMatchObject(
      { retryable: true, kind: 'registry' },
    );
    expect(
      classifyFailure(
        new Error(
          'npm pack failed: npm error code E503\nnpm error 503 Service Unavailable - GET https://registry.npmjs.org/x',
        ),
      ),
    ).toMatchObject({
      retryable: true,
      kind: 'registry',
      reason: 'an upstream answered 503',
    });
    expect(
      classifyFailure(
        new Error('npm ERR! code ETIMEDOUT\nnpm ERR! errno ETIMEDOUT'),
      ),
    ).toMatchObject({ retryable: true, kind: 'registry' });
  });

  it('does not retry a registry that says the package does not exist', () => {
    // not recognized as transient; a 404 is not in the 5xx range
    expect(
      classifyFailure(
        Object.assign(new Error('no such package'), { status: 404 }),
      ),
    ).toMatchObject({ kind: 'unknown' });
  });

  it('classifies a wrapper that says nothing by its cause', () => {
    expect(
      classifyFailure(new Error('update failed', { cause: readiness() })),
    ).toMatchObject({ retryable: false, kind: 'readiness' });
    expect(
      classifyFailure(
        new Error('install failed', {
          cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
        }),
      ),
    ).toMatchObject({ retryable: true, kind: 'network' });
  });

  it('survives a cycle of causes', () => {
    const a: any = new Error('a');
    const b: any = new Error('b', { cause: a });
    a.cause = b;
    expect(classifyFailure(a)).toMatchObject({ kind: 'unknown' });
  });

  it('lets an explicit flag decide, with the kind and reason it gives', () => {
    expect(
      classifyFailure(
        Object.assign(new Error('update failed'), {
          retryable: false,
          retryKind: 'readiness',
          retryReason: 'instance x never got ready',
        }),
      ),
    ).toEqual({
      retryable: false,
      kind: 'readiness',
      reason: 'instance x never got ready',
    });
    expect(
      classifyFailure(
        Object.assign(new InputError('flaky'), { retryable: true }),
      ),
    ).toMatchObject({ retryable: true, kind: 'declared' });
    expect(classifyFailure({ retryable: false })).toMatchObject({
      retryable: false,
      kind: 'declared',
    });
    // not a boolean: ignored
    expect(
      classifyFailure({ name: 'InputError', retryable: 'yes' }),
    ).toMatchObject({ retryable: false, kind: 'rejected' });
  });

  it('retries what it does not recognize, as before', () => {
    for (const error of [new Error('crash'), 'a string', undefined, null, 42]) {
      expect(classifyFailure(error)).toMatchObject({
        retryable: true,
        kind: 'unknown',
      });
    }
  });
});
