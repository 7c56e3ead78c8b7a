import { runDoctor } from '../../doctor/doctor.js';
import type { CheckStatus } from '../../doctor/checks.js';
import { resolveHome } from '../../state/paths.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';

export interface DoctorFlags {
  readonly json?: boolean;
  readonly allowOther?: boolean;
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** Exit 0: nothing failed (warnings allowed); 1: something is broken (each failure names its fix). */
export async function doctorCommand(flags: DoctorFlags, out: Out): Promise<number> {
  const report = await runDoctor({ layout: resolveHome(), allowOther: flags.allowOther === true });
  if (flags.json) out.json(report);
  else {
    for (const c of report.checks) {
      out.line(`${LABEL[c.status]}  ${c.id.padEnd(16)} ${c.summary}`);
      if (c.fix && c.status !== 'ok') out.line(`      fix: ${c.fix}`);
    }
    const n = (s: CheckStatus): number => report.checks.filter((c) => c.status === s).length;
    out.line(`${n('fail')} failed, ${n('warn')} warning(s), ${n('ok')} ok (home ${report.home})`);
  }
  return report.ok ? EXIT.ok : EXIT.failure;
}
