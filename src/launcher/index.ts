// The controlling side: start a daemon and wait until its mount is usable, stop it, tell its
// status, discover what runs. Everything else in src/launcher is internal.
export { launch, stop, status, discover, forget, restartLive, type HomeOption, type KindOption, type LaunchOptions, type OptionsInput, type StopCallOptions, type ForgetCallOptions, type RestartLiveOptions } from './api.js';
export type { LiveRestarted, LiveRefused } from './live-restart.js';
export type { ForgetReport } from './forget.js';
export { exitCodeOf, hintOf } from './exit.js';
export { DEFAULT_READY_TIMEOUT_MS, type StartResult } from './start.js';
export { DEFAULT_GRACE_MS, type StopReport, type ProcessEnd } from './stop.js';
export type { Daemon, Discovery } from './discover.js';
export type { WorkspaceStatus, Verdict, DaemonView } from './inspect.js';
