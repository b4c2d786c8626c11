/**
 * Large blocks: requests an allocator does not serve from its own structures
 * (beyond a pool's block size, a buddy's top order, a Hoard size class) each
 * get their own anonymous mapping, as glibc does above its mmap threshold.
 * The mappings are linked in a list whose head is the root's R_LARGE field,
 * so a checker can find every one.
 *
 *   mapping + 0  +---------------+---------------+
 *                | magic (u32)   | 0 (u32)       |
 *            8   | mapping length (u64)          |
 *           16   | next mapping (u64)            |
 *           24   | prev mapping (u64)            |
 *           32   +-------------------------------+ <- payload (16-aligned: mappings are page aligned)
 *                | payload ...                   |
 */
import { HeapCorruption } from "./allocator.ts";
import { alignUp, type HeapCore, hex, load64, PAGE_SIZE, R_LARGE, R_MMAPPED, store64 } from "./heap.ts";

const LARGE_MAGIC = 0x4547524c; // "LRGE"
const L_MAGIC = 0;
const L_LEN = 8;
const L_NEXT = 16;
const L_PREV = 24;
/** Header bytes before a large payload. */
export const LARGE_HDR = 32;

/** The mapping holding large payload `p`. */
function mappingOf(p: number): number {
  return p - LARGE_HDR;
}

/** A large block of at least `size` bytes in its own mapping; 0 when mmap fails. */
export function largeAlloc(h: HeapCore, size: number): number {
  const len = alignUp(size + LARGE_HDR, PAGE_SIZE);
  const a = h.mmap(len);
  if (a === 0) return 0;
  const m = h.mem;
  const head = load64(m, h.root + R_LARGE);
  m.write32(a + L_MAGIC, LARGE_MAGIC);
  store64(m, a + L_LEN, len);
  store64(m, a + L_NEXT, head);
  store64(m, a + L_PREV, 0);
  if (head !== 0) store64(m, head + L_PREV, a);
  store64(m, h.root + R_LARGE, a);
  return a + LARGE_HDR;
}

/** Payload bytes the large block `p` can hold. Aborts the process when `p` is not a large block. */
export function largeUsable(h: HeapCore, p: number): number {
  validate(h, p);
  return load64(h.mem, mappingOf(p) + L_LEN) - LARGE_HDR;
}

/** Unlinks and unmaps the large block `p`. Aborts the process when `p` is not a large block. */
export function largeFree(h: HeapCore, p: number): void {
  validate(h, p);
  const m = h.mem;
  const a = mappingOf(p);
  const next = load64(m, a + L_NEXT);
  const prev = load64(m, a + L_PREV);
  if (prev === 0) store64(m, h.root + R_LARGE, next);
  else store64(m, prev + L_NEXT, next);
  if (next !== 0) store64(m, next + L_PREV, prev);
  m.write32(a + L_MAGIC, 0);
  h.munmap(a, load64(m, a + L_LEN));
}

/**
 * Resizes large block `p` (holding `oldSize` asked bytes) to `newSize`: in
 * place when the mapping holds it, else a new mapping and a copy. Returns 0
 * when mmap fails (p still valid).
 */
export function largeRealloc(h: HeapCore, p: number, oldSize: number, newSize: number): number {
  if (newSize <= largeUsable(h, p)) return p;
  const q = largeAlloc(h, newSize);
  if (q === 0) return 0;
  h.mem.copy(q, p, Math.min(oldSize, newSize));
  largeFree(h, p);
  return q;
}

function validate(h: HeapCore, p: number): void {
  // A large payload sits LARGE_HDR bytes into a page; reading its magic is then safe.
  if (p % PAGE_SIZE !== LARGE_HDR || h.mem.read32(mappingOf(p) + L_MAGIC) !== LARGE_MAGIC) {
    h.proc.abort(`${h.name}: free(): invalid pointer`);
  }
}

/** Walks the large list; returns its mapped bytes and payload capacity. Throws HeapCorruption (LARGE-*). */
export function largeCheck(h: HeapCore): { bytes: number; capacity: number; count: number } {
  const m = h.mem;
  let bytes = 0;
  let count = 0;
  let prev = 0;
  const limit = load64(m, h.root + R_MMAPPED) / PAGE_SIZE + 1; // at most one mapping per mmapped page
  for (let a = load64(m, h.root + R_LARGE); a !== 0; a = load64(m, a + L_NEXT)) {
    if (a % PAGE_SIZE !== 0 || m.read32(a + L_MAGIC) !== LARGE_MAGIC)
      throw new HeapCorruption("LARGE-1", `${hex(a)} on the large list is not a large mapping`);
    if (load64(m, a + L_PREV) !== prev) throw new HeapCorruption("LARGE-2", `${hex(a)} has a bad prev link`);
    const len = load64(m, a + L_LEN);
    if (len % PAGE_SIZE !== 0 || len <= LARGE_HDR) throw new HeapCorruption("LARGE-3", `${hex(a)} has a bad length ${len}`);
    if (++count > limit) throw new HeapCorruption("LARGE-4", "the large list loops");
    bytes += len;
    prev = a;
  }
  return { bytes, capacity: bytes - count * LARGE_HDR, count };
}
