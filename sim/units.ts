/**
 * Sizes as people write them: "64M", "4G", "16K", "4096", "1.5M" (K/M/G/T are
 * binary, an optional "iB"/"B" suffix is accepted).
 */

const UNITS: Readonly<Record<string, number>> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses a size; throws a RangeError naming the text when it is not one. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(text);
  if (!m) throw new RangeError(`not a size: '${text}' (use a number with an optional K, M, G or T suffix)`);
  const value = Number(m[1]) * (UNITS[(m[2] as string).toUpperCase()] as number);
  if (!Number.isSafeInteger(value)) throw new RangeError(`not a whole number of bytes: '${text}'`);
  return value;
}

/** Formats bytes with the largest binary unit that divides them ("64M", "4K", "100"). */
export function formatSize(bytes: number): string {
  for (const u of ["T", "G", "M", "K"] as const) {
    const f = UNITS[u] as number;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${u}`;
  }
  return String(bytes);
}
