/**
 * The order test files start in. Files run in parallel (vitest.config.ts), so the run lasts at
 * least as long as its longest file: the long ones start first, each on a worker of its own, and
 * the short ones fill the other workers meanwhile. vitest's own order (longest first from its
 * results cache) is no help where it matters: a fresh clone (CI) has no cache, and without one it
 * starts files in glob order, chaos last. So the long ones are named here, longest first (seconds
 * measured on 2 cores in one `npm test`, issue 18); the rest keep vitest's order after them.
 * A renamed or new long file only starts later than it could: nothing breaks.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const LONG_FIRST: readonly string[] = [
  'test/integration/restart-live.test.ts',
  'test/chaos/chaos.test.ts',
  'test/chaos/chaos-second.test.ts',
  'test/integration/background.test.ts',
  'test/integration/stop-status.test.ts',
  'test/integration/security-races.test.ts',
  'test/integration/bad-input.test.ts',
  'test/integration/state-crash.test.ts',
  'test/integration/everyday.test.ts',
  'test/integration/identity.test.ts',
  'test/integration/native.test.ts',
];

export class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (s: TestSpecification): number => {
      const i = LONG_FIRST.indexOf(relative(s.project.config.root, s.moduleId));
      return i === -1 ? LONG_FIRST.length : i;
    };
    // Array.prototype.sort is stable: files not named keep vitest's order among themselves.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
