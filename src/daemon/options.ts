import type { HomeLayout } from '../state/paths.js';
import type { AnyConfig } from '../state/workspace.js';
import type { MountieDaemon } from './define.js';
import type { ReadyChannel } from '../protocol/channel.js';

/** Test-only fault injection, read from the environment (MOUNTIE_TEST_*). Documented in ARCHITECTURE.md. */
export interface TestHooks {
  /** Ignore SIGTERM (to prove that `stop` escalates to SIGKILL). */
  readonly ignoreSigterm: boolean;
  /** Sleep this long after writing the pidfile, before mounting. */
  readonly delayBeforeMountMs: number;
  /** Sleep this long right after taking the lock, before the state and pidfile exist. */
  readonly delayAfterLockMs: number;
  /** 'throw-on-usr2': an uncaught exception on SIGUSR2; the *-on-usr2 wedges: test-faults.ts. */
  readonly fault: string | undefined;
}

export function testHooksFromEnv(env: NodeJS.ProcessEnv): TestHooks {
  return {
    ignoreSigterm: env.MOUNTIE_TEST_IGNORE_SIGTERM === '1',
    delayBeforeMountMs: Number(env.MOUNTIE_TEST_DELAY_BEFORE_MOUNT_MS ?? 0) || 0,
    delayAfterLockMs: Number(env.MOUNTIE_TEST_DELAY_AFTER_LOCK_MS ?? 0) || 0,
    fault: env.MOUNTIE_TEST_FAULT || undefined,
  };
}

/** What {@link runDaemon} needs: the home, the workspace, this instance's id (the launcher passes it), and optional callbacks. */
export interface DaemonOptions {
  readonly layout: HomeLayout;
  readonly workspace: string;
  readonly instanceId: string;
  readonly argv: readonly string[];
  readonly version: string;
  readonly channel?: ReadyChannel | undefined;
  /** Foreground mode echoes log lines (to stderr, via the CLI). */
  readonly echo?: ((line: string) => void) | undefined;
  /** Called once mounted, before waiting (the CLI prints where). */
  readonly onReady?: ((info: { mountpoint: string; pid: number }) => void) | undefined;
  readonly shutdownDeadlineMs?: number;
  readonly startupTimeoutMs?: number;
  readonly hooks?: TestHooks;
  /** A live restart (issue 21): take the mount over from this daemon instead of mounting. */
  readonly takeOver?: { readonly pid: number } | undefined;
  /** A first mount's config: stored by the daemon only once its mount succeeded. */
  readonly pendingConfig?: AnyConfig | undefined;
  /** The daemon to run; its kind must be the layout's. Default: mountie's passthrough. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a definition of any options type
  readonly daemon?: MountieDaemon<any>;
}
