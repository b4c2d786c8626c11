/**
 * vmalloc: virtually contiguous, physically scattered kernel memory (Linux
 * mm/vmalloc.c). Areas are carved from [VMALLOC_START, VMALLOC_END) at the
 * lowest address that fits, each followed by one unmapped guard page, and
 * mapped page by page in the kernel's page table (init_mm).
 *
 * Owns: the vmap areas (vmap_area slab objects, vmap_area.ts) and their
 * index (a gap-augmented VmaTree keyed by va_start: O(log n) placement and
 * lookup), the pages of vmalloc areas (PG_vmalloc). Calls: the buddy
 * allocator, the slab cache "vmap_area", init_mm's page table and its TLB
 * flushes, printk.
 *
 * Words: area = [va_start, va_end) including the guard page; size = the
 * mapped part, va_end - va_start - PAGE_SIZE.
 */
import type { KernelEvents } from "../events.ts";
import { EV_VFREE, EV_VMALLOC } from "../events_types.ts";
import type { Printk } from "../printk.ts";
import type { VmallocInfoArea } from "../proc/vmallocinfo.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_HIGHMEM, __GFP_NOWARN, __GFP_ZERO, formatGfp, GFP_KERNEL } from "./gfp.ts";
import { type MemMap, PG_vmalloc } from "./memmap.ts";
import { formatPx } from "./mmu.ts";
import type { PageTable } from "./pgtable.ts";
import type { ZapSink } from "./pgtable_range.ts";
import { PAGE_KERNEL, PTE_P } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import type { SlabCache } from "./slab_layer.ts";
import { PAGE_SIZE, VMALLOC_END, VMALLOC_START } from "./types.ts";
import { VmaTree } from "./vma_tree.ts";
import { VM_ALLOC, VM_MAP, VmapAreaFields } from "./vmap_area.ts";

/** What vmalloc needs from the kernel. */
export interface VmallocDeps {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly initMm: PageTable;
  /** The "vmap_area" kmem cache the area objects come from. */
  readonly cache: SlabCache;
  readonly printk: Printk;
  /** The event bus: vmalloc and vfree events (allocation sites listen to them). */
  readonly events?: KernelEvents;
}

/** Options of vmap. */
export interface VmapOptions {
  /** vm_struct flags (default VM_MAP). */
  readonly flags?: number;
  /** Leaf flags of the mapping (default PAGE_KERNEL). */
  readonly prot?: number;
  readonly caller?: string;
}

/** Collects the frames an unmap clears, so they are freed only after the TLB flush (as Linux does). */
class FrameCollector implements ZapSink {
  pfns = new Int32Array(64);
  n = 0;

  zapPte(_va: number, pfn: number, flags: number): void {
    if ((flags & PTE_P) === 0) return;
    if (this.n === this.pfns.length) {
      const bigger = new Int32Array(this.n * 2);
      bigger.set(this.pfns);
      this.pfns = bigger;
    }
    this.pfns[this.n++] = pfn;
  }
}

/** The vmalloc layer. */
export class Vmalloc {
  /** Pages allocated by vmalloc and not yet freed (VmallocUsed). */
  nrVmallocPages = 0;
  /** Of those, pages of areas vunmap took away: mapped nowhere, never freed (Linux leaks them too). */
  leakedPages = 0;
  /** Index of the live areas: va_start -> vmap_area kva. */
  readonly tree = new VmaTree();
  readonly fields: VmapAreaFields;
  /** Caller names, indexed by the caller field of an area. */
  readonly callers: string[] = [];
  private readonly callerIds = new Map<string, number>();
  private readonly collector = new FrameCollector();
  private pfnScratch = new Int32Array(64);
  private warnedZero = false;
  private lastCaller = "";
  private lastCallerId = 0;

  constructor(readonly d: VmallocDeps) {
    this.fields = new VmapAreaFields(d.phys);
  }

  /**
   * vmalloc / vzalloc (`{ zero: true }`): `size` bytes rounded up to pages,
   * mapped read-write at the lowest free place of the vmalloc range, one
   * guard page after. Returns the address, or 0: for size 0 (with a one-time
   * warning, like Linux's WARN_ON_ONCE), for a size above total RAM, when
   * the vmap_area object, a page or a page table cannot be allocated (each
   * with Linux's "vmalloc error" report; nothing is left allocated).
   * Throws RangeError when size is not an integer.
   */
  vmalloc(size: number, opts?: { zero?: boolean; caller?: string }): number {
    if (!Number.isInteger(size)) throw new RangeError(`vmalloc: size ${size} is not an integer`);
    const gfp = opts?.zero === true ? GFP_KERNEL | __GFP_ZERO : GFP_KERNEL;
    const start = this.vmallocArea(size, gfp, opts?.caller ?? (opts?.zero ? "vzalloc" : "vmalloc"));
    const ev = this.d.events;
    if (ev !== undefined && ev.active[EV_VMALLOC] !== 0)
      ev.vmalloc(opts?.caller, start, size, start === 0 ? 0 : Math.ceil(size / PAGE_SIZE), gfp);
    return start;
  }

