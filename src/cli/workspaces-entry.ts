/**
 * `mountie __workspaces` without loading the rest of the CLI (bin.cjs routes it here): completion
 * runs it on every Tab, and main.js loads the daemon and the launcher first.
 */
import { workspacesCommand } from './commands/completion.js';
import { guardStdio, stdio } from './output.js';

guardStdio();
void workspacesCommand(stdio).then(
  (code) => process.exit(code),
  // workspacesCommand never throws (an unreadable home lists nothing); should it, a Tab prints nothing.
  () => process.exit(0),
);
