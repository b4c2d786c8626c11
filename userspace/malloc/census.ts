/**
 * The heap census of the default malloc, for the fragmentation measures
 * (sim/frag.ts): one walk from the first chunk to the top, like the
 * checker's but without its checks. A debug view: it costs the whole heap
 * and is never on the path of malloc or free.
 *
 *   granted  in-use chunks' usable bytes (size - SIZE_SZ; an mmapped chunk
 *            size - CHUNK_HDR_SZ, as malloc_usable_size says)
 *   free     free chunks, the top chunk, what is left of the small runs, and
 *            the chunks in the threads' tcaches (in use to the arena, free
 *            to the program)
 *   overhead the rest: the arena header, chunk headers, fence chunks, the
 *            chunks holding the threads' caches (tcache_perthread_struct)
 */
import type { HeapCensus } from "../alloc/allocator.ts";
import type { Arena } from "./arena.ts";
import { FIRST_CHUNK } from "./arena.ts";
import { CHUNK_FREE, CHUNK_HDR_SZ, head, NON_MAIN_ARENA, SIZE_SZ, sizeHi, sizeOf } from "./chunk.ts";

/**
 * Counts granted and free bytes of arena `a`, whose tcached chunks are
 * `cached` (chunk VA -> size) and whose cache structs are the chunks in
 * `structs`. All zero before the first allocation.
 */
export function mallocCensus(a: Arena, cached: ReadonlyMap<number, number>, structs: ReadonlySet<number>): HeapCensus {
  const r = { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
  if (a.base === 0) return r;
  const runs = new Set<number>();
  for (let k = 0; k < 16; k++) if (a.run(k) !== 0) runs.add(a.base + a.run(k));
  const mem = a.mem;
  for (let c = a.base + FIRST_CHUNK; c < a.top; ) {
    const hd = head(mem, c);
    const size = sizeOf(hd);
    if (hd & CHUNK_FREE || runs.has(c) || cached.has(c)) noteFree(r, size);
    else if ((hd & NON_MAIN_ARENA) === 0 && !structs.has(c)) r.grantedBytes += size - SIZE_SZ;
    c += size;
  }
  noteFree(r, sizeOf(a.topHead()));
  for (const c of a.mmapped) r.grantedBytes += sizeOf(head(mem, c)) + sizeHi(mem, c) * 2 ** 32 - CHUNK_HDR_SZ;
  return r;
}

function noteFree(r: HeapCensus, size: number): void {
  r.freeBytes += size;
  if (size > r.largestFreeBytes) r.largestFreeBytes = size;
}
