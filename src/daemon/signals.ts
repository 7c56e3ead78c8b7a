/**
 * Lifecycle handlers, installed before anything else in the daemon: termination signals and
 * fatal errors both lead into the same shutdown. Returns the remover.
 *
 * Only the first fatal error reaches `onFatal`; the second is reported once through
 * `onFatalRepeated` and later ones are dropped. A fatal error raised while handling another (the
 * handler logs, the log echoes to a dead stderr, that raises again) must not loop: that was 86 MB
 * of log in 8 s after a terminal closed, with SIGTERM unable to end it.
 */
export interface LifecycleHooks {
  onSignal(signal: NodeJS.Signals): void;
  onFatal(kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void;
  /** The second fatal error, once; the shutdown the first one began is running. */
  onFatalRepeated?(kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void;
}

export const TERMINATION_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export function installLifecycleHandlers(hooks: LifecycleHooks, proc: NodeJS.Process = process): () => void {
  const onSignal = (signal: NodeJS.Signals): void => hooks.onSignal(signal);
  let fatals = 0;
  const fatal = (kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void => {
    fatals++;
    try {
      if (fatals === 1) hooks.onFatal(kind, err);
      else if (fatals === 2) hooks.onFatalRepeated?.(kind, err);
    } catch {
      // A throwing handler would come straight back here as another uncaught exception.
    }
  };
  const onException = (err: unknown): void => fatal('uncaughtException', err);
  const onRejection = (err: unknown): void => fatal('unhandledRejection', err);
  for (const s of TERMINATION_SIGNALS) proc.on(s, onSignal);
  // SIGPIPE: a closed stdout/readiness pipe must never kill the daemon.
  const ignore = (): void => undefined;
  proc.on('SIGPIPE', ignore);
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    for (const s of TERMINATION_SIGNALS) proc.off(s, onSignal);
    proc.off('SIGPIPE', ignore);
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}
