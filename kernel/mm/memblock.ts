/**
 * Boot-time memory layout (Linux memblock, in miniature): which frames are
 * reserved before the buddy allocator exists, and where mem_map goes.
 *
 *   pfn 0                      reserved (like the real-mode IVT/BIOS page)
 *   pfn 1 .. KERNEL_IMAGE      the kernel image
 *   next memmapFrames(n)       mem_map, the struct page array
 *   the rest                   handed to the buddy allocator
 */
import { memmapFrames } from "./memmap.ts";

/** Frames of the emulated kernel image (text, data, bss): 64 KiB. */
export const KERNEL_IMAGE_PAGES = 16;

/** Where boot puts things, in frames. */
export interface BootLayout {
  readonly nrPages: number;
  readonly kernelStart: number;
  readonly kernelPages: number;
  readonly memmapStart: number;
  readonly memmapPages: number;
  /** First frame given to the buddy allocator. */
  readonly firstFree: number;
}

/** The layout for a machine of `nrPages` frames. */
export function bootLayout(nrPages: number): BootLayout {
  const kernelStart = 1;
  const memmapStart = kernelStart + KERNEL_IMAGE_PAGES;
  const memmapPages = memmapFrames(nrPages);
  return {
    nrPages,
    kernelStart,
    kernelPages: KERNEL_IMAGE_PAGES,
    memmapStart,
    memmapPages,
    firstFree: memmapStart + memmapPages,
  };
}