  /** vmalloc's work: the area's address, or 0 (see vmalloc). */
  private vmallocArea(size: number, gfp: number, caller: string): number {
    if (size === 0) return this.warnZero();
    if (size < 0 || Math.floor(size / PAGE_SIZE) > this.d.buddy.nrManagedPages()) {
      return this.warn(gfp, `vmalloc error: size ${BigInt.asUintN(64, BigInt(size))}, exceeds total pages`);
    }
    const bytes = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const nr = bytes / PAGE_SIZE;
    const area = this.getVmArea(bytes, VM_ALLOC, caller, gfp);
    if (area === 0) return 0;
    const start = this.fields.start(area);
    const pfns = this.scratch(nr);
    const pageGfp = gfp | __GFP_HIGHMEM | __GFP_NOWARN;
    for (let i = 0; i < nr; i++) {
      const pfn = this.d.buddy.allocPages(0, pageGfp);
      if (pfn < 0) {
        this.freeFrames(pfns, i);
        this.removeArea(area);
        return this.warn(gfp | __GFP_HIGHMEM, `vmalloc error: size ${i * PAGE_SIZE}, failed to allocate pages`);
      }
      pfns[i] = pfn;
    }
    if (this.d.initMm.mapPages(start, pfns, nr, PAGE_KERNEL) === "nomem") {
      this.freeFrames(pfns, nr);
      this.removeArea(area);
      return this.warn(gfp | __GFP_HIGHMEM, `vmalloc error: size ${bytes}, failed to map pages`);
    }
    const mm = this.d.memmap;
    for (let i = 0; i < nr; i++) mm.setFlag(pfns[i] as number, PG_vmalloc);
    this.fields.setNrPages(area, nr);
    this.nrVmallocPages += nr;
    return start;
  }

  /**
   * vfree: unmaps the area at `kva`, flushes the TLB, frees its pages and the
   * area. Does nothing for 0. An address that starts no area (unknown, freed
   * already, or inside an area) is reported as Linux warns ("Trying to
   * vfree() nonexistent vm area") and nothing is freed. A vmap'd area is
   * unmapped without freeing its pages.
   */
  vfree(kva: number): void {
    if (kva === 0) return;
    const area = this.findArea(kva);
    if (area === 0) {
      this.d.printk.report("vmalloc_bad_free", `Trying to vfree() nonexistent vm area (${formatPx(kva)})`);
      return;
    }
    const nr = this.fields.nrPages(area);
    this.unmapArea(area, (this.fields.flags(area) & VM_ALLOC) !== 0);
    const ev = this.d.events;
    if (ev !== undefined && ev.active[EV_VFREE] !== 0) ev.vfree(kva, nr);
  }

  /**
   * vmap: maps the frames `pfns[0..count)` (allocated by the caller, who
   * keeps them) virtually contiguously. Returns the address, or 0 for
   * count 0, a count above total RAM, or when the area or a page table
   * cannot be allocated.
   * Panics (set_pte_at) when a frame is beyond RAM.
   */
  vmap(pfns: ArrayLike<number>, count: number, opts?: VmapOptions): number {
    if (!(Number.isInteger(count) && count > 0) || count > this.d.buddy.nrManagedPages()) return 0;
    const bytes = count * PAGE_SIZE;
    const area = this.getVmArea(bytes, opts?.flags ?? VM_MAP, opts?.caller ?? "vmap", GFP_KERNEL);
    if (area === 0) return 0;
    const start = this.fields.start(area);
    if (this.d.initMm.mapPages(start, pfns, count, opts?.prot ?? PAGE_KERNEL) === "nomem") {
      this.removeArea(area);
      return 0;
    }
    return start;
  }

  /**
   * vunmap: unmaps the area at `kva` and frees the area, never its pages
   * (like Linux, vunmap of a vmalloc area leaks them: they stay counted in
   * VmallocUsed). 0 does nothing; an unknown address is reported ("Trying
   * to vunmap() nonexistent vm area").
   */
  vunmap(kva: number): void {
    if (kva === 0) return;
    const area = this.findArea(kva);
    if (area === 0) {
      this.d.printk.report("vmalloc_bad_free", `Trying to vunmap() nonexistent vm area (${formatPx(kva)})`);
      return;
    }
    if (this.fields.flags(area) & VM_ALLOC) this.leakedPages += this.fields.nrPages(area);
    this.unmapArea(area, false);
  }

