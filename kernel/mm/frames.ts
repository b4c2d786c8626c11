/**
 * The page-frame layer's two contracts (the `frames` entry of
 * `Machine.boot({ layers })`, kernel/LAYERS.md).
 *
 *   FrameAllocator  what a lab writes: hands out and takes back runs of free
 *                   frames (xv6 kalloc/kfree, Pintos palloc). It knows nothing
 *                   of struct page; it may keep its own metadata in the free
 *                   frames or in frames it reserves at boot.
 *   PageAllocator   what the rest of the kernel calls (alloc_pages,
 *                   __free_pages, get_page): pages come back prepared
 *                   (refcount 1, zeroed on __GFP_ZERO), frees drop a reference.
 *
 * Linux's buddy allocator (page_alloc.ts) is a PageAllocator by itself: it
 * keeps its free lists in struct page and prepares pages on its fast path.
 * A lab's FrameAllocator is put behind FramePages (frame_pages.ts), which
 * prepares pages, checks every answer the layer gives and names the layer
 * when one is wrong.
 *
 * Words: frame = one 4 KiB physical page, named by its pfn; a run of order n
 * is 2^n frames starting at a pfn aligned to 2^n.
 */
import type { KernelEvents } from "../events.ts";
import type { Shrinker } from "./page_alloc.ts";
import type { PhysMem } from "./physmem.ts";

/** A range of frames [start, end) that boot leaves free. */
export interface FreeRange {
  readonly start: number;
  readonly end: number;
}

/** What a frame allocator is handed at boot. */
export interface FramesBoot {
  /** Physical RAM: `ram.read32(pfn * 4096 + off)`, `ram.write32(...)`, `ram.u32` for bulk work. */
  readonly ram: PhysMem;
  /** The frames memblock leaves free, in pfn order; everything else is the kernel's. */
  readonly ranges: readonly FreeRange[];
  /** The largest order the machine was booted with (`maxOrder`, default 10); an allocator may support less. */
  readonly maxOrder: number;
  /**
   * Takes frames of a free range for the allocator's own metadata (a bitmap,
   * say): they are marked reserved and count in neither MemTotal nor MemFree.
   * Panics when the frames are not inside a free range.
   */
  reserve(pfn: number, count: number): void;
}

/** A page-frame allocator a lab may write. Every method is called by the kernel only. */
export interface FrameAllocator {
  /** Names the layer in reports ("xv6", "bitmap"). */
  readonly name: string;
  /** The largest order allocPages accepts (0: single frames only). */
  readonly maxOrder: number;
  /**
   * 2^order free frames, their first pfn aligned to 2^order, or -1 when there
   * are none. `gfp` is the request's GFP mask (an allocator may ignore it).
   * The kernel prepares the frames' struct page and zeroes them on __GFP_ZERO.
   */
  allocPages(order: number, gfp: number): number;
  /** Takes back a run allocPages gave out, with the same order. Its bytes are the allocator's again. */
  freePages(pfn: number, order: number): void;
  /** Frames free now (MemFree). */
  nrFreePages(): number;
  /** Frames this allocator hands out, free or not (MemTotal). */
  nrManagedPages(): number;
  /** Recounts the allocator's own state; throws (an InvariantViolation, say) when it is broken. */
  check(): void;
}

/** A frames layer: made once at boot, handed the free ranges. */
export type FramesLayer = (boot: FramesBoot) => FrameAllocator;

/** The kernel's page allocator: what slab, page tables, vmalloc and the fault handler call. */
export interface PageAllocator {
  readonly maxOrder: number;
  /** Reclaimers run when an allocation finds nothing free. */
  readonly shrinkers: Shrinker[];
  /** Name of the task on whose behalf the kernel allocates (for failure reports). */
  currentComm: string;
  /** The machine's event bus (mm_page_alloc, mm_page_free), handed over by kernel/main.ts. */
  readonly ev: KernelEvents;
  /** alloc_pages: a block of 2^order pages with refcount 1, or -1. */
  allocPages(order: number, gfp?: number): number;
  /** __free_pages: drops one reference; frees the block when it was the last. */
  freePages(pfn: number, order: number): void;
  /** get_page: one more reference to an allocated block's head. */
  getPage(pfn: number): void;
  nrFreePages(): number;
  /** Pages held on per-CPU lists (0 without them). */
  nrPcpPages(): number;
  nrManagedPages(): number;
  /** Per-CPU lists back to the allocator (nothing without them). */
  drainPcp(): void;
}
