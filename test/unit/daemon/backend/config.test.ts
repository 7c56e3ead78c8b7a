import { describe, expect, it } from 'vitest';
import { backendConfigFromEnv } from '../../../../src/daemon/backend/config.js';

describe('backendConfigFromEnv: MOUNTIE_SOURCE_WATCH', () => {
  it('unset leaves the default (watched); 0/off and 1/on say so; anything else is ignored', () => {
    expect(backendConfigFromEnv({}).sourceWatch).toBeUndefined();
    expect(backendConfigFromEnv({ MOUNTIE_SOURCE_WATCH: '0' }).sourceWatch).toBe(false);
    expect(backendConfigFromEnv({ MOUNTIE_SOURCE_WATCH: 'off' }).sourceWatch).toBe(false);
    expect(backendConfigFromEnv({ MOUNTIE_SOURCE_WATCH: '1' }).sourceWatch).toBe(true);
    expect(backendConfigFromEnv({ MOUNTIE_SOURCE_WATCH: 'on' }).sourceWatch).toBe(true);
    expect(backendConfigFromEnv({ MOUNTIE_SOURCE_WATCH: 'maybe' }).sourceWatch).toBeUndefined();
  });
});
