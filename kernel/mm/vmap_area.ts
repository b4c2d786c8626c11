/**
 * struct vmap_area: one area of the vmalloc range, a slab object in RAM (its
 * fields merge Linux's vmap_area and vm_struct), read and written only
 * through the accessors below. The vmalloc layer's VmaTree indexes the
 * objects by [va_start, va_end); every other field lives here only.
 *
 *   struct vmap_area (32 bytes, little-endian words)
 *   0         8         16        20        24        28       32
 *   +---------+---------+---------+---------+---------+--------+
 *   | va_start| va_end  |nr_pages | vm_flags| caller  | magic  |
 *   | lo | hi | lo | hi |   u32   |   u32   |   u32   |  u32   |
 *   +---------+---------+---------+---------+---------+--------+
 *   va_end is exclusive and includes the guard page (so vmallocinfo's size
 *   does). nr_pages counts the pages vmalloc allocated for the area (0 for
 *   vmap). caller is an index into the vmalloc layer's table of caller
 *   names. magic is VMAP_AREA_MAGIC while the object is live.
 */
import { ObjectFields } from "./kmem.ts";

export const VMAP_AREA_SIZE = 32;
/** Marks a live vmap_area object: "vmap". */
export const VMAP_AREA_MAGIC = 0x766d6170;

const O_START = 0;
const O_END = 8;
const O_NR_PAGES = 16;
const O_FLAGS = 20;
const O_CALLER = 24;
const O_MAGIC = 28;

// vm_struct flags, with Linux's values (include/linux/vmalloc.h).
export const VM_IOREMAP = 0x1;
export const VM_ALLOC = 0x2;
export const VM_MAP = 0x4;
export const VM_USERMAP = 0x8;
export const VM_NO_GUARD = 0x40;

/** Field access to vmap_area objects by kva (direct-map addresses). */
export class VmapAreaFields extends ObjectFields {
  /** Fills a fresh object. */
  init(va: number, start: number, end: number, nrPages: number, flags: number, caller: number): void {
    this.set64(va, O_START, start);
    this.set64(va, O_END, end);
    this.u32[this.w(va, O_NR_PAGES)] = nrPages;
    this.u32[this.w(va, O_FLAGS)] = flags;
    this.u32[this.w(va, O_CALLER)] = caller;
    this.u32[this.w(va, O_MAGIC)] = VMAP_AREA_MAGIC;
  }

  /** Clears the magic before the object goes back to its cache. */
  kill(va: number): void {
    this.u32[this.w(va, O_MAGIC)] = 0;
  }

  start(va: number): number {
    return this.get64(va, O_START);
  }
  end(va: number): number {
    return this.get64(va, O_END);
  }
  nrPages(va: number): number {
    return this.u32[this.w(va, O_NR_PAGES)] as number;
  }
  setNrPages(va: number, n: number): void {
    this.u32[this.w(va, O_NR_PAGES)] = n;
  }
  flags(va: number): number {
    return this.u32[this.w(va, O_FLAGS)] as number;
  }
  caller(va: number): number {
    return this.u32[this.w(va, O_CALLER)] as number;
  }
  magic(va: number): number {
    return this.u32[this.w(va, O_MAGIC)] as number;
  }
}