  /** The live areas in address order, for /proc/vmallocinfo. */
  areas(): VmallocInfoArea[] {
    const out: VmallocInfoArea[] = [];
    const f = this.fields;
    this.tree.forEach((n) => {
      const a = this.tree.value(n);
      out.push({ start: f.start(a), end: f.end(a), caller: this.callers[f.caller(a)] ?? "?", nrPages: f.nrPages(a), flags: f.flags(a) });
    });
    return out;
  }

  /** vmalloc_to_pfn: the frame mapped at kernel address `kva` (a page-table walk), or null when none is. */
  vmallocToPfn(kva: number): number | null {
    const pt = this.d.initMm;
    if (!(Number.isInteger(kva) && kva >= pt.vaStart && kva < pt.vaEnd)) return null;
    const ptep = pt.lookup(kva);
    if (ptep < 0 || (pt.pteFlags(ptep) & PTE_P) === 0) return null;
    const pfn = pt.ptePfn(ptep);
    return pt.leafLevel === 2 ? pfn + (Math.floor(kva / PAGE_SIZE) & 511) : pfn;
  }

  /** find_vm_area: the vmap_area object of the area starting at `kva`, or 0. */
  findArea(kva: number): number {
    const n = this.tree.lookup(kva);
    return n >= 0 && this.tree.start(n) === kva ? this.tree.value(n) : 0;
  }

  /**
   * __get_vm_area_node: a vmap_area object for `bytes` plus the guard page,
   * placed at the lowest fit and indexed. Returns its kva, or 0 with the
   * report Linux prints when the object or the address range is not there.
   */
  private getVmArea(bytes: number, flags: number, caller: string, gfp: number): number {
    const len = bytes + PAGE_SIZE;
    const start = this.tree.bottomUpGap(len, VMALLOC_START, VMALLOC_END);
    const area = start < 0 ? 0 : this.d.cache.alloc(GFP_KERNEL);
    if (area === 0) {
      if (start < 0) {
        this.d.printk.report(
          "vmalloc_error",
          `vmalloc_node_range for size ${len} failed: Address range restricted to ${hex(VMALLOC_START)} - ${hex(VMALLOC_END)}`,
        );
      }
      return this.warn(gfp, `vmalloc error: size ${bytes}, vm_struct allocation failed`);
    }
    this.fields.init(area, start, start + len, 0, flags, this.callerId(caller));
    this.tree.insert(start, start + len, start, area);
    return area;
  }

  /** Takes an area out of the index and gives its object back. */
  private removeArea(area: number): void {
    this.tree.remove(this.fields.start(area));
    this.fields.kill(area);
    this.d.cache.free(area);
  }

  /** Unmaps an area's pages, flushes, frees the frames when `freePages`, then the area. */
  private unmapArea(area: number, freePages: boolean): void {
    const f = this.fields;
    const start = f.start(area);
    const end = f.end(area) - PAGE_SIZE;
    const pt = this.d.initMm;
    const c = this.collector;
    c.n = 0;
    pt.unmapPages(start, (end - start) / PAGE_SIZE, c);
    pt.flushTlb();
    if (freePages) {
      const mm = this.d.memmap;
      for (let i = 0; i < c.n; i++) mm.clearFlag(c.pfns[i] as number, PG_vmalloc);
      this.freeFrames(c.pfns, c.n);
      this.nrVmallocPages -= f.nrPages(area);
    }
    this.removeArea(area);
  }

  private freeFrames(pfns: Int32Array, n: number): void {
    for (let i = 0; i < n; i++) this.d.buddy.freePages(pfns[i] as number, 0);
  }

  private scratch(n: number): Int32Array {
    if (this.pfnScratch.length < n) this.pfnScratch = new Int32Array(Math.max(n, this.pfnScratch.length * 2));
    return this.pfnScratch;
  }

  private callerId(name: string): number {
    if (name === this.lastCaller) return this.lastCallerId;
    let id = this.callerIds.get(name);
    if (id === undefined) {
      id = this.callers.length;
      this.callers.push(name);
      this.callerIds.set(name, id);
    }
    this.lastCaller = name;
    this.lastCallerId = id;
    return id;
  }

  /** warn_alloc: "<comm>: <what>, mode:0x..(..), nodemask=(null)"; returns 0 (NULL). */
  private warn(gfp: number, what: string): 0 {
    const comm = this.d.buddy.currentComm;
    this.d.printk.report("vmalloc_error", `${comm}: ${what}, mode:0x${gfp.toString(16)}(${formatGfp(gfp)}), nodemask=(null)`);
    return 0;
  }

  /** vmalloc(0): NULL, with the WARN_ON_ONCE Linux 6.x prints the first time. */
  private warnZero(): 0 {
    if (!this.warnedZero) {
      this.warnedZero = true;
      this.d.printk.report("warning", "WARNING: mm/vmalloc.c: __vmalloc_node_range_noprof: vmalloc of size 0");
    }
    return 0;
  }
}

function hex(n: number): string {
  return `0x${formatPx(n)}`;
}
