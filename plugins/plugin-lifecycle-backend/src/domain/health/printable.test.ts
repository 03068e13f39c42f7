import { MAX_PROBE_MESSAGE_LENGTH, printableMessage } from './printable';

describe('printableMessage', () => {
  it('escapes what would forge a log line or drive a terminal (attack: probe output with newlines and escape codes)', () => {
    const output =
      'ok\n2026-12-03T00:00:00.000Z info backend: admin logged in\r\u001b[2J\u001b]0;pwned\u0007\u202eevil\u0000';
    const message = printableMessage(output);
    expect(message).toBe(
      'ok\\n2026-12-03T00:00:00.000Z info backend: admin logged in\\r\\u001b[2J\\u001b]0;pwned\\u0007\\u202eevil\\u0000',
    );
    // eslint-disable-next-line no-control-regex
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
  });

  it('bounds the length', () => {
    const message = printableMessage('x'.repeat(10_000));
    expect(message).toHaveLength(MAX_PROBE_MESSAGE_LENGTH);
    expect(message.endsWith('…')).toBe(true);
    // Escapes count: a flood of control characters is bounded too.
    expect(printableMessage('\u0001'.repeat(10_000))).toHaveLength(
      MAX_PROBE_MESSAGE_LENGTH,
    );
  });

  it('keeps ordinary text, Unicode included, as it is', () => {
    expect(printableMessage('exited with code 1: café ✓ 日本')).toBe(
      'exited with code 1: café ✓ 日本',
    );
  });
});
