import {
  ProbeDeadline,
  errorMessage,
  hostPort,
  probeTimeoutMs,
} from './deadline';
import { Probe } from './types';

const probe = (overrides: Partial<Probe> = {}): Probe => ({
  name: 'p',
  type: 'readiness',
  method: 'tcp',
  ...overrides,
});

describe('probe deadlines', () => {
  it('takes timeoutSeconds, 1 s by default, and an http timeout in ms', () => {
    expect(probeTimeoutMs(probe())).toBe(1000);
    expect(probeTimeoutMs(probe({ timeoutSeconds: 2.5 }))).toBe(2500);
    expect(
      probeTimeoutMs(
        probe({
          method: 'http',
          http: { path: '/', timeout: 300 },
          timeoutSeconds: 5,
        }),
      ),
    ).toBe(300);
  });

  it('says it timed out at the timeout', async () => {
    const deadline = ProbeDeadline.start(
      probe({ timeoutSeconds: 0.05 }),
      new AbortController().signal,
    );
    await new Promise(r => deadline.signal.addEventListener('abort', r));
    expect(deadline.reason()).toBe('timed out after 50ms');
    expect(deadline.fail('ignored').ok).toBe(false);
    expect(deadline.failWith(new Error('socket hang up')).message).toBe(
      'timed out after 50ms',
    );
    deadline.dispose();
  });

  it("follows the caller's signal and stops listening once disposed", () => {
    const controller = new AbortController();
    const deadline = ProbeDeadline.start(probe(), controller.signal);
    controller.abort('stopping');
    expect(deadline.aborted).toBe(true);
    expect(deadline.reason()).toBe('aborted: stopping');
    deadline.dispose();

    const other = new AbortController();
    const disposed = ProbeDeadline.start(probe(), other.signal);
    disposed.dispose();
    other.abort();
    expect(disposed.aborted).toBe(false);
  });

  it('words errors and addresses', () => {
    const refused = Object.assign(new Error('connect refused'), {
      code: 'ECONNREFUSED',
    });
    expect(errorMessage(refused)).toBe('ECONNREFUSED: connect refused');
    expect(errorMessage('plain')).toBe('plain');
    expect(hostPort('::1', 80)).toBe('[::1]:80');
    expect(hostPort('localhost', 80)).toBe('localhost:80');
  });
});
