/**
 * Lifecycle handlers, installed before anything else in the daemon: termination signals and
 * fatal errors both lead into the same shutdown. Returns the remover.
 */
export interface LifecycleHooks {
  onSignal(signal: NodeJS.Signals): void;
  onFatal(kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void;
}

export const TERMINATION_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export function installLifecycleHandlers(hooks: LifecycleHooks, proc: NodeJS.Process = process): () => void {
  const onSignal = (signal: NodeJS.Signals): void => hooks.onSignal(signal);
  const onException = (err: unknown): void => hooks.onFatal('uncaughtException', err);
  const onRejection = (err: unknown): void => hooks.onFatal('unhandledRejection', err);
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
