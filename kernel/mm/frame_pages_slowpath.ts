/**
 * FramePages off its fast paths (frame_pages.ts): Linux's
 * __alloc_pages_slowpath and the checks page_alloc.c makes of a page on its
 * way out and back (check_new_pages, free_pages_prepare, bad_page).
 *
 * Holds: a bad order and fault injection (should_fail_alloc_page); what
 * follows when the layer had nothing: direct compaction for a costly order,
 * the shrinkers, the per-CPU drain and one more try, the OOM killer
 * (__alloc_pages_may_oom) and one more try; the check of a layer's answer
 * against the frames contract (a LayerFault naming the layer), and of its
 * counts; prep_new_page's zeroing and compound tails; compaction's
 * isolation of a free block (__isolate_free_page, split_page); and the free
 * of a page whose users' words are set (the releasers, else a bad page
 * state), with the tails cleared and poisoning.
 *
 * Module functions over the FramePages they are handed (FramePagesCore, so
 * this file imports nothing of frame_pages.ts), called only off the fast
 * paths: moving them out left allocPages and freePages, and their bytecode
 * (kernel/README.md "Fast paths and the JIT"), as they were.
 */
import type { KernelEvents } from "../events.ts";
import { EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE } from "../events_types.ts";
import { layerFault, panic } from "../panic.ts";
import type { FailPoint } from "./fault_inject.ts";
import type { CompactionHook, FrameAllocator, OomHook, Shrinker } from "./frames.ts";
import { __GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_NOFAIL, __GFP_NORETRY, __GFP_RETRY_MAYFAIL, __GFP_ZERO } from "./gfp.ts";
import { type MemMap, PG_alloc, PG_head, PG_reserved, PG_tail, STRUCT_PAGE_WORDS as W } from "./memmap.ts";
import type { PhysMem } from "./physmem.ts";

/** Byte written over freed pages with page poisoning on (Linux PAGE_POISON). */
export const PAGE_POISON = 0xaa;

/** What the slow paths read and call of FramePages (frame_pages.ts implements it). */
export interface FramePagesCore {
  readonly name: string;
  readonly layer: FrameAllocator;
  readonly maxOrder: number;
  readonly mem: PhysMem;
  readonly memmap: MemMap;
  readonly ev: KernelEvents;
  readonly failPoint: FailPoint;
  readonly shrinkers: readonly Shrinker[];
  readonly oomKiller: OomHook | null;
  readonly compaction: CompactionHook | null;
  readonly releasers: ReadonlyArray<(pfn: number) => void>;
  /** CPUs of the machine: with more than one, a failing allocation drains every CPU's lists. */
  readonly nrCpus: number;
  /** 1 with page_poison, else 0. */
  readonly pagePoison: number;
  /** One call into the layer, its answer checked. */
  take(order: number, gfp: number): number;
  /** The head record of a new block, zeroing and compound tails as asked. */
  prepNewPage(pfn: number, order: number, gfp: number): void;
  /** Counts a failed allocation and reports it (unless __GFP_NOWARN); returns -1. */
  warnAlloc(order: number, gfp: number): number;
  nrPcpPages(): number;
  drainPcp(): void;
  /** Names what is wrong with the free and panics (page_alloc_check.ts badFree). */
  badFree(pfn: number, order: number): never;
}

/** Off the fast path: a bad order or fault injection (the layer not asked yet), or the layer had nothing. */
export function allocSlowpath(f: FramePagesCore, order: number, gfp: number): number {
  const unusual = order >>> 0 !== order || order > f.maxOrder || f.failPoint.armed;
  const pfn = unusual ? allocUnusual(f, order, gfp) : allocRetry(f, order, gfp);
  if (f.ev.active[EV_MM_PAGE_ALLOC] !== 0) f.ev.mmPageAlloc(pfn, order, gfp);
  return pfn;
}

/** A bad order, or fault injection armed. */
function allocUnusual(f: FramePagesCore, order: number, gfp: number): number {
  if (!(order >= 0 && order <= f.maxOrder && Number.isInteger(order))) {
    if (!Number.isInteger(order) || order < 0) panic(`alloc_pages: invalid order ${order}`);
    return f.warnAlloc(order, gfp);
  }
  if ((gfp & __GFP_NOFAIL) === 0 && f.failPoint.shouldFail(order)) return -1;
  const pfn = f.take(order, gfp);
  if (pfn < 0) return allocRetry(f, order, gfp);
  f.prepNewPage(pfn, order, gfp);
  return pfn;
}

