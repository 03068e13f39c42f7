import fs from 'node:fs';
import { runDetachedStep } from './detachedStep';
import { readProcStat } from './procStat';

function alive(pid: number) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('runDetachedStep', () => {
  it('runs a step in a group of its own, told to the tracker until it ends', async () => {
    const tracked: number[] = [];
    const untracked: number[] = [];
    const { stdout } = await runDetachedStep(
      'sh',
      ['-c', 'echo "$$ $(cut -d" " -f5 /proc/$$/stat)"'],
      {
        track: async ({ pid }) => {
          tracked.push(pid);
          return async () => {
            untracked.push(pid);
          };
        },
      },
    );
    const [pid, group] = stdout.trim().split(' ').map(Number);
    // Its own process group, not the backend's.
    expect(group).toBe(pid);
    expect(group).not.toBe((await readProcStat(process.pid))!.processGroup);
    expect(tracked).toEqual([pid]);
    expect(untracked).toEqual([pid]);
  });

  it('stops the whole group on abort, what the step started too', async () => {
    const controller = new AbortController();
    let leader = 0;
    const step = runDetachedStep('sh', ['-c', 'sleep 60 & echo $!; wait'], {
      signal: controller.signal,
      track: async ({ pid }) => {
        leader = pid;
        return async () => {};
      },
    });
    // The grandchild's pid, once the step printed it.
    let grandchild = 0;
    for (let i = 0; i < 100 && !grandchild; i++) {
      await new Promise(r => setTimeout(r, 20));
      const children = fs
        .readFileSync(`/proc/${leader}/task/${leader}/children`, 'utf8')
        .trim();
      grandchild = Number(children.split(' ')[0]) || 0;
    }
    expect(alive(grandchild)).toBe(true);
    controller.abort();
    await expect(step).rejects.toThrow(/aborted/);
    expect(alive(leader)).toBe(false);
    for (let i = 0; i < 50 && alive(grandchild); i++) {
      await new Promise(r => setTimeout(r, 20));
    }
    expect(alive(grandchild)).toBe(false);
  });

  it('says what failed, with its stderr', async () => {
    await expect(
      runDetachedStep('sh', ['-c', 'echo broken >&2; exit 4'], {}),
    ).rejects.toMatchObject({
      code: 4,
      stderr: 'broken\n',
      message: expect.stringMatching(/failed \(code 4.*broken/),
    });
  });
});
