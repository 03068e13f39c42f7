import { spawnSync } from 'node:child_process';
import os from 'node:os';
import {
  isStartAbandoned,
  readPendingStarts,
  STARTING_ANNOTATION,
  startOwner,
} from './pendingStarts';

describe('pending starts', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const startTimeoutMs = 5 * 60_000;

  it('reads the annotation, and nothing from a value that is not ours', () => {
    const starts = { 'p-1': { owner: 'h:1', since: '2026-01-01T00:00:00Z' } };
    expect(
      readPendingStarts({ [STARTING_ANNOTATION]: JSON.stringify(starts) }),
    ).toEqual(starts);
    expect(readPendingStarts({ [STARTING_ANNOTATION]: 'not json' })).toEqual(
      {},
    );
    expect(readPendingStarts(undefined)).toEqual({});
  });

  it('keeps a recent start of a live process, here or on another host', () => {
    const since = new Date(now - 1000).toISOString();
    expect(
      isStartAbandoned({ owner: startOwner(), since }, { startTimeoutMs, now }),
    ).toBe(false);
    expect(
      isStartAbandoned(
        { owner: `${os.hostname()}-elsewhere:${process.pid + 1}`, since },
        { startTimeoutMs, now },
      ),
    ).toBe(false);
  });

  it('takes back a start whose process on this host is gone', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(
      isStartAbandoned(
        {
          owner: `${os.hostname()}:${gone}`,
          since: new Date(now - 1000).toISOString(),
        },
        { startTimeoutMs, now },
      ),
    ).toBe(true);
  });

  it('takes back a start older than a start may wait plus a minute, from any host', () => {
    const owner = `${os.hostname()}-elsewhere:1`;
    const at = (ms: number) => new Date(now - ms).toISOString();
    expect(
      isStartAbandoned(
        { owner, since: at(startTimeoutMs + 59_000) },
        { startTimeoutMs, now },
      ),
    ).toBe(false);
    expect(
      isStartAbandoned(
        { owner, since: at(startTimeoutMs + 61_000) },
        { startTimeoutMs, now },
      ),
    ).toBe(true);
  });
});
