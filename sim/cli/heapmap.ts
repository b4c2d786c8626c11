/**
 * The heap chunk map: one line per malloc chunk (address, state, size),
 * free chunks marked, and runs of identical lines collapsed into one
 * "... N more" line, like a hexdump's "*". The chunks come from whatever
 * walker the malloc layer offers; this file only draws them.
 */

/** One chunk as a walker reports it. */
export interface ChunkInfo {
  /** The chunk's address (its header), a user virtual address. */
  readonly addr: number;
  /** Chunk size in bytes, header included. */
  readonly size: number;
  readonly state: "used" | "free" | "top" | "mmapped";
  /** A short note ("fastbin", "unsorted", "released"); "" when none. */
  readonly note: string;
}

function line(c: ChunkInfo): string {
  const mark = c.state === "free" ? "*" : " ";
  return `${mark} 0x${c.addr.toString(16).padStart(12, "0")} ${c.state.padEnd(7)} ${String(c.size).padStart(9)}${c.note ? `  ${c.note}` : ""}`;
}

/** Renders the map; `*` marks free chunks; runs of chunks with the same state, size and note collapse. */
export function renderChunkMap(chunks: readonly ChunkInfo[]): string {
  const sum = (s: ChunkInfo["state"]) => chunks.filter((c) => c.state === s);
  const used = sum("used");
  const free = sum("free");
  const bytes = (xs: readonly ChunkInfo[]) => xs.reduce((n, c) => n + c.size, 0);
  let out = `${used.length} chunks in use (${bytes(used)} B), ${free.length} free (${bytes(free)} B)`;
  const top = sum("top")[0];
  if (top) out += `, top ${top.size} B`;
  const mm = sum("mmapped");
  if (mm.length) out += `, ${mm.length} mmapped (${bytes(mm)} B)`;
  out += "\n  address        state        size\n";
  for (let i = 0; i < chunks.length; ) {
    const c = chunks[i] as ChunkInfo;
    let j = i + 1;
    while (j < chunks.length && same(chunks[j] as ChunkInfo, c)) j++;
    out += `${line(c)}\n`;
    if (j - i > 2) out += `  ... ${j - i - 1} more like it, to 0x${((chunks[j - 1] as ChunkInfo).addr + c.size).toString(16)}\n`;
    else if (j - i === 2) out += `${line(chunks[i + 1] as ChunkInfo)}\n`;
    i = j;
  }
  return out;
}

function same(a: ChunkInfo, b: ChunkInfo): boolean {
  return a.size === b.size && a.state === b.state && a.note === b.note;
}
