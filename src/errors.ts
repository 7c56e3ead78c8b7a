/**
 * Every failure mountie reports is a MountieError with a stable `code` and data fields.
 * Tests and scripts match on `code`; the message is for people and may change.
 * `hint` says what the user can do about it; the CLI prints it under the message.
 */
export type ErrorCode =
  | 'ERR_INVALID_NAME'
  | 'ERR_INVALID_OPTION'
  | 'ERR_SOURCE_MISSING'
  | 'ERR_SOURCE_NOT_DIR'
  | 'ERR_SOURCE_REQUIRED'
  | 'ERR_MOUNTPOINT_NOT_DIR'
  | 'ERR_MOUNTPOINT_NOT_EMPTY'
  | 'ERR_MOUNTPOINT_BUSY'
  | 'ERR_MOUNTPOINT_OVERLAP'
  | 'ERR_CONFIG_CONFLICT'
  | 'ERR_CONFIG_CORRUPT'
  | 'ERR_UNKNOWN_WORKSPACE'
  | 'ERR_WORKSPACE_LOCKED'
  /** forget: the workspace runs, starts, or is still mounted (exit 3, like "already running"). */
  | 'ERR_WORKSPACE_ACTIVE'
  | 'ERR_MOUNT_FAILED'
  | 'ERR_UNMOUNT_FAILED'
  /** The topmost mount at a path is not the one we mounted (something was stacked over it): left alone. */
  | 'ERR_MOUNT_NOT_OURS'
  | 'ERR_START_TIMEOUT'
  | 'ERR_DAEMON_EXITED'
  | 'ERR_STOP_FAILED'
  | 'ERR_FENCED'
  /** A kind's data.json (ctx.data) is not a document it saved: left as it is, the start refused. */
  | 'ERR_DATA_CORRUPT'
  | 'ERR_DEADLINE'
  | 'ERR_BACKEND_BUSY'
  | 'ERR_CANCELLED'
  | 'ERR_INTERNAL'
  | 'ERR_LOCK_FAILED'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_READ_ONLY_FS'
  | 'ERR_NO_SPACE'
  | 'ERR_NAME_TOO_LONG'
  | 'ERR_IS_DIRECTORY'
  | 'ERR_NOT_DIRECTORY'
  | 'ERR_SYMLINK_REFUSED'
  | 'ERR_TOO_MANY_FILES'
  | 'ERR_SOURCE_UNRESPONSIVE'
  | 'ERR_MOUNTPOINT_UNSUITABLE'
  | 'ERR_ENVIRONMENT'
  | 'ERR_ALLOW_OTHER_DENIED'
  /** The native core (the addon, or libfuse3 it needs) cannot load: no mount can be served. */
  | 'ERR_NATIVE_UNAVAILABLE'
  /** A kind's name is not 2 to 8 lowercase letters and digits (defineKind). */
  | 'ERR_INVALID_KIND'
  /** The workspace belongs to another kind than the caller's (two kinds pointed at one home). */
  | 'ERR_KIND_MISMATCH'
  /** defineDaemon was given a malformed definition, or a launch a daemon it cannot start. */
  | 'ERR_INVALID_DEFINITION'
  /** A live handover of a mount to another process failed (data.reason: the core's ERR_HANDOVER_* code); the old process serves on. */
  | 'ERR_HANDOVER';

/** An error's machine-readable details (the pid, path or workspace it is about). */
export interface ErrorData {
  readonly pid?: number;
  readonly path?: string;
  readonly workspace?: string;
  readonly value?: unknown;
  readonly logPath?: string;
  readonly [key: string]: unknown;
}

/** Every failure mountie reports: a stable `code` to match on, `data` fields, a `hint` saying what to do, the `cause` chained. */
export class MountieError extends Error {
  readonly code: ErrorCode;
  readonly data: ErrorData;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { data?: ErrorData; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MountieError';
    this.code = code;
    this.data = opts.data ?? {};
    this.hint = opts.hint;
  }

  /** The `error` object of a `mountie.error/v1` document. */
  toJSON(): { code: ErrorCode; message: string; hint?: string; data: ErrorData } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), data: this.data };
  }
}

/** Errors caused by what the user typed: nothing may be written to disk before they are thrown. */
export const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_INVALID_NAME',
  'ERR_INVALID_OPTION',
  'ERR_SOURCE_MISSING',
  'ERR_SOURCE_NOT_DIR',
  'ERR_SOURCE_REQUIRED',
  'ERR_MOUNTPOINT_NOT_DIR',
  'ERR_MOUNTPOINT_NOT_EMPTY',
  'ERR_MOUNTPOINT_BUSY',
  'ERR_MOUNTPOINT_OVERLAP',
  'ERR_CONFIG_CONFLICT',
  'ERR_INVALID_KIND',
  'ERR_KIND_MISMATCH',
  'ERR_INVALID_DEFINITION',
]);

/**
 * Errors of the environment (permissions, read-only or full file systems, a path that is a
 * directory, a symlink where we write, a hung source): the CLI found them before it started a
 * daemon, so they exit 2 like bad input. A daemon that meets one while starting reports it as
 * ERR_MOUNT_FAILED with the cause quoted (exit 4).
 */
export const ENVIRONMENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_PERMISSION_DENIED',
  'ERR_READ_ONLY_FS',
  'ERR_NO_SPACE',
  'ERR_NAME_TOO_LONG',
  'ERR_IS_DIRECTORY',
  'ERR_NOT_DIRECTORY',
  'ERR_SYMLINK_REFUSED',
  'ERR_TOO_MANY_FILES',
  'ERR_SOURCE_UNRESPONSIVE',
  'ERR_MOUNTPOINT_UNSUITABLE',
  'ERR_ENVIRONMENT',
  'ERR_CONFIG_CORRUPT',
  'ERR_DATA_CORRUPT',
  'ERR_ALLOW_OTHER_DENIED',
  'ERR_NATIVE_UNAVAILABLE',
]);

/** Is `err` a {@link MountieError}? */
export function isMountieError(err: unknown): err is MountieError {
  return err instanceof MountieError;
}

/** Narrow an unknown thrown value to a Node system error code such as 'ENOENT'. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
