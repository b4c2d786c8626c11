/**
 * mallinfo2 and malloc_trim (glibc's int_mallinfo and mtrim): both walk
 * the bins, so they cost the number of free chunks; neither is on the path
 * of malloc or free.
 */
import type { Arena } from "./arena.ts";
import { BIN_COUNT, OFF_N_MMAPS, OFF_SYSTEM_MEM } from "./arena.ts";
import { fd, head, sizeOf } from "./chunk.ts";
import { mmappedMem, releaseChunk, systrim } from "./sysmalloc.ts";

/** struct mallinfo2, with glibc's field meanings. */
export interface Mallinfo2 {
  /** Bytes obtained with brk (the heap, its arena header included). */
  arena: number;
  /** Free chunks, the top chunk included. */
  ordblks: number;
  /** Free fastbin chunks (this malloc has no fastbins: 0). */
  smblks: number;
  /** mmapped chunks alive. */
  hblks: number;
  /** Bytes in mmapped chunks. */
  hblkhd: number;
  /** Unused, always 0 (as in glibc). */
  usmblks: number;
  /** Bytes in fastbin chunks (0). */
  fsmblks: number;
  /** Bytes of the brk heap in use: arena - fordblks. */
  uordblks: number;
  /** Bytes of the brk heap free: the free chunks plus the top. */
  fordblks: number;
  /** The top chunk's size: what malloc_trim could give back at most. */
  keepcost: number;
}

/** Calls `visit(c, size)` for every chunk in every bin, following fd links. */
export function forEachBinnedChunk(a: Arena, visit: (c: number, size: number) => void): void {
  const mem = a.mem;
  for (let idx = 0; idx < BIN_COUNT; idx++) {
    if (!a.binNonEmpty(idx)) continue;
    let off = a.binHead(idx);
    while (off !== 0) {
      const c = a.base + off;
      visit(c, sizeOf(head(mem, c)));
      off = fd(mem, c);
    }
  }
}

/** int_mallinfo: the counters of the arena. All zero before the first allocation. */
export function mallinfo2(a: Arena): Mallinfo2 {
  if (a.base === 0) {
    return { arena: 0, ordblks: 0, smblks: 0, hblks: 0, hblkhd: 0, usmblks: 0, fsmblks: 0, uordblks: 0, fordblks: 0, keepcost: 0 };
  }
  const keepcost = sizeOf(a.topHead());
  let avail = keepcost;
  let nblocks = 1;
  forEachBinnedChunk(a, (_c, size) => {
    nblocks++;
    avail += size;
  });
  const arena = a.word(OFF_SYSTEM_MEM);
  return {
    arena,
    ordblks: nblocks,
    smblks: 0,
    hblks: a.word(OFF_N_MMAPS),
    hblkhd: mmappedMem(a),
    usmblks: 0,
    fsmblks: 0,
    uordblks: arena - avail,
    fordblks: avail,
    keepcost,
  };
}

const num = (v: number) => String(v).padStart(10);

/**
 * malloc_stats(3)'s text for `arenas` (the main one first): per arena the
 * bytes it has from the kernel and the bytes in use (mallinfo2's arena and
 * uordblks: chunks in a tcache count as in use, as in glibc), then the
 * totals with the mmapped chunks and their high-water marks.
 */
export function mallocStats(arenas: readonly Arena[]): string {
  let out = "";
  let system = 0;
  let inUse = 0;
  arenas.forEach((a, i) => {
    const m = mallinfo2(a);
    out += `Arena ${i}:\nsystem bytes     = ${num(m.arena)}\nin use bytes     = ${num(m.uordblks)}\n`;
    system += m.arena;
    inUse += m.uordblks;
  });
  const main = arenas[0] as Arena;
  const mm = main.base === 0 ? 0 : mmappedMem(main);
  out += `Total (incl. mmap):\nsystem bytes     = ${num(system + mm)}\nin use bytes     = ${num(inUse + mm)}\n`;
  out += `max mmap regions = ${num(main.maxMmaps)}\nmax mmap bytes   = ${num(main.maxMmappedMem)}\n`;
  return out;
}

/**
 * malloc_trim(pad): gives back the whole pages inside every free chunk
 * (MADV_DONTNEED) and the top beyond `pad` (negative sbrk). Returns 1 when
 * any memory went back to the kernel, else 0.
 */
export function mallocTrim(a: Arena, pad: number): number {
  if (a.base === 0) return 0;
  const chunks: number[] = [];
  forEachBinnedChunk(a, (c, size) => {
    chunks.push(c, size);
  });
  let result = 0;
  for (let i = 0; i < chunks.length; i += 2) if (releaseChunk(a, chunks[i]!, chunks[i + 1]!)) result = 1;
  if (systrim(a, pad)) result = 1;
  return result;
}
