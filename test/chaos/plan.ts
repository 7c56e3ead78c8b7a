/**
 * The chaos steps, drawn from the seeded PRNG alone (never from the world's state), so that one
 * seed always gives the same sequence of steps; what a step then finds (which daemon is alive)
 * depends on timing, and the step log says what it found.
 */
import type { Rng } from './prng.js';

export type Via = 'real' | 'link' | 'copy';
export type Op = { readonly op: 'mount'; readonly ws: string; readonly via: Via } | { readonly op: 'stop'; readonly ws: string; readonly via: Via; readonly grace: number } | { readonly op: 'stopAll'; readonly via: Via; readonly grace: number } | { readonly op: 'status'; readonly via: Via };
export type PidfileHow = 'delete' | 'garbage' | 'truncated' | 'pid-minus-1' | 'pid-0' | 'pid-huge' | 'from-other-ws' | 'from-home2' | 'names-decoy';

export type Step =
  | { readonly kind: 'mountBg'; readonly ws: string; readonly via: Via }
  | { readonly kind: 'mountFg'; readonly ws: string; readonly via: Via }
  | { readonly kind: 'stop'; readonly ws: string; readonly via: Via; readonly grace: number }
  | { readonly kind: 'stopAll'; readonly via: Via; readonly grace: number }
  | { readonly kind: 'concurrent'; readonly ops: readonly Op[] }
  | { readonly kind: 'killDaemon'; readonly ws: string; readonly pick: number }
  | { readonly kind: 'killLauncher'; readonly ws: string; readonly via: Via; readonly delayMs: number }
  | { readonly kind: 'sigstop'; readonly ws: string; readonly pick: number }
  | { readonly kind: 'sigcont' }
  | { readonly kind: 'pidfile'; readonly ws: string; readonly how: PidfileHow; readonly other: string; readonly pick: number }
  | { readonly kind: 'fgInterrupt'; readonly pick: number }
  | { readonly kind: 'write'; readonly ws: string }
  | { readonly kind: 'status'; readonly ws: string; readonly via: Via }
  | { readonly kind: 'stopSquatted'; readonly via: Via }
  | { readonly kind: 'abortConn'; readonly ws: string };

export type Kind = Step['kind'];

/** Weights of the CI profile; CHAOS_SKIP=kind,kind sets some to 0, CHAOS_WEIGHTS=kind:n,… others (to isolate a finding). */
export const WEIGHTS: Readonly<Record<Kind, number>> = {
  mountBg: 16,
  mountFg: 5,
  stop: 12,
  stopAll: 4,
  concurrent: 8,
  killDaemon: 6,
  killLauncher: 6,
  sigstop: 3,
  sigcont: 2,
  pidfile: 8,
  fgInterrupt: 3,
  write: 5,
  status: 3,
  stopSquatted: 2,
  // Last and 0 in the CI profile, so every seed keeps its sequence; CHAOS_WEIGHTS=abortConn:N turns it on.
  abortConn: 0,
};

/** Pidfile damages turned off by CHAOS_SKIP=pidfile.<how>: drawn as usual, done as 'delete'. */
const skippedHows = new Set((process.env.CHAOS_SKIP ?? '').split(',').flatMap((k) => (k.startsWith('pidfile.') ? [k.slice('pidfile.'.length)] : [])));

export function weightsFrom(skip: string | undefined): Record<Kind, number> {
  const w = { ...WEIGHTS };
  for (const k of (skip ?? '').split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('pidfile.'))) {
    if (!(k in w)) throw new Error(`CHAOS_SKIP: unknown step kind ${k} (kinds: ${Object.keys(w).join(', ')})`);
    w[k as Kind] = 0;
  }
  for (const kv of (process.env.CHAOS_WEIGHTS ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split(':');
    if (k === undefined || !(k in w) || !(Number(v) >= 0)) throw new Error(`CHAOS_WEIGHTS: want kind:weight,… (kinds: ${Object.keys(w).join(', ')}), got ${kv}`);
    w[k as Kind] = Number(v);
  }
  return w;
}

const HOWS: readonly PidfileHow[] = ['delete', 'garbage', 'truncated', 'pid-minus-1', 'pid-0', 'pid-huge', 'from-other-ws', 'from-home2', 'names-decoy'];

/** CHAOS_VIA=real,copy keeps the draw (so a seed stays the same sequence) but maps the others to real. */
const allowedVia = new Set((process.env.CHAOS_VIA ?? 'real,link,copy').split(','));

function via(rng: Rng): Via {
  const x = rng.next();
  const v: Via = x < 0.7 ? 'real' : x < 0.85 ? 'link' : 'copy';
  return allowedVia.has(v) ? v : 'real';
}

const grace = (rng: Rng): number => rng.int(300, 1000);

function op(rng: Rng, names: readonly string[], ws: string): Op {
  const k = rng.weighted({ mount: 5, stop: 4, stopAll: 1, status: 1 });
  if (k === 'mount') return { op: 'mount', ws, via: via(rng) };
  if (k === 'stop') return { op: 'stop', ws: rng.chance(0.7) ? ws : rng.pick(names), via: via(rng), grace: grace(rng) };
  if (k === 'stopAll') return { op: 'stopAll', via: via(rng), grace: grace(rng) };
  return { op: 'status', via: via(rng) };
}

export function drawStep(rng: Rng, names: readonly string[], weights: Readonly<Record<Kind, number>>): Step {
  const kind = rng.weighted(weights);
  const ws = rng.pick(names);
  switch (kind) {
    case 'mountBg':
    case 'mountFg':
      return { kind, ws, via: via(rng) };
    case 'stop':
      return { kind, ws, via: via(rng), grace: grace(rng) };
    case 'stopAll':
      return { kind, via: via(rng), grace: grace(rng) };
    case 'concurrent': {
      const n = rng.int(2, 3);
      return { kind, ops: Array.from({ length: n }, () => op(rng, names, ws)) };
    }
    case 'killDaemon':
    case 'sigstop':
      return { kind, ws, pick: rng.int(0, 7) };
    case 'killLauncher':
      return { kind, ws, via: via(rng), delayMs: rng.int(0, 1200) };
    case 'sigcont':
      return { kind };
    case 'pidfile': {
      const how = rng.pick(HOWS);
      return { kind, ws, how: skippedHows.has(how) ? 'delete' : how, other: rng.pick(names.filter((n) => n !== ws)), pick: rng.int(0, 7) };
    }
    case 'fgInterrupt':
      return { kind, pick: rng.int(0, 7) };
    case 'write':
      return { kind, ws };
    case 'status':
      return { kind, ws, via: via(rng) };
    case 'stopSquatted':
      return { kind, via: via(rng) };
    case 'abortConn':
      return { kind, ws };
  }
}

export function describeStep(s: Step): string {
  const { kind, ...rest } = s;
  return `${kind} ${JSON.stringify(rest)}`;
}
