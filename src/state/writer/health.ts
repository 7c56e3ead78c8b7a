/**
 * Health and retry bookkeeping of StateWriter: consecutive failures drive the backoff delay
 * and the health it reports; one success resets both.
 */
import { errnoCode } from '../../errors.js';
import { addListener, emit, type Listener } from './listeners.js';
import type { WriterHealth } from '../state-schema.js';

export class WriterHealthTracker {
  /** Consecutive failures since the last success: the backoff exponent. */
  private attempts = 0;
  private failedTotal = 0;
  private current: WriterHealth = { ok: true };
  private readonly listeners = new Set<Listener<WriterHealth>>();

  constructor(
    private readonly backoffMs: { readonly initial: number; readonly max: number },
    private readonly now: () => number,
  ) {}

  health(): WriterHealth {
    return this.current;
  }

  failedAttempts(): number {
    return this.failedTotal;
  }

  onChange(listener: Listener<WriterHealth>): () => void {
    return addListener(this.listeners, listener);
  }

  clearListeners(): void {
    this.listeners.clear();
  }

  succeeded(): void {
    this.attempts = 0;
    if (!this.current.ok) this.set({ ...this.current, ok: true });
  }

  /** Record a failed attempt; returns the delay before the next one. */
  failed(err: unknown): number {
    this.attempts++;
    this.failedTotal++;
    const code = errnoCode(err) ?? (err instanceof Error ? err.name : 'EUNKNOWN');
    this.set({ ok: false, lastError: { code, at: new Date(this.now()).toISOString(), attempts: this.attempts } });
    return Math.min(this.backoffMs.max, this.backoffMs.initial * 2 ** Math.min(this.attempts - 1, 30));
  }

  /** The last error as error data, so a deadline says why writes were not landing. */
  lastErrorData(): Record<string, unknown> {
    return this.current.lastError ? { lastError: this.current.lastError } : {};
  }

  private set(h: WriterHealth): void {
    this.current = h;
    emit(this.listeners, h);
  }
}
