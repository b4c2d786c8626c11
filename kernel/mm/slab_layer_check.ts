/**
 * A lab's object-cache layer (`layers.slab`) as the kernel sees it: every
 * answer checked, the layer's mistakes a LayerFault naming it, never a
 * corrupt kernel. The kernel counts what the layer was given (the frames it
 * took, by the cache that was being served when it took them) and what it
 * handed out (the live objects of each cache), so:
 *
 *   alloc    an object must lie inside one run of frames the layer holds,
 *            be aligned (the cache's align, at least 8) and overlap no live
 *            object;
 *   free     a run given back must be one the layer holds, with no live
 *            object in it;
 *   destroy  true only for a cache with no live object, after every frame
 *            its slabs took came back;
 *   check    the layer's own checker, then its slabinfo counts against the
 *            kernel's: active_objs = live objects, num_slabs * pagesperslab =
 *            frames held (SLABL-1..3).
 *
 * Around the layer's alloc the kernel does what Linux's slab hooks do for
 * any allocator: failslab (m.faults.failSlab) before it, __GFP_ZERO after.
 * kmalloc's side of the interface (cacheOf, ksize, usableSize,
 * resizeInPlace, requestSize) is answered from the same records, so a lab's
 * layer serves every kmalloc without writing any of it: the cache of an
 * address is the one whose slab took the run holding it.
 *
 * The kernel's own mistakes (a dead cache used, an object freed twice) panic.
 *
 * Bookkeeping is in JS maps: a lab machine's caches hold hundreds of objects.
 */

