// Files on disk, for reading: where a home keeps its files, the workspace config, the pidfile and
// state.json. Writers stay internal: only the daemon holding the lock writes (ARCHITECTURE.md,
// invariants 5 and 10).
export { resolveHome, workspacePaths, type HomeLayout, type WorkspacePaths } from './paths.js';
export { validateName, WORKSPACE_NAME } from './names.js';
export { loadConfig, WORKSPACE_SCHEMA, type WorkspaceConfig } from './workspace.js';
export { readPidfile, PIDFILE_SCHEMA, type PidfileDoc, type PidfileRead } from './pidfile.js';
export { readState, STATE_SCHEMA, type StateDoc, type DaemonState, type DaemonStatus } from './state-schema.js';
