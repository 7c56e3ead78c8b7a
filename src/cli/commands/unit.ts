import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MountieError } from '../../errors.js';
import { DEFAULT_GRACE_MS } from '../../launcher/stop.js';
import { validateName } from '../../state/names.js';
import { resolveHome, workspacePaths } from '../../state/paths.js';
import { loadConfig } from '../../state/workspace.js';
import { installUnit, unitDir } from '../../systemd/install.js';
import { activationCommands, renderUnit, unitName, type UnitScope } from '../../systemd/unit.js';
import { EXIT } from '../exit-codes.js';
import type { Out } from '../output.js';
import { CLI_PATH, packageVersion } from '../version.js';

export interface UnitFlags {
  readonly user?: boolean;
  readonly system?: boolean;
  readonly install?: boolean;
  readonly json?: boolean;
}

function scopeOf(flags: UnitFlags, uid: number): UnitScope {
  if (flags.user && flags.system) throw new MountieError('ERR_INVALID_OPTION', 'give --user or --system, not both', { hint: 'run: mountie unit <ws> --user   or   mountie unit <ws> --system' });
  if (flags.user) return 'user';
  if (flags.system) return 'system';
  return uid === 0 ? 'system' : 'user';
}

/** Print (or with --install, write) a systemd service for a configured workspace; never runs systemctl. */
export async function unitCommand(ws: string, flags: UnitFlags, out: Out): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const scope = scopeOf(flags, uid);
  const workspace = validateName(ws);
  const layout = resolveHome();
  const config = await loadConfig(workspacePaths(layout, workspace));
  if (!config) {
    throw new MountieError('ERR_UNKNOWN_WORKSPACE', `unknown workspace ${workspace}: a unit runs a configured workspace`, {
      data: { workspace },
      hint: `mount it once first (its config is stored then): mountie mount ${workspace} --source DIR --background && mountie stop ${workspace}`,
    });
  }
  const me = userInfo();
  const text = renderUnit({
    workspace,
    scope,
    node: process.execPath,
    cli: join(dirname(CLI_PATH), 'bin.cjs'),
    home: layout.home,
    source: config.source,
    mountpoint: config.mountpoint,
    version: packageVersion(),
    grace: DEFAULT_GRACE_MS,
    // dist/cli/ → the package root, where README.md sits; a URI needs no quoting beyond escapes.
    docs: pathToFileURL(join(dirname(CLI_PATH), '..', '..', 'README.md')).href,
    ...(scope === 'system' && uid !== 0 ? { user: me.username } : {}),
  });
  const name = unitName(workspace);
  if (!flags.install) {
    if (flags.json) out.json({ schema: 'mountie.unit/v1', workspace, scope, name, installed: false, unit: text });
    else out.line(text.trimEnd());
    return EXIT.ok;
  }
  const r = await installUnit(unitDir(scope), workspace, text, scope);
  const next = activationCommands(scope, workspace, uid !== 0);
  if (flags.json) out.json({ schema: 'mountie.unit/v1', workspace, scope, name, installed: true, path: r.path, action: r.action, unit: text, next });
  else {
    out.line(`${r.action} ${r.path}`);
    out.line(`a background daemon of ${workspace} must not run beside the unit; stop it first: mountie stop ${workspace}`);
    out.line('then run:');
    for (const c of next) out.line(`  ${c}`);
  }
  return EXIT.ok;
}