import { InvariantViolation, invariant, LayerFault, layerFault, panic } from "../panic.ts";
import type { SlabinfoRow } from "../proc/slabinfo.ts";
import type { FailPoint } from "./fault_inject.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_NOFAIL, __GFP_ZERO, GFP_KERNEL } from "./gfp.ts";
import type { KernelMemory } from "./kmem.ts";
import type { KernelSlabCaches, SlabBoot, SlabCache, SlabCacheOptions, SlabCaches, SlabLayer } from "./slab_layer.ts";
import { formatVa, PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** What the kernel knows of one of the layer's caches. */
interface Tracked {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  /** The layer's own cache object, and the handle the kernel holds. */
  readonly inner: SlabCache;
  outer: SlabCache | null;
  /** Live objects: kva -> 1. */
  readonly live: Set<number>;
  /** Runs its slabs took: first pfn -> order. */
  readonly runs: Map<number, number>;
  dead: boolean;
}

function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LayerFault) throw e;
    return layerFault("slab", `${what} threw: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** A lab's SlabCaches, checked. The kernel uses it exactly as it uses slubCaches. */
export class CheckedSlab implements KernelSlabCaches {
  readonly name: string;
  private readonly layer: SlabCaches;
  private readonly caches: Tracked[] = [];
  /** Every cache made, by handle (its place in creation order); a destroyed cache keeps its slot. */
  private readonly handles: Tracked[] = [];
  private readonly byHandle = new Map<SlabCache, Tracked>();
  /** Runs held: first pfn -> order, and the cache each was taken for (null: at create or boot). */
  private readonly runs = new Map<number, number>();
  private readonly runOwner = new Map<number, Tracked | null>();
  /** The cache being served (alloc, create, shrink, destroy), whose slabs a new run belongs to. */
  private serving: Tracked | null = null;

  constructor(
    factory: SlabLayer,
    private readonly pages: PageAllocator,
    private readonly mem: KernelMemory,
    private readonly failSlab: FailPoint,
  ) {
    const boot: SlabBoot = {
      allocPages: (order) => this.take(order),
      freePages: (pfn, order) => this.giveBack(pfn, order),
      mem,
      pfnToKva: (pfn) => PAGE_OFFSET + pfn * PAGE_SIZE,
      kvaToPfn: (kva) => Math.floor((kva - PAGE_OFFSET) / PAGE_SIZE),
    };
    const layer = guarded("the layer's factory", () => factory(boot));
    if (layer === null || typeof layer !== "object" || typeof layer.create !== "function")
      layerFault("slab", "the factory must return an object with create, destroy, shrink, info and check");
    this.layer = layer;
    this.name = String(layer.name ?? "slab");
  }

  /** The layer's name as LayerFault messages give it ("slab layer: 'aos' ..."). */
  private who(): string {
    return `'${this.name}'`;
  }

  private take(order: number): number {
    if (!Number.isInteger(order) || order < 0 || order > this.pages.maxOrder)
      layerFault("slab", `${this.who()} asked allocPages(${String(order)}): the order must be 0..${this.pages.maxOrder}`);
    const pfn = this.pages.allocPages(order, GFP_KERNEL);
    if (pfn < 0) return -1;
    this.runs.set(pfn, order);
    this.runOwner.set(pfn, this.serving);
    this.serving?.runs.set(pfn, order);
    return pfn;
  }

  private giveBack(pfn: number, order: number): void {
    if (this.runs.get(pfn) !== order)
      layerFault("slab", `${this.who()} freePages(0x${pfn.toString(16)}, ${order}): not a run it holds with that order`);
    for (const c of this.caches)
      for (const kva of c.live) {
        const p = (kva - PAGE_OFFSET) / PAGE_SIZE;
        if (p >= pfn && p < pfn + (1 << order))
          layerFault("slab", `${this.who()} freed frame 0x${pfn.toString(16)} while ${c.name}'s object ${formatVa(kva)} in it is live`);
      }
    this.runs.delete(pfn);
    this.runOwner.get(pfn)?.runs.delete(pfn);
    this.runOwner.delete(pfn);
    this.pages.freePages(pfn, order);
  }

  private tracked(c: SlabCache): Tracked {
    const t = this.byHandle.get(c);
    if (t === undefined || t.dead) panic(`kmem_cache: ${String(c?.name)} is not a live cache of slab layer ${this.who()}`);
    return t;
  }

  /** The cache's layer object, served: a new run taken meanwhile is its. */
  private serve<T>(t: Tracked, what: string, fn: (inner: SlabCache) => T): T {
    this.serving = t;
    try {
      return guarded(`${this.who()} ${what}`, () => fn(t.inner));
    } finally {
      this.serving = null;
    }
  }

  /** kmem_cache_create through the layer. Returns null when the layer does. Throws LayerFault on a malformed cache. */
  create(name: string, size: number, opts: SlabCacheOptions = {}): SlabCache | null {
    const inner = guarded(`${this.who()} create(${name}, ${size})`, () => this.layer.create(name, size, opts));
    if (inner === null) return null;
    if (typeof inner !== "object" || typeof inner.alloc !== "function" || typeof inner.free !== "function")
      layerFault("slab", `${this.who()} create(${name}) returned something without alloc and free`);
    const align = Math.max(8, opts.align ?? 0);
    const t: Tracked = { name, size, align, inner, outer: null, live: new Set(), runs: new Map(), dead: false };
    this.caches.push(t);
    this.byHandle.set(inner, t);
    const outer: SlabCache = { name, alloc: (gfp = GFP_KERNEL) => this.alloc(t, gfp), free: (kva) => this.free(t, kva) };
    t.outer = outer;
    this.byHandle.set(outer, t);
    return outer;
  }

  /** The layer's alloc between the kernel's hooks: failslab first, the object checked, then zeroed for __GFP_ZERO. */
  private alloc(t: Tracked, gfp: number): number {
    if (this.failSlab.armed && (gfp & __GFP_NOFAIL) === 0 && this.failSlab.shouldFail(0)) return 0;
    const kva = this.serve(t, `alloc(${t.name})`, (c) => c.alloc(gfp));
    if (kva === 0) return 0;
    this.accept(t, kva);
    if (gfp & __GFP_ZERO) this.mem.fill(kva, 0, t.size);
    return kva;
  }

  /** Checks an object the layer handed out and records it live. Throws LayerFault when it is not a fit. */
  private accept(t: Tracked, kva: number): void {
    const at = `${this.who()} alloc(${t.name}) returned ${typeof kva === "number" ? formatVa(kva) : String(kva)}`;
    if (typeof kva !== "number" || !Number.isInteger(kva)) layerFault("slab", `${at}: not an address`);
    if (kva % t.align !== 0) layerFault("slab", `${at}, not aligned to ${t.align}`);
    const run = this.runAt(kva);
    if (run < 0) layerFault("slab", `${at}, which is in no frame the layer took from allocPages`);
    const end = PAGE_OFFSET + (run + (1 << (this.runs.get(run) as number))) * PAGE_SIZE;
    if (kva + t.size > end) layerFault("slab", `${at}: its ${t.size} bytes run past the end of its slab at ${formatVa(end)}`);
    for (const c of this.caches)
      for (const o of c.live)
        if (o < kva + t.size && kva < o + c.size) layerFault("slab", `${at}, overlapping ${c.name}'s live object ${formatVa(o)}`);
    t.live.add(kva);
  }

  private free(t: Tracked, kva: number): void {
    if (!t.live.has(kva)) panic(`kmem_cache_free(${t.name}, ${formatVa(kva)}): not a live object of the cache`);
    t.live.delete(kva);
    this.serve(t, `free(${t.name}, ${formatVa(kva)})`, (c) => c.free(kva));
  }

  /** A cache's handle: its place among the caches made. Panics for a cache that is not live. */
  handle(c: SlabCache): number {
    const t = this.tracked(c);
    const h = this.handles.indexOf(t);
    if (h >= 0) return h;
    this.handles.push(t);
    return this.handles.length - 1;
  }

  /** kfree's object part: the checked free of kva to its cache; false when kva is in no slab. */
  freeObject(kva: number): boolean {
    const c = this.cacheOf(kva);
    if (c === null) return false;
    c.free(kva);
    return true;
  }

  /** Declines: every kmalloc of a lab's layer is the checked alloc of its cache. */
  allocFast(_h: number, _gfp: number): number {
    return 0;
  }

  /** Declines: every kfree of a lab's layer is the checked free (freeObject). */
  freeFast(_pa: number): boolean {
    return false;
  }

  /** The live cache whose slab took the run holding `kva`, or null (kfree's virt_to_cache). */
  cacheOf(kva: number): SlabCache | null {
    const t = this.trackedAt(kva);
    return t === null ? null : t.outer;
  }

  private trackedAt(kva: number): Tracked | null {
    if (!Number.isInteger(kva) || kva < PAGE_OFFSET) return null;
    const run = this.runAt(kva);
    const t = run < 0 ? null : (this.runOwner.get(run) ?? null);
    return t === null || t.dead ? null : t;
  }

  /** The live object at `kva` (its cache), or null. */
  private liveAt(kva: number): Tracked | null {
    const t = this.trackedAt(kva);
    return t?.live.has(kva) ? t : null;
  }

  /** The size the cache was made with, for a live object at `kva`; 0 otherwise. */
  ksize(kva: number): number {
    return this.liveAt(kva)?.size ?? 0;
  }

  usableSize(c: SlabCache): number {
    return this.tracked(c).size;
  }

  /** krealloc in place when `size` fits the cache's size: with __GFP_ZERO the bytes past it are zeroed. */
  resizeInPlace(kva: number, size: number, gfp: number): boolean {
    const t = this.liveAt(kva);
    if (t === null || !(size > 0 && size <= t.size)) return false;
    if (gfp & __GFP_ZERO) this.mem.fill(kva + size, 0, t.size - size);
    return true;
  }

  requestSize(kva: number): number {
    return this.ksize(kva);
  }

  /** The first pfn of the run holding `kva`, or -1. */
  private runAt(kva: number): number {
    const pfn = Math.floor((kva - PAGE_OFFSET) / PAGE_SIZE);
    for (let p = pfn, span = 1; p >= 0 && span <= 1 << this.pages.maxOrder; p--, span++) {
      const order = this.runs.get(p);
      if (order !== undefined) return pfn < p + (1 << order) ? p : -1;
    }
    return -1;
  }

  /** kmem_cache_destroy through the layer. Throws LayerFault when it says yes with objects live or frames kept. */
  destroy(c: SlabCache): boolean {
    const t = this.tracked(c);
    const ok = this.serve(t, `destroy(${t.name})`, (inner) => this.layer.destroy(inner));
    if (ok !== true) return false;
    if (t.live.size > 0) layerFault("slab", `${this.who()} destroyed ${t.name} with ${t.live.size} objects live`);
    if (t.runs.size > 0) layerFault("slab", `${this.who()} destroyed ${t.name} but kept ${t.runs.size} of its slabs' frame runs`);
    t.dead = true;
    this.caches.splice(this.caches.indexOf(t), 1);
    return true;
  }

  /** kmem_cache_shrink through the layer: the pages it freed (counted by the kernel, not taken from the layer's word). */
  shrink(c: SlabCache): number {
    const t = this.tracked(c);
    const before = this.heldPages();
    this.serve(t, `shrink(${t.name})`, (inner) => this.layer.shrink(inner));
    return before - this.heldPages();
  }

  /** The layer's slabinfo counts of a cache. Throws LayerFault when they are not counts. */
  info(c: SlabCache): SlabinfoRow {
    const t = this.tracked(c);
    const r = guarded(`${this.who()} info(${t.name})`, () => this.layer.info(t.inner));
    const keys = ["activeObjs", "numObjs", "objSize", "objPerSlab", "pagesPerSlab", "activeSlabs", "numSlabs"] as const;
    for (const k of keys) {
      const v = r?.[k];
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) layerFault("slab", `${this.who()} info(${t.name}).${k} is ${String(v)}`);
    }
    return { ...r, name: t.name };
  }

  /** /proc/slabinfo rows of the layer's live caches, newest first (the layer's counts, checked). */
  rows(): SlabinfoRow[] {
    return this.caches.map((t) => this.info(t.inner)).reverse();
  }

  /** Pages in the runs the layer holds. */
  heldPages(): number {
    let n = 0;
    for (const order of this.runs.values()) n += 1 << order;
    return n;
  }

  /** The layer's checker, then its counts against the kernel's (SLABL-1..3). */
  check(): void {
    try {
      this.layer.check();
    } catch (e) {
      throw new InvariantViolation(
        "SLABL-1",
        `slab layer ${this.who()}: its checker failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    let pages = 0;
    for (const t of this.caches) {
      const r = this.info(t.inner);
      invariant(
        r.activeObjs === t.live.size,
        "SLABL-2",
        `slab layer ${this.who()}: ${t.name} says ${r.activeObjs} active objects, the kernel holds ${t.live.size}`,
      );
      pages += r.numSlabs * r.pagesPerSlab;
    }
    const held = this.heldPages();
    invariant(pages === held, "SLABL-3", `slab layer ${this.who()}: its caches count ${pages} pages of slabs, it holds ${held}`);
  }
}
