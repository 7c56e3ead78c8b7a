/** A word as a POSIX shell reads it: left bare when it is safe, else single-quoted. */
export function shQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted as needed. */
export function shJoin(words: readonly string[]): string {
  return words.map(shQuote).join(' ');
}
