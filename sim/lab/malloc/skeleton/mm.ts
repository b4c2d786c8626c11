/**
 * mm.ts: your malloc. Read statement.md first.
 *
 * What you start from is CS:APP's naive allocator: a block is a 16-byte
 * header holding its size, then the payload; malloc always grows the heap
 * (mem_sbrk), free does nothing, realloc always moves. It is correct but
 * wastes nearly all the heap. Replace it with free lists, coalescing and
 * a realloc that grows in place.
 */
import type { MemLib } from "memsim";

const ALIGNMENT = 16;
const HEADER = 16;

let lib: MemLib;

function align(size: number): number {
  return Math.ceil(size / ALIGNMENT) * ALIGNMENT;
}

/** Called once before each trace: set up an empty heap. Returns 0, or -1 on an error. */
export function mm_init(m: MemLib): number {
  lib = m;
  return 0;
}

/** A 16-byte-aligned payload of at least `size` bytes inside the heap, or 0 when there is no memory. */
export function mm_malloc(size: number): number {
  const p = lib.mem_sbrk(align(size + HEADER));
  if (p === -1) return 0;
  lib.mem.write32(p, size);
  return p + HEADER;
}

/** Frees a payload mm_malloc or mm_realloc returned. */
// biome-ignore lint/correctness/noUnusedFunctionParameters: the naive allocator never reuses memory
export function mm_free(ptr: number): void {}

/** Resizes the payload at ptr to `size` bytes, keeping the first min(old, size) bytes. */
export function mm_realloc(ptr: number, size: number): number {
  if (ptr === 0) return mm_malloc(size);
  if (size === 0) {
    mm_free(ptr);
    return 0;
  }
  const q = mm_malloc(size);
  if (q === 0) return 0;
  const old = lib.mem.read32(ptr - HEADER);
  lib.mem.copy(q, ptr, Math.min(old, size));
  mm_free(ptr);
  return q;
}
