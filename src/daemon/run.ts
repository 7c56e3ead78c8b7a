import { ENVIRONMENT_CODES, MountieError, errnoCode, isMountieError } from '../errors.js';
import { configForStart, isKindConfig, saveConfig, type AnyConfig, type WorkspaceConfig } from '../state/workspace.js';
import { kindOf, workspacePaths } from '../state/paths.js';
import { removePidfileIfOwn, writePidfile, PIDFILE_SCHEMA } from '../state/pidfile.js';
import { nextEpoch } from '../state/epoch.js';
import { openDataStore, type OpenedDataStore } from './data-store.js';
import { checkMountOptions } from './mount-options.js';
import { bootId, identityOf, probeLiveness, procSelfPid } from '../sys/proc.js';
import { unmountPath } from '../sys/fusermount.js';
import { withTimeout } from '../sys/time.js';
import { markDaemon } from '../protocol/marker.js';
import { isTagOf, mountTag } from '../protocol/tag.js';
import { readMountInfo, type MountEntry } from '../sys/mountinfo.js';
import type { HeldLock } from '../protocol/lock.js';
import { checkMountpointFree, homeOf, takeWorkspaceLock, type HomeOfDaemon } from './claim.js';
import { openLogger, type Logger } from './log.js';
import { waitForStops } from '../protocol/init-wait.js';
import { notifySystemd } from './notify.js';
import { installLifecycleHandlers } from './signals.js';
import { createShutdown } from './shutdown.js';
import { cleanStaleMounts } from '../protocol/stale.js';
import type { MountedFuse } from './mountpoint.js';
import { mountDataPath, type DataPath } from './data-path.js';
import { openDaemonState, type DaemonStateSink } from './state-sink.js';
import { testHooksFromEnv, type DaemonOptions } from './options.js';
import { validateOptions, type MountContext, type Served } from './define.js';
import { passthroughDaemon } from './passthrough/daemon.js';
import { mountOps } from './ops-path.js';
import { sameKind } from '../protocol/kind.js';
import { probeDirectory, startHealthMonitor, type HealthMonitor, type HealthReport } from './backend/health.js';
import { backendConfigFromEnv } from './backend/config.js';
import { poolCallsPending } from '../sys/pool-calls.js';
import { applyTestFaults } from './test-faults.js';
import { mountWatchIntervalFromEnv, watchMount } from './mount-watch.js';
import { MOUNT_STEP_MS, innerMountTimeout } from './mount-budget.js';

import { DAEMON_EXIT, exitCodeForStartError } from './run-exit.js';
import { listenForHandover, liveSupport, type Giver } from './handover.js';
import { takeOverMount, type TakeOverFault } from './take-over.js';
import { servePassthrough } from './data-path.js';
import { requireNative } from './native/require-native.js';
import { readPidfile } from '../state/pidfile.js';
import { MOUNTIE } from '../protocol/kind.js';

export { DAEMON_EXIT, exitCodeForStartError };

/** How long the new daemon of a live restart is given for each step of its take-over, all told. */
const TAKE_OVER_MS = 15_000;
/** How long a daemon that handed its mount over waits for the new one's pidfile before it exits. */
const HANDED_PIDFILE_WAIT_MS = 10_000;

type Identity = { readonly id: Awaited<ReturnType<typeof identityOf>>; readonly boot: string };

/** What a start (fresh or taken over) leaves to the rest of the harness. */
interface Started {
  readonly config: AnyConfig;
  readonly data: DataPath;
  readonly ptSource: string | undefined;
  readonly store: boolean;
  readonly state: DaemonStateSink;
}

function describe(err: unknown): unknown {
  // The environment failed this start (exit 4), quoted: the CLI maps these codes to exit 2 otherwise.
  if (isMountieError(err) && ENVIRONMENT_CODES.has(err.code)) return { code: 'ERR_MOUNT_FAILED', message: err.message, hint: err.hint, data: { ...err.data, cause: err.code } };
  if (isMountieError(err)) return err.toJSON();
  return { code: 'ERR_MOUNT_FAILED', message: err instanceof Error ? err.message : String(err), data: { errno: errnoCode(err) } };
}

