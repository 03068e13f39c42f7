import os from 'node:os';

/**
 * True when `owner` (`<host>:<pid>[:...]`, as backend replicas write who
 * owns an instance, a lease or a start in flight) is a process on this host
 * that no longer exists. Owners on other hosts are never judged here: their
 * leases or timeouts expire. For runtimes that take back what a killed
 * backend left behind.
 *
 * @public
 */
export function isOwnerGone(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isInteger(pid) || pid === process.pid) {
    return false;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
