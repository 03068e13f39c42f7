import { describeNotice } from './describeNotice';

const base = { pluginId: 'sample-http-service', at: '2026-12-04T12:00:00Z' };

describe('describeNotice', () => {
  it.each([
    [
      {
        kind: 'deployment',
        what: 'update',
        version: '1.1.0',
        outcome: 'succeeded',
        ok: true,
      },
      'Update of sample-http-service to 1.1.0 succeeded',
    ],
    [
      {
        kind: 'deployment',
        what: 'update',
        version: '2.0.0',
        outcome: 'rolled-back',
        ok: false,
        message: 'an instance of 2.0.0 did not become ready',
      },
      'Update of sample-http-service to 2.0.0 was rolled back: an instance of 2.0.0 did not become ready',
    ],
    [
      {
        kind: 'operation',
        what: 'install',
        version: '1.0.0',
        outcome: 'succeeded',
        ok: true,
      },
      'Install of sample-http-service 1.0.0 succeeded',
    ],
    [
      { kind: 'operation', what: 'stop', outcome: 'cancelled', ok: false },
      'Stop of sample-http-service was cancelled',
    ],
    [
      {
        kind: 'operation',
        what: 'maintenance-on',
        outcome: 'succeeded',
        ok: true,
      },
      'Entering maintenance: sample-http-service succeeded',
    ],
  ] as const)('%j reads "%s"', (notice, text) => {
    expect(describeNotice({ ...base, ...notice })).toBe(text);
  });
});
