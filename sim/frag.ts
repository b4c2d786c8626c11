/**
 * Fragmentation over time: samples of every allocator's own figures on a
 * logical clock (trace operations, or script lines), so allocators can be
 * compared side by side on one workload. The sampler only reads what each
 * allocator already shows (a userspace allocator's census, the buddy's free
 * lists, the slab caches' object counts); nothing here is on a hot path.
 *
 * Every sample splits the allocator's memory the same way:
 *
 *   heap     = granted + free + overhead
 *   internal = granted - requested     bytes handed out beyond what was asked
 *   external  0..1, the share of free bytes that cannot serve a request:
 *             userspace allocators  1 - largest free block / free bytes
 *             buddy                 the unusable free space index of `order`
 *             a slab cache          free slots / all slots (free slots pin
 *                                   their slab pages; only that size uses them)
 *   overhead  metadata: headers, roots, bitmaps, padding; the buddy's is its
 *             struct page array; a slab cache's, what its pages hold beyond slots
 *   utilisation = requested / heap
 */
import type { HeapCensus } from "../userspace/alloc/allocator.ts";

/** One point of a series. Bytes unless named otherwise. */
export interface FragSample {
  /** The logical clock: operations (a trace) or lines (a script) done so far. */
  t: number;
  heapBytes: number;
  requestedBytes: number;
  grantedBytes: number;
  freeBytes: number;
  largestFreeBytes: number;
  overheadBytes: number;
  /** granted - requested. */
  internalBytes: number;
  /** 0..1 (see the file comment for each allocator's definition). */
  external: number;
  /** requested / heap, 0..1 (0 for an empty heap). */
  utilisation: number;
}

/** What kind of allocator a series is about. */
export type FragKind = "user" | "buddy" | "slab";

/** The samples of one allocator on one workload. */
export interface FragSeries {
  /** The allocator's name: a registered userspace allocator, "buddy", or a slab cache's name. */
  name: string;
  kind: FragKind;
  /** The workload (a trace's or script's name). */
  workload: string;
  samples: FragSample[];
}

/** The raw figures of one sample, before the derived measures. */
export interface FragFigures {
  heapBytes: number;
  requestedBytes: number;
  census: HeapCensus;
  /** Only when the allocator defines its own (buddy, slab); else 1 - largest / free. */
  external?: number;
}

/** Builds a sample from raw figures: overhead, internal, external and utilisation derived. */
export function fragSample(t: number, f: FragFigures): FragSample {
  const { grantedBytes, freeBytes, largestFreeBytes } = f.census;
  return {
    t,
    heapBytes: f.heapBytes,
    requestedBytes: f.requestedBytes,
    grantedBytes,
    freeBytes,
    largestFreeBytes,
    overheadBytes: f.heapBytes - grantedBytes - freeBytes,
    internalBytes: grantedBytes - f.requestedBytes,
    external: f.external ?? largestFreeExternal(freeBytes, largestFreeBytes),
    utilisation: f.heapBytes === 0 ? 0 : f.requestedBytes / f.heapBytes,
  };
}

/** 1 - largest / free: the share of free bytes outside the largest free block (0 when nothing is free). */
export function largestFreeExternal(freeBytes: number, largestFreeBytes: number): number {
  return freeBytes === 0 ? 0 : 1 - largestFreeBytes / freeBytes;
}

/** The measures a chart or table shows, with their labels. */
export const FRAG_MEASURES = [
  { key: "internalBytes", label: "internal (B)" },
  { key: "external", label: "external" },
  { key: "overheadBytes", label: "overhead (B)" },
  { key: "utilisation", label: "utilisation" },
] as const;

/** One of the measures. */
export type FragMeasure = (typeof FRAG_MEASURES)[number]["key"];
