/**
 * FramePages: a lab's frame allocator (frames.ts FrameAllocator) behind the
 * kernel's page-allocator contract. Owns what alloc_pages adds around the
 * free-frame choice: order checks, fault injection, shrinkers and the
 * failure report on the way in; struct page preparation (PG_alloc, order,
 * refcount 1, zeroing, compound tails); on the way out the bad-free checks,
 * the reference drop and poisoning.
 *
 * It trusts the layer with nothing: an answer that is not a free, aligned,
 * in-range run, or a method that throws, is a LayerFault naming the layer;
 * checkFrames recounts free + allocated against managed to catch lost frames.
 *
 * Events: mm_page_alloc for every allocation that returns (pfn -1 when it
 * failed) and mm_page_free when the last reference goes, at the same points
 * as the buddy allocator; a lab allocator has no buddy split or merge.
 */
import { type KernelEvents, NO_EVENTS } from "../events.ts";
import { EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE } from "../events_types.ts";
import { BUG_ON, invariant, layerFault, panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { FailPoint } from "./fault_inject.ts";
import type { FrameAllocator } from "./frames.ts";
import { __GFP_COMP, __GFP_NOFAIL, __GFP_NOWARN, __GFP_ZERO, formatGfp, GFP_KERNEL } from "./gfp.ts";
import { FREEABLE_MASK, type MemMap, PG_alloc, PG_head, PG_reserved, PG_tail } from "./memmap.ts";
import { PAGE_POISON, type Shrinker } from "./page_alloc.ts";
import { badFree } from "./page_alloc_check.ts";
import type { PhysMem } from "./physmem.ts";

/** Flag and order bits a free looks at (as in page_alloc.ts). */
const W = 4;

/** Counters of a lab's page allocator (vmstat, stats). */
export class FramePagesStats {
  pgalloc = 0;
  pgfree = 0;
  allocFailures = 0;
}

/** The kernel's page allocator over a lab's FrameAllocator. */
export class FramePages {
  readonly name: string;
  readonly maxOrder: number;
  readonly shrinkers: Shrinker[] = [];
  readonly stats = new FramePagesStats();
  currentComm = "swapper/0";
  /** The machine's event bus (mm_page_alloc, mm_page_free). */
  readonly ev: KernelEvents;
  private readonly w: Uint32Array;

  constructor(
    readonly layer: FrameAllocator,
    readonly mem: PhysMem,
    readonly memmap: MemMap,
    private readonly opts: { readonly pagePoison: boolean; readonly events?: KernelEvents },
    private readonly printk: Printk,
    private readonly failPoint: FailPoint,
  ) {
    this.name = layer.name;
    this.maxOrder = layer.maxOrder;
    this.w = memmap.w;
    this.ev = opts.events ?? NO_EVENTS;
  }

  /**
   * alloc_pages over the layer. Returns -1 when the layer has nothing, after
   * the shrinkers ran, or when order > maxOrder (with a failure report unless
   * __GFP_NOWARN). Panics when order is not a non-negative integer; throws
   * LayerFault when the layer throws or answers with frames that are not free.
   */
  allocPages(order: number, gfp: number = GFP_KERNEL): number {
    const pfn = this.allocPagesChecked(order, gfp);
    if (this.ev.active[EV_MM_PAGE_ALLOC] !== 0) this.ev.mmPageAlloc(pfn, order, gfp);
    return pfn;
  }

  /** alloc_pages without its event: the checks, the layer's answer, the struct pages. */
  private allocPagesChecked(order: number, gfp: number): number {
    if (!(order >= 0 && order <= this.maxOrder && Number.isInteger(order))) {
      if (!Number.isInteger(order) || order < 0) panic(`alloc_pages: invalid order ${order}`);
      return this.warnAlloc(order, gfp);
    }
    if (this.failPoint.armed && (gfp & __GFP_NOFAIL) === 0 && this.failPoint.shouldFail(order)) return -1;
    let pfn = this.take(order, gfp);
    if (pfn < 0 && this.runShrinkers(1 << order)) pfn = this.take(order, gfp);
    if (pfn < 0) return this.warnAlloc(order, gfp);
    this.prepNewPage(pfn, order, gfp);
    return pfn;
  }

  /** One call into the layer, its answer checked. */
  private take(order: number, gfp: number): number {
    let pfn: number;
    try {
      pfn = this.layer.allocPages(order, gfp);
    } catch (e) {
      return layerFault("frames", `'${this.name}' allocPages(${order}) threw: ${String(e)}`, e);
    }
    if (pfn === -1) return -1;
    if (!(Number.isInteger(pfn) && pfn >= 0 && pfn + (1 << order) <= this.memmap.nrPages)) {
      layerFault("frames", `'${this.name}' allocPages(${order}) returned ${String(pfn)}, not a pfn of this machine or -1`);
    }
    if (pfn & ((1 << order) - 1))
      layerFault("frames", `'${this.name}' allocPages(${order}) returned pfn 0x${pfn.toString(16)}, misaligned`);
    for (let p = pfn; p < pfn + (1 << order); p++) {
      const word0 = this.w[p * W] as number;
      if (word0 !== 0) {
        const what = word0 & PG_reserved ? "reserved" : "already allocated";
        layerFault(
          "frames",
          `'${this.name}' allocPages(${order}) returned pfn 0x${pfn.toString(16)}, but frame 0x${p.toString(16)} is ${what}`,
        );
      }
    }
    return pfn;
  }

  private prepNewPage(pfn: number, order: number, gfp: number): void {
    const w = this.w;
    const i = pfn * W;
    w[i] = PG_alloc | (order << 16);
    w[i + 1] = 1;
    w[i + 2] = 0;
    w[i + 3] = 0;
    this.stats.pgalloc += 1 << order;
    if (gfp & __GFP_ZERO) this.mem.fillPages(pfn, 1 << order, 0);
    if (gfp & __GFP_COMP && order > 0) {
      w[i] = (w[i] as number) | PG_head;
      for (let t = pfn + 1; t < pfn + (1 << order); t++) {
        w[t * W] = PG_tail;
        w[t * W + 3] = pfn;
      }
    }
  }

  private runShrinkers(want: number): boolean {
    let freed = 0;
    for (const s of this.shrinkers) {
      freed += s(want - freed);
      if (freed >= want) break;
    }
    return freed > 0;
  }

  private warnAlloc(order: number, gfp: number): number {
    this.stats.allocFailures++;
    if ((gfp & __GFP_NOWARN) === 0) {
      this.printk.report(
        "page_alloc_failure",
        `${this.currentComm}: page allocation failure: order:${order}, mode:0x${gfp.toString(16)}(${formatGfp(gfp)}), nodemask=(null)`,
      );
    }
    return -1;
  }

  /**
   * __free_pages: drops one reference; on the last, clears the struct pages,
   * poisons the frames (when pagePoison) and gives them to the layer.
   * Panics on a bad free (as page_alloc.ts); throws LayerFault when the layer throws.
   */
  freePages(pfn: number, order: number): void {
    const w = this.w;
    const i = pfn * W;
    const word0 = w[i] as number;
    if ((word0 & FREEABLE_MASK) !== (PG_alloc | (order << 16)) || (pfn | 0) !== pfn) badFree(this.memmap, this.maxOrder, pfn, order);
    const ref = (w[i + 1] as number) - 1;
    w[i + 1] = ref;
    if (ref !== 0) return;
    if (this.ev.active[EV_MM_PAGE_FREE] !== 0) this.ev.mmPageFree(pfn, order);
    this.memmap.clear(pfn, 1 << order);
    this.stats.pgfree += 1 << order;
    if (this.opts.pagePoison) this.mem.fillPages(pfn, 1 << order, PAGE_POISON);
    try {
      this.layer.freePages(pfn, order);
    } catch (e) {
      layerFault("frames", `'${this.name}' freePages(0x${pfn.toString(16)}, ${order}) threw: ${String(e)}`, e);
    }
  }

  /** get_page. Panics on a frame that is not allocated. */
  getPage(pfn: number): void {
    const i = pfn * W;
    BUG_ON(((this.w[i] as number) & PG_alloc) === 0, `get_page: pfn 0x${pfn.toString(16)} is not allocated`);
    this.w[i + 1] = (this.w[i + 1] as number) + 1;
  }

  nrFreePages(): number {
    return this.ask("nrFreePages", () => this.layer.nrFreePages());
  }

  nrManagedPages(): number {
    return this.ask("nrManagedPages", () => this.layer.nrManagedPages());
  }

  /** No per-CPU lists here. */
  nrPcpPages(): number {
    return 0;
  }

  /** No per-CPU lists here. */
  drainPcp(): void {}

  private ask(what: string, get: () => number): number {
    let n: number;
    try {
      n = get();
    } catch (e) {
      return layerFault("frames", `'${this.name}' ${what}() threw: ${String(e)}`, e);
    }
    if (!(Number.isInteger(n) && n >= 0 && n <= this.memmap.nrPages))
      layerFault("frames", `'${this.name}' ${what}() returned ${String(n)}`);
    return n;
  }
}

/**
 * The `frames` checker: runs the layer's own checker, then recounts the
 * frames struct page says are allocated and compares them with the layer's
 * counts. IDs:
 *   FRAMES-1 allocated + free != managed (the layer lost or invented frames)
 *   FRAMES-2 the layer's own checker failed
 * Throws InvariantViolation naming the layer.
 */
export function checkFrames(f: FramePages): void {
  try {
    f.layer.check();
  } catch (e) {
    invariant(false, "FRAMES-2", `frames layer '${f.name}': its checker failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const mm = f.memmap;
  let allocated = 0;
  for (let pfn = 0; pfn < mm.nrPages; ) {
    const word0 = mm.word0(pfn);
    if (word0 === 0 || word0 & PG_reserved) {
      pfn++;
      continue;
    }
    invariant((word0 & PG_tail) === 0, "FRAMES-1", `frames layer '${f.name}': pfn 0x${pfn.toString(16)} is a tail with no head`);
    allocated += 1 << mm.order(pfn);
    pfn += 1 << mm.order(pfn);
  }
  const free = f.nrFreePages();
  const managed = f.nrManagedPages();
  const lost = managed - allocated - free;
  invariant(
    lost === 0,
    "FRAMES-1",
    lost > 0
      ? `frames layer '${f.name}': ${lost} frame(s) neither allocated nor free (${managed} managed, ${allocated} allocated, ${free} free): the layer lost them`
      : `frames layer '${f.name}': ${-lost} frame(s) counted both free and allocated (${managed} managed, ${allocated} allocated, ${free} free)`,
  );
}