/**
 * The layer had nothing (__alloc_pages_slowpath): direct compaction first
 * for a costly order (as Linux's slow path orders it), then the shrinkers (direct
 * reclaim among them), per-CPU lists back to it and one more try; then,
 * for an allocation that may, the OOM killer and one more try; else the
 * failure report. With several CPUs the lists are drained even when the
 * shrinkers freed nothing (pages may sit on other CPUs' lists), as Linux's
 * allocator drains all CPUs before it declares OOM.
 */
function allocRetry(f: FramePagesCore, order: number, gfp: number): number {
  if (order > 3 /* PAGE_ALLOC_COSTLY_ORDER */ && f.compaction !== null) {
    const pfn = compactAndRetry(f, f.compaction, order, gfp);
    if (pfn >= 0) return pfn;
  }
  let pfn = -1;
  if (runShrinkers(f, 1 << order) || (f.nrCpus > 1 && f.nrPcpPages() > 0)) {
    f.drainPcp();
    pfn = f.take(order, gfp);
  }
  if (pfn < 0 && mayOom(f, order, gfp)) {
    f.drainPcp();
    pfn = f.take(order, gfp);
  }
  if (pfn < 0) return f.warnAlloc(order, gfp);
  f.prepNewPage(pfn, order, gfp);
  return pfn;
}

/**
 * __alloc_pages_may_oom: the OOM killer runs only for an allocation that
 * may reclaim directly, is not costly (order <= 3, PAGE_ALLOC_COSTLY_ORDER)
 * and asked neither __GFP_NORETRY nor __GFP_RETRY_MAYFAIL (those fail
 * instead). Returns true when it freed memory.
 */
function mayOom(f: FramePagesCore, order: number, gfp: number): boolean {
  if (f.oomKiller === null || order > 3 || (gfp & __GFP_DIRECT_RECLAIM) === 0) return false;
  if (gfp & (__GFP_NORETRY | __GFP_RETRY_MAYFAIL)) return false;
  return f.oomKiller(order, gfp);
}

/** Wakes kcompactd, and compacts directly when the request may wait (__GFP_DIRECT_RECLAIM); -1 when that did not help. */
function compactAndRetry(f: FramePagesCore, c: CompactionHook, order: number, gfp: number): number {
  c.wakeup(order);
  if ((gfp & __GFP_DIRECT_RECLAIM) === 0 || !c.direct(order)) return -1;
  const pfn = f.take(order, gfp);
  if (pfn >= 0) f.prepNewPage(pfn, order, gfp);
  return pfn;
}

/** The shrinkers in turn until `want` pages are freed; true when any were. */
function runShrinkers(f: FramePagesCore, want: number): boolean {
  let freed = 0;
  for (const s of f.shrinkers) {
    freed += s(want - freed);
    if (freed >= want) break;
  }
  return freed > 0;
}

/**
 * check_new_pages for a layer's answer to allocPages(order): returns pfn (or
 * -1 for "none") when it starts a free, aligned run of 2^order frames of
 * this machine; else throws LayerFault. `fullChecks` 1 (debugVm 2) reads
 * every record of the run, 0 the head's only.
 */
export function checkAnswer(f: FramePagesCore, fullChecks: number, pfn: number, order: number): number {
  if (pfn === -1) return -1;
  if (!(Number.isInteger(pfn) && pfn >= 0 && pfn + (1 << order) <= f.memmap.nrPages)) {
    layerFault("frames", `'${f.name}' allocPages(${order}) returned ${String(pfn)}, not a pfn of this machine or -1`);
  }
  if (pfn & ((1 << order) - 1)) layerFault("frames", `'${f.name}' allocPages(${order}) returned pfn 0x${pfn.toString(16)}, misaligned`);
  checkRun(f, fullChecks, pfn, order);
  return pfn;
}

/** Every record of the run must be zero (a head only, below debugVm 2). Throws LayerFault naming the first that is not. */
function checkRun(f: FramePagesCore, fullChecks: number, pfn: number, order: number): void {
  const w = f.memmap.w;
  const end = fullChecks !== 0 ? pfn + (1 << order) : pfn + 1;
  const words = fullChecks !== 0 ? W : 1;
  for (let p = pfn; p < end; p++) {
    for (let k = 0; k < words; k++) {
      const v = w[p * W + k] as number;
      if (v === 0) continue;
      const what =
        k > 0
          ? `has struct page word ${k} = ${v}`
          : v & PG_reserved
            ? "is reserved"
            : v & PG_alloc
              ? "is already allocated"
              : `has a record (flags ${f.memmap.describeFlags(p)}), not a free frame's`;
      layerFault("frames", `'${f.name}' allocPages(${order}) returned pfn 0x${pfn.toString(16)}, but frame 0x${p.toString(16)} ${what}`);
    }
  }
}

