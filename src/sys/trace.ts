/**
 * MOUNTIE_TRACE=1: one line on stderr per step of a command, `mountie-trace <ms since the process
 * began> <pid> <CPU ms so far> <label>`, to see where a command's time goes (BENCHMARKS.md, control path). Off by
 * default and then a no-op: the check is made once, at load.
 */
import { writeSync } from 'node:fs';

const on = process.env.MOUNTIE_TRACE === '1';

/** Mark a step (written synchronously, so the mark is where the step is, not where a stream flushed). */
export function trace(label: string): void {
  if (!on) return;
  try {
    const cpu = process.cpuUsage();
    writeSync(2, `mountie-trace ${performance.now().toFixed(1)} ${process.pid} ${((cpu.user + cpu.system) / 1000).toFixed(1)} ${label}\n`);
  } catch {
    // A closed stderr: a trace is never worth failing the command.
  }
}
