/** The shapes a StateWriter is configured with and reports through, plus its default io. */
import { cleanTempFiles, writeFileDurable, type DurableWriteOptions } from '../atomic.js';
import { readStateHeader, type FenceHeader } from '../state-schema.js';

export interface WriterIo {
  write(path: string, data: string, opts: DurableWriteOptions): Promise<void>;
  /** Header of the document on disk; undefined when missing or invalid. */
  readHeader(path: string): Promise<FenceHeader | undefined>;
  cleanTemps(dir: string, base: string): Promise<unknown>;
}

export interface WriterTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StateWriterOptions<T extends object> {
  readonly path: string;
  readonly epoch: number;
  /** The full state; written right away (this also checks fencing at start). */
  readonly initial: T;
  readonly schema?: string;
  readonly instanceId?: string;
  readonly mode?: number;
  /** Retry delays: initialMs doubling up to maxMs. Defaults 50 ms and 5 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Default bound of flush() and close(). Default 10 s. */
  readonly flushTimeoutMs?: number;
  readonly io?: Partial<WriterIo>;
  readonly timers?: WriterTimers;
  readonly now?: () => number;
}

export interface FenceInfo {
  readonly reason: string;
  readonly at: string;
  /** The document on disk that fenced us, when it was one. */
  readonly by?: FenceHeader;
}

export interface WrittenInfo {
  readonly seq: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface WriterStats {
  /** Sequence of the latest update (the initial state is 1). */
  readonly seq: number;
  /** Sequence of the latest update known durable. */
  readonly durableSeq: number;
  readonly writes: number;
  readonly failedAttempts: number;
}

export const defaultIo: WriterIo = {
  write: writeFileDurable,
  readHeader: readStateHeader,
  cleanTemps: cleanTempFiles,
};

export const defaultTimers: WriterTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