/**
 * A put of a page whose users' words are set: a reference that is not
 * the last just goes (returns true); at the last, every releaser clears
 * its words, and words left set are a bad page state (panics).
 */
export function putUsed(f: FramePagesCore, pfn: number, order: number): boolean {
  const i = pfn * W;
  const w = f.memmap.w;
  if ((w[i + 1] as number) > 1) {
    w[i + 1] = (w[i + 1] as number) - 1;
    return true;
  }
  for (const r of f.releasers) r(pfn);
  if (((w[i + 4] as number) | (w[i + 5] as number) | (w[i + 7] as number) | (w[i + 9] as number)) !== 0) f.badFree(pfn, order);
  return false;
}

/** free_pages_prepare for a free of more than one frame, with events or with poisoning, before the layer gets the run. */
export function beforeFree(f: FramePagesCore, pfn: number, order: number): void {
  if (f.ev.active[EV_MM_PAGE_FREE] !== 0) f.ev.mmPageFree(pfn, order);
  // Tail records are written only for compound pages, and PG_tail then marks the first tail.
  if (order !== 0 && (f.memmap.w[(pfn + 1) * W] as number) !== 0) f.memmap.clear(pfn + 1, (1 << order) - 1);
  if (f.pagePoison !== 0) f.mem.fillPages(pfn, 1 << order, PAGE_POISON);
}

/**
 * __isolate_free_page and split_page for compaction: takes the free block
 * headed by `pfn` from the layer (frames.ts isolateFreeBlock), checks it as
 * an answer of allocPages and makes each of its frames an order-0 page with
 * refcount 1. Returns its order (the caller counts the pages), or -1 when
 * pfn heads no free block or the layer cannot isolate.
 */
export function isolateFreeBlock(f: FramePagesCore, fullChecks: number, pfn: number): number {
  const layer = f.layer;
  if (layer.isolateFreeBlock === undefined) return -1;
  let order: number;
  try {
    order = layer.isolateFreeBlock(pfn);
  } catch (e) {
    return layerFault("frames", `'${f.name}' isolateFreeBlock(0x${pfn.toString(16)}) threw: ${String(e)}`, e);
  }
  if (order === -1) return -1;
  if (!(Number.isInteger(order) && order >= 0 && order <= f.maxOrder))
    layerFault("frames", `'${f.name}' isolateFreeBlock(0x${pfn.toString(16)}) returned ${String(order)}`);
  checkAnswer(f, fullChecks, pfn, order);
  const w = f.memmap.w;
  for (let p = pfn; p < pfn + (1 << order); p++) {
    w[p * W] = PG_alloc;
    w[p * W + 1] = 1;
  }
  return order;
}

/** prep_new_page's rarer half: the run zeroed (__GFP_ZERO), the compound head and tails written (__GFP_COMP). */
export function prepUnusual(f: FramePagesCore, pfn: number, order: number, gfp: number): void {
  const w = f.memmap.w;
  if (gfp & __GFP_ZERO) f.mem.fillPages(pfn, 1 << order, 0);
  if (gfp & __GFP_COMP && order > 0) {
    w[pfn * W] = (w[pfn * W] as number) | PG_head;
    for (let t = pfn + 1; t < pfn + (1 << order); t++) {
      w[t * W] = PG_tail;
      w[t * W + 3] = pfn;
    }
  }
}

/** The counts FramePages asks its layer for. */
export type LayerCount = "nrFreePages" | "nrManagedPages" | "nrPcpPages";

/**
 * One of the layer's counts, checked: an integer from 0 to the machine's
 * frames, else LayerFault; nrPcpPages (which the layer has: the caller
 * tested) counts undefined as 0. The layer is asked in this function's own
 * try, with no closure: reclaim's watermark checks ask on every fault.
 */
export function layerCount(f: FramePagesCore, what: LayerCount): number {
  const layer = f.layer;
  let n: number;
  try {
    n = what === "nrFreePages" ? layer.nrFreePages() : what === "nrManagedPages" ? layer.nrManagedPages() : (layer.nrPcpPages?.() ?? 0);
  } catch (e) {
    return countThrew(f, what, e);
  }
  return checkCount(f, what, n);
}

function checkCount(f: FramePagesCore, what: string, n: number): number {
  if (!(Number.isInteger(n) && n >= 0 && n <= f.memmap.nrPages)) layerFault("frames", `'${f.name}' ${what}() returned ${String(n)}`);
  return n;
}

function countThrew(f: FramePagesCore, what: string, e: unknown): never {
  return layerFault("frames", `'${f.name}' ${what}() threw: ${String(e)}`, e);
}
