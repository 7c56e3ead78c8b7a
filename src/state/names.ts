import { MountieError } from '../errors.js';

/** What a workspace name must match. */
export const WORKSPACE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Workspace names become directory names and argv tokens: a strict pattern, nothing else. */
export function validateName(name: unknown): string {
  if (typeof name !== 'string' || !WORKSPACE_NAME.test(name)) {
    throw new MountieError('ERR_INVALID_NAME', `invalid workspace name ${JSON.stringify(name)}`, {
      data: { value: name },
      hint: 'use 1-63 characters: lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
  }
  return name;
}
