/** Listener sets whose members cannot hurt the emitter. */
export type Listener<A> = (arg: A) => void;

export function addListener<A>(set: Set<Listener<A>>, fn: Listener<A>): () => void {
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

export function emit<A>(set: ReadonlySet<Listener<A>>, arg: A): void {
  for (const fn of [...set]) {
    try {
      fn(arg);
    } catch {
      // A listener's bug must not stop state writing nor crash the daemon from inside the writer.
    }
  }
}
