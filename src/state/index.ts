// Files on disk: paths, workspace config and validation, pidfile, durable writes, state writer.
export { resolveHome, workspacePaths, type HomeLayout, type WorkspacePaths } from './paths.js';
export { validateName, WORKSPACE_NAME } from './names.js';
export { loadConfig, saveConfig, WORKSPACE_SCHEMA, type WorkspaceConfig } from './workspace.js';
export { planMount, type MountPlan, type MountRequest } from './plan.js';
export { materialize } from './materialize.js';
export { readPidfile, writePidfile, removePidfileIfOwn, removeStalePidfile, PIDFILE_SCHEMA, type PidfileDoc, type PidfileRead } from './pidfile.js';
export { writeFileDurable, cleanTempFiles } from './atomic.js';
export { StateWriter } from './writer/writer.js';
export { nextEpoch } from './epoch.js';
export { readState, readStateWithReason, STATE_SCHEMA, type StateDoc, type DaemonState, type DaemonStatus } from './state-schema.js';
