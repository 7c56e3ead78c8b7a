/** Call a FUSE-style op and resolve with the arguments its callback got (bounded: an op that never answers fails the test). */
export function answer(call: (cb: (...result: unknown[]) => void) => void, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    call((...result) => {
      clearTimeout(timer);
      resolve(result);
    });
  });
}

/** The error code a synchronous call throws (or the error as text), undefined when it returns. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}