/**
 * The daemon, start to end: handlers → lock → stale mount → pidfile → mount → READY → wait →
 * ordered shutdown. Returns the exit code; only the CLI exits. See ARCHITECTURE.md, "Start".
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const hooks = opts.hooks ?? testHooksFromEnv(process.env);
  const kind = kindOf(opts.layout);
  const daemon = opts.daemon ?? passthroughDaemon;
  const definition = daemon.definition;
  // First act: the marker discovery recognises (src/protocol/marker.ts), before any lock or mount.
  markDaemon(opts.workspace, process, kind);
  if (!sameKind(daemon.kind, kind)) throw new MountieError('ERR_INVALID_DEFINITION', `a ${daemon.kind.name} daemon cannot serve a ${kind.name} home`, { data: { workspace: opts.workspace } });
  const selfPid = procSelfPid();
  const paths = workspacePaths(opts.layout, opts.workspace);
  const log = openLogger(paths.log, opts.echo ? { echo: opts.echo } : {});
  const ctx: { lock?: HeldLock; fuse?: MountedFuse; data?: DataPath; store?: OpenedDataStore; state?: DaemonStateSink; health?: HealthMonitor; pidfileWritten: boolean; mountpoint?: string; homeId?: string; giver?: Giver } = {
    pidfileWritten: false,
  };
  // Set once a live restart handed our mount to the new daemon: the shutdown then lets go of it without touching it.
  const handed = (): boolean => ctx.giver?.handedOver === true;
  // Set when the mount watch saw our mount vanish: nothing at the mountpoint is proven ours then.
  const lost: { unwatch?: () => void; gone?: boolean; reason?: string } = {};
  // The author's ctx.signal: aborted as the shutdown begins, before anything is torn down.
  const authorAbort = new AbortController();
  let mctx: MountContext<unknown> | undefined;
  const tuning = backendConfigFromEnv(process.env);
  let startup: Promise<unknown> = Promise.resolve();
  let removeFaults: () => void = () => undefined;
  /** Set by the first fatal exception or rejection: what state.json says the daemon died of. */
  let crashed: string | undefined;

  const onFenced = (why: string): void => {
    // A handover under way or done: the new daemon's epoch fences ours, as it should.
    if (ctx.giver?.current || handed()) return;
    void shutdown.trigger(`fenced: ${why}`, DAEMON_EXIT.runtimeFailure);
  };
  /**
   * Handed over: the new daemon serves. Once its pidfile is on disk (bounded), let go of
   * everything and exit 0, touching nothing. A new daemon that died after the commit cannot be
   * served for (our loop has ended): we let go at once, so no live process holds the lock of a
   * mount nobody serves (status then says stale-mount; the next start or stop cleans it).
   */
  async function handedOver(state: DaemonStateSink, peerPid: number): Promise<void> {
    state.stopMonitors();
    await ctx.health?.stop();
    const deadline = Date.now() + HANDED_PIDFILE_WAIT_MS;
    for (;;) {
      const pf = await readPidfile(paths.pidfile).catch(() => undefined);
      if (pf?.kind === 'ok' && pf.doc.instanceId !== opts.instanceId) break;
      if (peerPid > 0 && (await probeLiveness(peerPid).catch(() => 'dead')) !== 'alive') {
        log.error(`the new daemon (pid ${peerPid}) died after it took the mount over, before its pidfile: the mount is left unserved; exiting`);
        break;
      }
      if (Date.now() >= deadline) {
        log.error(`the new daemon wrote no pidfile within ${HANDED_PIDFILE_WAIT_MS} ms; exiting anyway (the mount is its own)`);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    void shutdown.trigger('handed over to a new daemon', DAEMON_EXIT.ok);
  }

  const shutdown = createShutdown({
    deadlineMs: opts.shutdownDeadlineMs ?? 5000,
    log,
    steps: () => [
      { name: 'abort-author-signal', run: () => authorAbort.abort(new Error('daemon shutting down')) },
      { name: 'await-startup-step', run: () => startup.catch(() => undefined) },
      // A handover under way ends first (bounded by its own steps): its outcome says whether the mount is still ours.
      { name: 'await-handover', run: () => ctx.giver?.current },
      { name: 'state-stopping', run: () => (handed() ? undefined : (ctx.state?.update({ status: 'stopping' }), notifySystemd('STOPPING=1', { status: `stopping: unmounting ${ctx.mountpoint ?? ''}` }))) },
      // Health first: a source that disconnects during shutdown must not flip the status back.
      { name: 'stop-monitors', run: async () => (ctx.giver?.remove(), lost.unwatch?.(), await ctx.health?.stop(), ctx.state?.stopMonitors()) },
      { name: 'cancel-inflight', run: () => (handed() ? undefined : ctx.data?.cancel(new Error('daemon shutting down'))) },
      { name: 'unmount', run: () => (handed() ? undefined : unmountOwn()) },
      // The author's cleanup: only for a daemon whose mount() ran (it may hold what mount() opened).
      { name: 'author-shutdown', run: () => (mctx && definition.shutdown ? definition.shutdown(mctx) : undefined) },
      // What the kind saved (ctx.data) reaches the disk before the daemon says it stopped.
      { name: 'close-data', always: true, run: () => ctx.store?.close(2000) },
      // `always`: a forced shutdown still says so in state.json, removes its pidfile and lets go.
      // A daemon that served and then crashed (or whose shutdown was forced) says so with its exit code: status shows failed(exit=N), not a clean stop.
      {
        name: 'flush-state',
        always: true,
        run: ({ forced }) =>
          // Handed over: state.json is the new daemon's (its epoch fences ours).
          handed()
            ? undefined
            : forced
            ? ctx.state?.finish('failed', `shutdown forced past its deadline${crashed ? ` after ${crashed}` : ''}`, 1)
            : crashed
              ? ctx.state?.finish('failed', `crashed: ${crashed}`, DAEMON_EXIT.runtimeFailure)
              : lost.reason
                ? ctx.state?.finish('failed', lost.reason)
                : ctx.state?.finish('stopped'),
      },
      { name: 'remove-pidfile', always: true, run: () => ctx.pidfileWritten && removePidfileIfOwn(paths.pidfile, opts.instanceId) },
      { name: 'release-lock', always: true, run: () => ctx.lock?.release() },
    ],
    force: async () => {
      // Only our tagged mount, and only while it is the topmost there (ERR_MOUNT_NOT_OURS otherwise, logged by the shutdown).
      const { mountpoint, homeId } = ctx;
      // A handover still under way: the mount may be the new daemon's already; never unmounted on a guess.
      if (mountpoint && homeId && !lost.gone && !handed() && !ctx.giver?.current) await unmountPath(mountpoint, { lazyOnly: true, ours: (e) => isTagOf(e, opts.workspace, homeId, kind) });
    },
  });

  async function unmountOwn(): Promise<void> {
    if (!ctx.fuse || lost.gone) return;
    const r = await ctx.fuse.unmount();
    log.info(`unmount ${ctx.mountpoint}: ${r.how}${r.aborted ? ' (its connection outlived the unmount, kept by a copy of the mount in another mount namespace: aborted)' : ''}${r.unmounted ? '' : ` FAILED ${r.detail ?? ''}`}`);
    if (!r.unmounted) throw new MountieError('ERR_UNMOUNT_FAILED', `could not unmount ${ctx.mountpoint}`, { data: { path: ctx.mountpoint } });
  }

  function onHealth(h: HealthReport): void {
    if (shutdown.started) return; // 'stopping' and what follows belong to the shutdown.
    if (ctx.giver?.current || handed()) return; // 'handing-over' is the handover's; a cancel now would fail the requests it drains.
    const line = `source health: ${h.status}${h.reason ? ` (${h.reason})` : ''}`;
    if (h.status === 'active') log.info(line);
    else log.error(line);
    ctx.state?.update({ status: h.status, reason: h.reason });
    void notifySystemd(undefined, { status: `source ${h.status}${h.reason ? `: ${h.reason}` : ''}` });
    // Terminal: answer every op EIO at once instead of letting each wait for its deadline.
    if (h.status === 'failed' && ctx.data?.cancelOnFailure) ctx.data.cancel(new Error(`source failed: ${h.reason ?? ''}`));
  }

  const removeHandlers = installLifecycleHandlers({
    onSignal(signal) {
      if (signal === 'SIGTERM' && hooks.ignoreSigterm) return log.info('SIGTERM ignored (test hook)');
      log.info(`received ${signal}`);
      // During a handover the stop waits for its outcome (bounded): a mount handed over is the new daemon's to stop.
      const pending = ctx.giver?.current;
      if (pending) log.info('a handover is under way: the shutdown waits for its outcome');
      void Promise.resolve(pending).then(() => shutdown.trigger(handed() ? `signal ${signal} (the mount was handed over)` : `signal ${signal}`, DAEMON_EXIT.ok));
    },
    onFatal(kind, err) {
      log.error(`fatal ${kind}`, err);
      crashed ??= `${kind}: ${err instanceof Error ? err.message : String(err)}`;
      void shutdown.trigger(`fatal ${kind}: ${err instanceof Error ? err.message : String(err)}`, DAEMON_EXIT.runtimeFailure);
    },
    onFatalRepeated(kind, err) {
      log.error(`another fatal ${kind} during shutdown (further ones are not logged): ${err instanceof Error ? err.message : String(err)}`);
    },
  });

  /** Each startup step is bounded and checks that no shutdown began meanwhile. */
  const step = async <T>(what: string, ms: number, work: () => Promise<T>): Promise<T> => {
    if (shutdown.started) throw new MountieError('ERR_MOUNT_FAILED', `startup interrupted before ${what}`);
    const p = withTimeout(what, ms, work());
    startup = p;
    return p;
  };

  try {
    log.info(`starting workspace ${opts.workspace} instance ${opts.instanceId} (pid ${selfPid})`);
    const me = await step('read own identity', 1000, async () => ({ id: await identityOf(selfPid), boot: await bootId() }));
    const home = await step('identify home', 2000, () => homeOf(opts.layout, opts.workspace, selfPid));
    const homeId = home.homeId;
    ctx.homeId = homeId;
    const started = opts.takeOver ? await startTakeOver(me, home, opts.takeOver) : await startFresh(me, home);
    const { config, data, ptSource, state } = started;
    const serving = ptSource ?? `${kind.name} ops`;
    ctx.data = data;
    ctx.fuse = data.mounted;
    if (started.store) await step('store config', 2000, () => saveConfig(paths, config));
    state.update({ status: 'active', dataPath: data.kind });
    log.info(`${opts.takeOver ? 'serving' : 'mounted'} ${serving} at ${config.mountpoint} (data path: ${data.kind})`);
    state.trackBackend(() => data.backendView(ctx.health?.report()));
    const refresh = state.refresh;
    // Passthrough: its source, as always. Own ops: the author's probe, or no health monitor at all.
    const author = mctx;
    const probe = ptSource !== undefined ? probeDirectory(ptSource) : definition.probe && author ? () => definition.probe?.(author) ?? Promise.resolve() : undefined;
    if (probe) ctx.health = startHealthMonitor({
      probe,
      load: () => data.load(),
      ...(tuning.healthIntervalMs ? { intervalMs: tuning.healthIntervalMs } : {}),
      ...(tuning.probeTimeoutMs ? { probeTimeoutMs: tuning.probeTimeoutMs } : {}),
      onChange: onHealth,
      onCheck: () => refresh(),
    });
    const mp = data.mounted.mountpoint;
    // Ours = our tagged mount is still at its place AND we still hold /dev/fuse: a connection
    // aborted under us ends the FUSE session while the (now dead) mount stays in the table.
    const mounted = (entries: readonly MountEntry[]): boolean => entries.some((e) => e.mountPoint === mp && isTagOf(e, opts.workspace, homeId, kind));
    const startWatch = (): void => void (lost.unwatch = watchMount({
      isOurs: (entries) => mounted(entries) && data.sessionAlive(),
      intervalMs: mountWatchIntervalFromEnv(process.env),
      onLost: () => {
        if (shutdown.started) return;
        void readMountInfo().then((entries) => {
          // Still mounted: our session ended under it (an abort); the dead mount is ours to clean
          // (our tag, our lock), so the shutdown unmounts it. Gone: someone unmounted it; whatever
          // sits at the mountpoint now is not proven ours and stays.
          const sessionEnded = mounted(entries);
          lost.gone = !sessionEnded;
          lost.reason = sessionEnded ? 'the FUSE session ended (connection aborted)' : 'unmounted externally';
          log.error(`mount at ${mp}: ${lost.reason}; shutting down`);
          ctx.state?.update({ status: 'failed', reason: lost.reason });
          void shutdown.trigger(lost.reason, DAEMON_EXIT.runtimeFailure);
        }, (err: unknown) => {
          // Without a mount table we cannot tell which loss this is; shutting down is right either way.
          log.error('mount lost, and mountinfo unreadable', err);
          void shutdown.trigger('mount lost', DAEMON_EXIT.runtimeFailure);
        });
      },
    }));
    startWatch();
    opts.channel?.send({ type: 'ready', pid: process.pid, instanceId: opts.instanceId, mountpoint: config.mountpoint });
    opts.channel?.close();
    await notifySystemd('READY=1', { status: `serving ${serving} at ${config.mountpoint}` });
    opts.onReady?.({ mountpoint: config.mountpoint, pid: selfPid });
    removeFaults = applyTestFaults(hooks, { mountpoint: config.mountpoint, log });
    // Live restart (issue 21): can this daemon hand its mount over, and on SIGUSR2 do it. The test
    // faults use SIGUSR2 themselves: a daemon started with one cannot.
    const live = hooks.fault !== undefined && !hooks.fault.startsWith('take-over-') ? { ready: false, reason: 'a test fault hook (MOUNTIE_TEST_FAULT) holds SIGUSR2' } : liveSupport({ passthrough: ptSource !== undefined && sameKind(kind, MOUNTIE), session: data.native.counters().session, canExport: typeof requireNative().handoverListen === 'function', env: process.env });
    state.update({ live });
    if (live.ready && ctx.lock) {
      ctx.giver = listenForHandover({
        dir: paths.dir,
        binding: requireNative(),
        mounted: data.native,
        lock: ctx.lock,
        log,
        status: () => ctx.health?.report()?.status ?? 'active',
        setStatus: (status) => state.update({ status }),
        stopping: () => shutdown.started,
        // The mount watch would take our session's end at the commit for a lost mount: off while handing over.
        before: () => lost.unwatch?.(),
        after: (ok, stats) => (ok ? void handedOver(state, stats?.peerPid ?? 0) : startWatch()),
      });
    }
  } catch (err) {
    log.error('startup failed', err);
    opts.channel?.send({ type: 'error', pid: process.pid, instanceId: opts.instanceId, error: describe(err) });
    opts.channel?.close();
    const result = await shutdown.trigger(`startup failed: ${err instanceof Error ? err.message : String(err)}`, exitCodeForStartError(err));
    closeBackend();
    removeHandlers();
    await waitForStopsIfInit(paths.dir, log);
    log.close();
    if (err instanceof MountieError) throw err;
    throw new MountieError('ERR_MOUNT_FAILED', err instanceof Error ? err.message : String(err), { cause: err, data: { exitCode: result.exitCode } });
  }
  const result = await shutdown.done;
  removeFaults();
  closeBackend();
  removeHandlers();
  await waitForStopsIfInit(paths.dir, log);
  log.close();
  return result.exitCode;

  /** A start of its own: the lock, the config, a stale mount cleaned, the pidfile, then the mount. */
  async function startFresh(me: Identity, home: HomeOfDaemon): Promise<Started> {
    const homeId = home.homeId;
    ctx.lock = await step('take lock', 4000, () => takeWorkspaceLock(paths, opts.workspace, home));
    // Under the lock: a first mount's pending config meets any config stored meanwhile here.
    const start = await step('read config', 2000, () => configForStart(paths, opts.pendingConfig, kind));
    if (!start) throw new MountieError('ERR_UNKNOWN_WORKSPACE', `workspace ${opts.workspace} has no config`, { data: { workspace: opts.workspace } });
    const { config } = start;
    // Validated again here: the stored options may predate the author's current parser.
    const options = validateOptions(definition, rawOptions(config), opts.workspace);
    ctx.mountpoint = config.mountpoint;
    const epoch = await step('next epoch', 2000, () => nextEpoch(paths.dir));
    const fsname = mountTag(opts.workspace, homeId, kind);
    ctx.state = await step('open state', 2000, () => openDaemonState({ paths, config, fsname, pid: selfPid, epoch, instanceId: opts.instanceId, log, onFenced }));
    await step('clean stale mount', 6000, async () => {
      // Stale only when no other live daemon of this workspace exists (one whose lock file was
      // deleted under it still runs and still owns its mount).
      await cleanStaleMounts({ workspace: opts.workspace, homeId, liveDaemons: () => home.others(), log: (l) => log.info(l), kind });
      await checkMountpointFree(config.mountpoint, opts.workspace);
    });
    if (hooks.delayAfterLockMs > 0) await step('test delay after lock', hooks.delayAfterLockMs + 1000, () => new Promise((r) => setTimeout(r, hooks.delayAfterLockMs)));
    await writeOwnPidfile(me, epoch, config);
    ctx.pidfileWritten = true;
    if (hooks.delayBeforeMountMs > 0) await step('test delay', hooks.delayBeforeMountMs + 1000, () => new Promise((r) => setTimeout(r, hooks.delayBeforeMountMs)));
    const state = ctx.state;
    const authorCtx: MountContext<unknown> = {
      workspace: opts.workspace,
      mountpoint: config.mountpoint,
      options,
      readOnly: config.readOnly,
      signal: authorAbort.signal,
      log: { info: (l) => log.info(l), error: (l, e) => log.error(l, e) },
      dir: paths.dir,
      data: (ctx.store = openDataStore(paths.dir, epoch, opts.instanceId)),
    };
    mctx = authorCtx;
    const notServed = (): MountieError => new MountieError('ERR_INVALID_DEFINITION', `mount() of ${kind.name} must return { fs }, { ops } or { passthrough: { source } }`, { data: { workspace: opts.workspace } });
    let served: Served | undefined;
    // The data path's own bound ends before the step's (./mount-budget.ts): its coded error wins.
    const stepDeadline = Date.now() + MOUNT_STEP_MS;
    const data = await step('mount', MOUNT_STEP_MS, async () => {
      served = await definition.mount(authorCtx);
      const timeoutMs = innerMountTimeout(stepDeadline, Date.now());
      if (typeof served !== 'object' || served === null) {
        throw notServed();
      }
      if ('passthrough' in served) {
        const pt: WorkspaceConfig = { schema: config.schema, name: config.name, source: served.passthrough.source, mountpoint: config.mountpoint, readOnly: config.readOnly, ...(config.allowOther ? { allowOther: true } : {}), createdAt: config.createdAt };
        return mountDataPath({ config: pt, fsname, subtype: kind.name, state, deadlineMs: tuning.deadlineMs, timeoutMs, log: (l) => log.info(l), ...(tuning.sourceWatch !== undefined ? { sourceWatch: tuning.sourceWatch } : {}) });
      }
      const own = 'fs' in served ? (typeof served.fs === 'object' && served.fs !== null ? { fs: served.fs } : undefined) : typeof served.ops === 'object' && served.ops !== null ? served.ops : undefined;
      if (!own) throw notServed();
      const mountOptions = checkMountOptions(served.mount);
      return mountOps({ ops: own, mount: mountOptions, mountpoint: config.mountpoint, fsname, subtype: kind.name, readOnly: config.readOnly, allowOther: config.allowOther === true, state, timeoutMs, log: (l) => log.info(l), ...(tuning.deadlineMs !== undefined ? { deadlineMs: tuning.deadlineMs } : {}) });
    });
    return { config, data, ptSource: served && 'passthrough' in served ? served.passthrough.source : undefined, store: start.store, state };
  }

  /**
   * A live restart's start (issue 21): the config, then the mount and the lock handed over by the
   * daemon serving them, then the next epoch, state.json and the pidfile. No stale mount is
   * cleaned and nothing is mounted: the mount is live and stays. Until the old daemon's commit a
   * failure here leaves it serving; after it, the mount is ours (ctx.fuse) and a shutdown unmounts it.
   */
  async function startTakeOver(me: Identity, home: HomeOfDaemon, from: { readonly pid: number }): Promise<Started> {
    if (!sameKind(kind, MOUNTIE)) {
      throw new MountieError('ERR_HANDOVER', `a ${kind.name} daemon cannot take a live mount over (only mountie's passthrough can)`, { data: { workspace: opts.workspace, reason: 'ERR_HANDOVER_UNSUPPORTED' } });
    }
    const start = await step('read config', 2000, () => configForStart(paths, undefined, kind));
    if (!start || isKindConfig(start.config)) throw new MountieError('ERR_UNKNOWN_WORKSPACE', `workspace ${opts.workspace} has no config`, { data: { workspace: opts.workspace } });
    const { config } = start;
    validateOptions(definition, rawOptions(config), opts.workspace);
    ctx.mountpoint = config.mountpoint;
    log.info(`taking the mount over from pid ${from.pid}`);
    const fault = hooks.fault?.startsWith('take-over-') ? (hooks.fault.slice('take-over-'.length) as TakeOverFault) : undefined;
    // The launcher signals the serving daemon once we are this far (node started, config read): its wait for us is short.
    opts.channel?.send({ type: 'waiting', pid: process.pid, instanceId: opts.instanceId });
    const taken = await step('take over', TAKE_OVER_MS, () => takeOverMount({ paths, workspace: opts.workspace, config, deadlineMs: tuning.deadlineMs, sourceWatch: tuning.sourceWatch, fault, stopping: () => shutdown.started }));
    ctx.lock = taken.lock;
    ctx.fuse = taken.mounted;
    log.info(`took the mount over from pid ${from.pid}${taken.resend === 0 ? '' : ` (FUSE_NOTIFY_RESEND answered ${taken.resend})`}`);
    const epoch = await step('next epoch', 2000, () => nextEpoch(paths.dir));
    const fsname = mountTag(opts.workspace, home.homeId, kind);
    const state = (ctx.state = await step('open state', 2000, () => openDaemonState({ paths, config, fsname, pid: selfPid, epoch, instanceId: opts.instanceId, log, onFenced, takenOverFrom: from.pid })));
    await writeOwnPidfile(me, epoch, config);
    ctx.pidfileWritten = true;
    const data = servePassthrough(taken.mounted, state, tuning.sourceWatch ?? true, (l) => log.info(l));
    return { config, data, ptSource: config.source, store: false, state };
  }

  /** The pidfile, fsynced: from here `stop` and `status` know this daemon by it. */
  async function writeOwnPidfile(me: Identity, epoch: number, config: AnyConfig): Promise<void> {
    await step('write pidfile', 2000, () =>
      writePidfile(paths.pidfile, {
        schema: PIDFILE_SCHEMA,
        pid: selfPid,
        startTime: me.id?.startTime ?? 0,
        bootId: me.boot,
        instanceId: opts.instanceId,
        epoch,
        workspace: opts.workspace,
        argv: opts.argv,
        version: opts.version,
        mountpoint: config.mountpoint,
        source: isKindConfig(config) ? '' : config.source,
        logFile: paths.log,
        startedAt: new Date().toISOString(),
      }),
    );
  }

  function closeBackend(): void {
    const stuck = ctx.data?.stuckCalls() ?? poolCallsPending();
    // The CLI cannot exit normally while these hang (libuv joins its pool at exit); it says how it exits.
    if (stuck > 0) log.error(`${stuck} calls on the source never returned; they hold threads until the process ends`);
  }
}

/**
 * PID 1 of its pid namespace (a container's entrypoint): our exit kills every process there, a
 * `mountie stop` that entered it to stop us included. Done with the workspace (mount, pidfile and
 * lock let go), wait for those stops to have reported (src/protocol/init-wait.ts), bounded.
 */
async function waitForStopsIfInit(dir: string, log: Logger): Promise<void> {
  // process.pid is the pid in our own namespace (getpid), whatever /proc shows: 1 means the kernel ends the namespace with us.
  if (process.pid !== 1) return;
  const r = await waitForStops(dir);
  if (r !== 'free') log.info(`PID 1 of this pid namespace: exiting without waiting for the stops in it (${r})`);
}

/** What the definition's options parser gets: another kind's stored options, or mountie's `{ source }`. */
function rawOptions(config: AnyConfig): unknown {
  return isKindConfig(config) ? config.options : { source: config.source };
}
