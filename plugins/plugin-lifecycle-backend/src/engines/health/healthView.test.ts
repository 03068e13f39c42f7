import { InstanceHealth } from '@internal/plugin-lifecycle-common';
import { MAX_API_MESSAGE_LENGTH, boundMessages } from './healthView';

describe('boundMessages', () => {
  const instance = (message: string): InstanceHealth =>
    ({
      targetId: 't',
      instanceId: 't',
      verdict: 'unhealthy',
      healthScore: 0,
      ready: false,
      live: false,
      reasons: [],
      probes: [
        {
          name: 'env',
          type: 'liveness',
          status: 'failing',
          lastMessage: message,
          trend: {},
          consecutiveSuccesses: 0,
          consecutiveFailures: 1,
          held: false,
          recent: [
            { ok: false, latencyMs: 1, message, checkedAt: '' },
            { ok: true, latencyMs: 1, checkedAt: '' },
          ],
        },
      ],
    } as unknown as InstanceHealth);

  it('cuts a message stored before probers bounded their output (4 KiB of a command)', () => {
    const [probe] = boundMessages(instance('x'.repeat(4096))).probes;
    expect(probe.lastMessage).toHaveLength(MAX_API_MESSAGE_LENGTH);
    expect(probe.lastMessage!.endsWith('…')).toBe(true);
    expect(probe.recent[0].message).toHaveLength(MAX_API_MESSAGE_LENGTH);
    expect(probe.recent[1]).not.toHaveProperty('message');
  });

  it('keeps a short message as it is', () => {
    const [probe] = boundMessages(instance('exited with code 1: down')).probes;
    expect(probe.lastMessage).toBe('exited with code 1: down');
    expect(probe.recent[0].message).toBe('exited with code 1: down');
  });
});
