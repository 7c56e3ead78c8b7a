/**
 * Process-wide count of fs calls on libuv's threadpool that may never return (calls on the
 * source: backend ops and health probes). libuv joins its pool threads when the process exits
 * (uv_library_shutdown runs as a destructor inside exit()), so while one of these calls hangs
 * in the kernel, process.exit() hangs too. The CLI reads the count to decide how to exit.
 */
let pending = 0;

/** Count `work` as pending until it settles; returns it unchanged. */
export function trackPoolCall<T>(work: Promise<T>): Promise<T> {
  pending++;
  const done = (): void => {
    pending--;
  };
  work.then(done, done);
  return work;
}

/** Tracked calls that have not returned yet, in this process. */
export function poolCallsPending(): number {
  return pending;
}
