import { exportAuditSummary, writeAuditSummary } from './auditSummaries';

const CANARY = 'canary-value-7f3a';

describe('audit summaries', () => {
  it('keep the versions and keys of an export, not its values (attack: read secrets from audit logs)', () => {
    const summary = exportAuditSummary({
      format: 'plugin-lifecycle-config-export/v1' as any,
      exportedAt: '2026-12-03T00:00:00.000Z',
      versions: [
        {
          pluginId: 'p',
          layer: 'production',
          version: 3,
          entries: [
            { key: 'db.url', type: 'string', value: `postgres://${CANARY}` },
            {
              key: 'api.key',
              type: 'secret',
              value: {
                $sealed: 'aes-256-gcm',
                kid: 'a',
                iv: CANARY,
                tag: CANARY,
                ct: CANARY,
              },
            },
          ],
        } as any,
      ],
      signature: { kid: 'a', signature: CANARY },
    });
    expect(summary).toEqual({
      format: 'plugin-lifecycle-config-export/v1',
      exportedAt: '2026-12-03T00:00:00.000Z',
      versions: [
        {
          pluginId: 'p',
          layer: 'production',
          version: 3,
          keys: ['db.url', 'api.key'],
        },
      ],
    });
    expect(JSON.stringify(summary)).not.toContain(CANARY);
  });

  it('keep the version and changed keys of a write, and nothing of a preview', () => {
    const write = writeAuditSummary({
      version: { version: 4, revision: 17, author: 'user:default/a' },
      changed: true,
      operationId: 'op-1',
      changes: {
        added: [{ key: 'a', value: CANARY }],
        removed: [],
        changed: [{ key: 'b', from: { value: CANARY }, to: { value: CANARY } }],
      },
    });
    expect(write).toEqual({
      version: 4,
      revision: 17,
      changed: true,
      operationId: 'op-1',
      keys: { added: ['a'], removed: [], changed: ['b'] },
    });
    const preview = writeAuditSummary({
      dryRun: true,
      currentVersion: 4,
      changed: true,
      entries: [{ key: 'a', value: CANARY }],
      effective: [{ entries: [{ key: 'a', value: CANARY }] }],
    });
    expect(preview).toEqual({ dryRun: true, currentVersion: 4, changed: true });
    expect(JSON.stringify([write, preview])).not.toContain(CANARY);
  });
});
