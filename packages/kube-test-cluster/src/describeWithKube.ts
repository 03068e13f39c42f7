/* eslint-disable no-console, jest/no-disabled-tests, jest/expect-expect, jest/valid-title, jest/no-export */
import { locateKubeBinaries, type KubeBinaries } from './binaries';

/**
 * A `describe` block that needs the Kubernetes binaries: without them it
 * registers one skipped test whose title ends with `(skipped: <reason>)`
 * (CI's summary prints such titles) and prints the reason, so a run says
 * why the cluster tests did not run.
 */
export function describeWithKube(
  title: string,
  body: (binaries: KubeBinaries) => void,
): void {
  const lookup = locateKubeBinaries();
  if (!lookup.available) {
    console.warn(`[${title}] skipped: ${lookup.reason}`);
    describe(`${title} (skipped)`, () => {
      it.skip(`needs a Kubernetes control plane (skipped: ${lookup.reason})`, () => {});
    });
    return;
  }
  describe(title, () => {
    body(lookup.binaries);
  });
}
