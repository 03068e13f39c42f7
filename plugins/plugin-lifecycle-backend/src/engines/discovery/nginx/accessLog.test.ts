import { LineSplitter, parseAccessLogLine } from './accessLog';

describe('parseAccessLogLine', () => {
  it('reads one attempt', () => {
    expect(
      parseAccessLogLine('1764131000.123|3|127.0.0.1:8080|200|0.004|200|GET'),
    ).toEqual({
      at: 1764131000123,
      pool: 3,
      attempts: [
        {
          address: '127.0.0.1:8080',
          outcome: 'responded',
          status: 200,
          headerMs: 4,
        },
      ],
      status: 200,
      method: 'GET',
    });
  });

  it('reads retries, failed tries and IPv6 addresses', () => {
    expect(
      parseAccessLogLine(
        '1764131000.000|0|127.0.0.1:1, [::1]:2, 127.0.0.1:3|502, 504, 201|-, -, 0.010|201|POST',
      )?.attempts,
    ).toEqual([
      {
        address: '127.0.0.1:1',
        outcome: 'failed',
        status: 502,
        headerMs: undefined,
      },
      {
        address: '[::1]:2',
        outcome: 'failed',
        status: 504,
        headerMs: undefined,
      },
      {
        address: '127.0.0.1:3',
        outcome: 'responded',
        status: 201,
        headerMs: 10,
      },
    ]);
  });

  it('skips what an error page added after the tries', () => {
    // Every try failed, then error_page went to a named location.
    expect(
      parseAccessLogLine(
        '1764131000.000|1|127.0.0.1:1 : plo_1|502 : -|- : -|503|GET',
      )?.attempts,
    ).toEqual([
      {
        address: '127.0.0.1:1',
        outcome: 'failed',
        status: 502,
        headerMs: undefined,
      },
    ]);
    // Answered by nginx itself: no try at all.
    expect(
      parseAccessLogLine('1764131000.000|1|-|-|-|503|GET')?.attempts,
    ).toEqual([]);
  });

  it('tells a client that went away from a failed try', () => {
    expect(
      parseAccessLogLine('1764131000.000|0|127.0.0.1:1|-|-|499|GET')?.attempts,
    ).toEqual([
      {
        address: '127.0.0.1:1',
        outcome: 'aborted',
        status: undefined,
        headerMs: undefined,
      },
    ]);
    // A try that failed before the client left is still a failure.
    expect(
      parseAccessLogLine(
        '1764131000.000|0|127.0.0.1:1, 127.0.0.1:2|502, -|-, -|499|GET',
      )?.attempts.map(a => a.outcome),
    ).toEqual(['failed', 'aborted']);
  });

  it('ignores lines that are not whole', () => {
    expect(parseAccessLogLine('')).toBeUndefined();
    expect(
      parseAccessLogLine('soon|1|127.0.0.1:1|200|0.1|200|GET'),
    ).toBeUndefined();
    expect(
      parseAccessLogLine('1764131000.000|1|127.0.0.1:1|200'),
    ).toBeUndefined();
    expect(
      parseAccessLogLine('1764131000.000|x|127.0.0.1:1|200|0.1|200|GET'),
    ).toBeUndefined();
    expect(
      parseAccessLogLine('1764131000.000||127.0.0.1:1|200|0.1|200|GET'),
    ).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  it('keeps a cut-off line for the next chunk', () => {
    const lines = new LineSplitter();
    expect(lines.push('a|1\nb|')).toEqual(['a|1']);
    expect(lines.push('2\n\nc')).toEqual(['b|2']);
    expect(lines.push('|3\n')).toEqual(['c|3']);
  });
});
