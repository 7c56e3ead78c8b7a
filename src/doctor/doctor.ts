import { gatherFacts, type GatherOptions } from './facts.js';
import { runChecks, type Check } from './checks.js';

export const DOCTOR_SCHEMA = 'mountie.doctor/v1';

export interface DoctorReport {
  readonly schema: typeof DOCTOR_SCHEMA;
  /** No check failed (warnings allowed). */
  readonly ok: boolean;
  readonly home: string;
  readonly uid: number;
  readonly checks: readonly Check[];
}

/** Look at the machine and the home; change nothing. */
export async function runDoctor(opts: GatherOptions): Promise<DoctorReport> {
  const facts = await gatherFacts(opts);
  const checks = runChecks(facts);
  return { schema: DOCTOR_SCHEMA, ok: !checks.some((c) => c.status === 'fail'), home: opts.layout.home, uid: facts.uid, checks };
}
