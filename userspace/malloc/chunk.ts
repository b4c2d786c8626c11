/**
 * The malloc chunk: glibc's malloc_chunk in its 64-bit layout (8-byte size
 * fields, 16-byte alignment), the unit every part of userspace/malloc works
 * in. This file holds the layout, the size arithmetic and the accessors; no
 * other file reads or writes a chunk word except through them.
 *
 *     chunk -> +-------------------------------------+
 *          +0  | prev_size                           |  size of the previous chunk, written only while
 *              |                                     |  that chunk is free (its footer); otherwise the
 *              |                                     |  last 8 bytes of the previous chunk's payload
 *          +8  | size (u32)          | F | A | M | P |  chunk size, a multiple of 16, and 4 flag bits
 *         +12  | size_hi (u32)                       |  mmapped chunks: size / 2^32; heap chunks: 0
 *     mem ->   +-------------------------------------+  16-byte aligned: what malloc returns
 *         +16  | fd (u32 heap offset)                |  free chunks: next chunk in the bin, 0 = none
 *         +20  | bk (u32 heap offset)                |  free chunks: previous chunk, 0 = this is the bin head
 *         +24  | released (u32)                      |  free chunks: 1 when the whole pages inside were
 *              |                                     |  given back with madvise(MADV_DONTNEED)
 *              | ...                                 |
 *     next ->  | prev_size = size (free chunks only) |  the next chunk's +0 is this chunk's footer
 *
 * Flags: P = PREV_INUSE (the previous chunk is in use), M = IS_MMAPPED (the
 * chunk is a mapping of its own), A = NON_MAIN_ARENA (not glibc's
 * meaning: it marks runs and fences, int_malloc.ts and sysmalloc.ts; a
 * chunk's arena is found from its address, arena_heap.ts), F = CHUNK_FREE (this chunk sits in a bin; memsim's addition,
 * the same fact as the next chunk's clear P bit, kept here so that free()
 * learns whether the next chunk is free from the one header it reads).
 *
 * An in-use chunk costs 8 bytes (the size word; prev_size lies in the
 * previous chunk's payload), so a request of n bytes takes
 * max(MINSIZE, align16(n + 8)) and malloc_usable_size is size - 8.
 * Words: chunk = header + payload; mem = the payload address; offsets in
 * fd/bk are relative to the heap base (arena.ts), so they fit 32 bits.
 */
import type { UserMemory } from "../env.ts";

/** Size of one size field (INTERNAL_SIZE_T). */
export const SIZE_SZ = 8;
/** Bytes from a chunk to its payload. */
export const CHUNK_HDR_SZ = 16;
/** Payload alignment. */
export const MALLOC_ALIGNMENT = 16;
export const MALLOC_ALIGN_MASK = MALLOC_ALIGNMENT - 1;
/** The smallest chunk: header, fd, bk and room for the next chunk's footer. */
export const MINSIZE = 32;

export const PREV_INUSE = 0x1;
export const IS_MMAPPED = 0x2;
export const NON_MAIN_ARENA = 0x4;
export const CHUNK_FREE = 0x8;
/** The flag bits of the size word. */
export const SIZE_BITS = 0xf;

export const OFF_PREV_SIZE = 0;
export const OFF_SIZE = 8;
export const OFF_SIZE_HI = 12;
export const OFF_FD = 16;
export const OFF_BK = 20;
export const OFF_RELEASED = 24;

/** The end of the user address space (2^47): no mapping reaches past it. */
export const USER_END = 2 ** 47;

/** The largest request malloc accepts (glibc: PTRDIFF_MAX minus MINSIZE; here the user half). */
export const MAX_REQUEST = 2 ** 47 - 2 * MINSIZE;

/**
 * request2size: the chunk size for a request of `n` bytes, n <= MAX_REQUEST.
 * Exact for any safe integer (bit operations only below 2^31).
 */
export function requestToSize(n: number): number {
  if (n < 0x7fff0000) {
    const s = (n + SIZE_SZ + MALLOC_ALIGN_MASK) & ~MALLOC_ALIGN_MASK;
    return Math.max(s, MINSIZE);
  }
  return Math.floor((n + SIZE_SZ + MALLOC_ALIGN_MASK) / MALLOC_ALIGNMENT) * MALLOC_ALIGNMENT;
}

/** The chunk size in a size word (flags masked off; heap chunks only). */
export function sizeOf(head: number): number {
  return (head & ~SIZE_BITS) >>> 0;
}

/** The size word (size | flags) of the chunk at `c`. */
export function head(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_SIZE) >>> 0;
}

/** Writes the size word (size | flags) of the chunk at `c`. */
export function setHead(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_SIZE, v);
}

/** The high word of an mmapped chunk's size (size / 2^32). */
export function sizeHi(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_SIZE_HI);
}

/** Writes the high word of an mmapped chunk's size. */
export function setSizeHi(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_SIZE_HI, v);
}

/** The full size of an mmapped chunk (it may pass 4 GiB). */
export function mmappedSize(mem: UserMemory, c: number, hd: number): number {
  return sizeOf(hd) + mem.read32(c + OFF_SIZE_HI) * 2 ** 32;
}

/** Writes an mmapped chunk's size words: low with flags, then the high word. */
export function setMmappedHead(mem: UserMemory, c: number, size: number, flags: number): void {
  mem.write32(c + OFF_SIZE, (size % 2 ** 32) | flags);
  mem.write32(c + OFF_SIZE_HI, Math.floor(size / 2 ** 32));
}

/** The footer of the chunk before `c` (valid only while that chunk is free). */
export function prevSize(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_PREV_SIZE) >>> 0;
}

/** Writes the footer in front of `c` (the size of the free chunk before it). */
export function setPrevSize(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_PREV_SIZE, v);
}

/** A free chunk's forward link (heap offset, 0 = none). */
export function fd(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_FD) >>> 0;
}

/** Writes a free chunk's forward link. */
export function setFd(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_FD, v);
}

/** A free chunk's backward link (heap offset, 0 = it heads its bin). */
export function bk(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_BK) >>> 0;
}

/** Writes a free chunk's backward link. */
export function setBk(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_BK, v);
}

/** 1 when a free chunk's inner pages were released with MADV_DONTNEED. */
export function released(mem: UserMemory, c: number): number {
  return mem.read32(c + OFF_RELEASED);
}

/** Records whether a free chunk's inner pages were released (1) or not (0). */
export function setReleased(mem: UserMemory, c: number, v: number): void {
  mem.write32(c + OFF_RELEASED, v);
}

/**
 * `v % 16 !== 0` for any number `v` (a pointer a program passed in: it may
 * be a fraction, negative, infinite or NaN), without a floating-point
 * remainder: user addresses lie above 2^31, where V8's optimised `%` is a
 * call into C (about 27 ns against 1 for the bit test). The low bits of an
 * integer double are exact under `&` (ToInt32 keeps them); the other two
 * tests catch what is not a finite integer.
 */
export function misaligned16(v: number): boolean {
  return (v & MALLOC_ALIGN_MASK) !== 0 || Math.floor(v) !== v || v - v !== 0;
}

/** The payload address of the chunk at `c`. */
export function chunkToMem(c: number): number {
  return c + CHUNK_HDR_SZ;
}

/** The chunk of the payload at `p`. */
export function memToChunk(p: number): number {
  return p - CHUNK_HDR_SZ;
}
