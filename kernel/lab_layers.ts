/**
 * The process-side layers a lab may plug in (kernel/LAYERS.md): the page-fault
 * handler, fork's address-space copy, and the spawn and exit hooks. This file
 * owns their types, calls them with the kernel API `k` (mm/lab_api.ts), and
 * checks what they did: a layer that throws, claims to have fixed a fault it
 * did not fix, or leaves a fork's child with entries that break copy-on-write
 * is a LayerFault naming the layer, never a corrupt kernel.
 */

import type { KernelApi } from "./mm/lab_api.ts";
import { PG_alloc, PG_anon, PG_anon_exclusive, PG_pgtable, PG_slab } from "./mm/memmap.ts";
import { FAULT_ACCERR, FAULT_MAPERR, FAULT_OK, FAULT_OOM, FAULT_SIGBUS, type Memory } from "./mm/memory.ts";
import type { MmStruct } from "./mm/mm.ts";
import { PAGE } from "./mm/mm.ts";
import { VM_SHARED } from "./mm/mm_types.ts";
import type { PteVisitor } from "./mm/pgtable_range.ts";
import { PF_INSTR, PF_WRITE, PTE_NX, PTE_P, PTE_RW, PTE_SPECIAL, PTE_US } from "./mm/pgtable_types.ts";
import type { ReplacementLayer } from "./mm/replacement.ts";
import { formatVa } from "./mm/types.ts";
import { LayerFault, layerFault } from "./panic.ts";

/** The process a layer is called for (a Process; only these fields are the kernel's promise). */
export interface LabTask {
  readonly pid: number;
  readonly comm: string;
  readonly mm: MmStruct;
}

/** One user page fault, as a lab's handler sees it. */
export interface LabFault {
  /** The exact byte address that faulted. */
  readonly address: number;
  /** x86 #PF error-code bits (PF_PROT, PF_WRITE, PF_USER, PF_INSTR). */
  readonly errorCode: number;
  /** The VMA holding `address` (k.findVma), 0 when none does (the default may still grow the stack). */
  readonly vma: number;
  readonly process: LabTask;
  /** process.mm. */
  readonly mm: MmStruct;
}

/**
 * layers.pageFault: fixes a user page fault or refuses it. Returns k.FAULT_OK
 * when the access can be retried (the entry must then allow it), FAULT_MAPERR
 * or FAULT_ACCERR for SIGSEGV, FAULT_SIGBUS, FAULT_OOM. `next(fault)` runs
 * memsim's own handler.
 */
export type PageFaultLayer = (fault: LabFault, k: KernelApi, next: (fault: LabFault) => number) => number;

/** One VMA of a fork, as a lab's copy sees it. The child's VMA is already in place. */
export interface ForkCopy {
  readonly parent: MmStruct;
  readonly child: MmStruct;
  /** The parent's VMA. */
  readonly vma: number;
  readonly start: number;
  readonly end: number;
  /** The VMA's VM_* flags. */
  readonly flags: number;
}

/**
 * layers.forkCopy: fills the child's page table for one VMA. Returns false
 * when memory ran out (the child is torn down). `next(copy)` runs memsim's
 * copy-on-write copy (mm/copy_page_range.ts).
 */
export type ForkCopyLayer = (copy: ForkCopy, k: KernelApi, next: (copy: ForkCopy) => boolean) => boolean;

/**
 * layers.onSpawn / layers.onExit: onSpawn after a process is made (by spawn,
 * or by fork for the child, once its address space is copied) and before
 * it runs; onExit before its memory is torn down, whatever ended it.
 */
export type TaskHook = (p: LabTask, k: KernelApi) => void;

/** The process-side layers (each optional). */
export interface TaskLayers {
  readonly pageFault?: PageFaultLayer;
  readonly forkCopy?: ForkCopyLayer;
  readonly onSpawn?: TaskHook;
  readonly onExit?: TaskHook;
  /** The page-replacement policy reclaim asks for victims (kernel/mm/replacement.ts). Default: twoListReplacement. */
  readonly replacement?: ReplacementLayer;
}

const RESULTS = new Set([FAULT_OK, FAULT_MAPERR, FAULT_ACCERR, FAULT_OOM, FAULT_SIGBUS]);

/** Calls `fn`; what it throws (other than a LayerFault) becomes a LayerFault for `layer`. */
function guarded<T>(layer: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LayerFault) throw e;
    return layerFault(layer, `${what} threw: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** The lab's layers, called and checked. */
export class LabLayers {
  private readonly nextFault = (f: LabFault): number => this.memory.handleFault(f.mm, f.address, f.errorCode);
  private readonly check: ForkCheck;

  constructor(
    readonly layers: TaskLayers,
    readonly k: KernelApi,
    private readonly memory: Memory,
    private readonly copyDefault: (copy: ForkCopy) => boolean,
  ) {
    this.check = new ForkCheck(memory);
  }

  /**
   * A user fault through layers.pageFault. Throws LayerFault when the layer
   * throws, returns something that is not a FAULT_* value, or returns FAULT_OK
   * while the entry still does not allow the access (it would fault forever)
   * or maps a frame no one allocated to user memory.
   */
  pageFault(p: LabTask, va: number, ec: number): number {
    const layer = this.layers.pageFault as PageFaultLayer;
    const mm = p.mm;
    this.memory.stats.pgfault++;
    const fault: LabFault = { address: va, errorCode: ec, vma: this.memory.vmas.lookup(mm, va), process: p, mm };
    const r = guarded("pageFault", `the handler at ${formatVa(va)}`, () => layer(fault, this.k, this.nextFault));
    if (!RESULTS.has(r)) layerFault("pageFault", `the handler returned ${String(r)} for ${formatVa(va)}; it must return a k.FAULT_* value`);
    if (r === FAULT_OK) this.checkFixed(mm, va, ec);
    return r;
  }

  private checkFixed(mm: MmStruct, va: number, ec: number): void {
    const access = ec & PF_WRITE ? "write" : ec & PF_INSTR ? "exec" : "read";
    const ptep = mm.pt.lookup(va - (va % PAGE));
    const flags = ptep < 0 ? 0 : mm.pt.pteFlags(ptep);
    const need = PTE_P | PTE_US | (access === "write" ? PTE_RW : 0);
    if ((flags & need) !== need || (access === "exec" && flags & PTE_NX)) {
      layerFault(
        "pageFault",
        `the handler returned FAULT_OK for a ${access} at ${formatVa(va)}, but the entry (flags 0x${flags.toString(16)}) still refuses it: the access would fault forever`,
      );
    }
    if (flags & PTE_SPECIAL) return;
    const pfn = mm.pt.ptePfn(ptep);
    const mmap = this.memory.memmap;
    // A free frame on a per-CPU list keeps its list link where the refcount is: test PG_alloc.
    if (!mmap.testFlag(pfn, PG_alloc) || mmap.testFlag(pfn, PG_pgtable) || mmap.testFlag(pfn, PG_slab)) {
      layerFault(
        "pageFault",
        `the handler mapped ${formatVa(va)} to frame 0x${pfn.toString(16)}, which is not a user page (free, a page table or slab)`,
      );
    }
  }

  /** One VMA of a fork through layers.forkCopy; the child's entries are checked after. Throws LayerFault. */
  forkCopy(copy: ForkCopy): boolean {
    const layer = this.layers.forkCopy as ForkCopyLayer;
    const what = `the copy of ${formatVa(copy.start)}-${formatVa(copy.end)}`;
    const ok = guarded("forkCopy", what, () => layer(copy, this.k, this.copyDefault));
    if (typeof ok !== "boolean") layerFault("forkCopy", `${what} returned ${String(ok)}; it must return true or false`);
    if (ok && !(copy.flags & VM_SHARED)) this.check.run(copy);
    return ok;
  }

  /** layers.onSpawn or layers.onExit for `p`. Throws LayerFault when the hook throws. */
  hook(name: "onSpawn" | "onExit", p: LabTask): void {
    const fn = this.layers[name];
    if (fn !== undefined) guarded(name, `the hook for pid ${p.pid}`, () => fn(p, this.k));
  }
}

/**
 * The child's entries after a lab's copy of a private VMA: a frame shared
 * with the parent must be read-only on both sides and counted twice
 * (refcount and mapcount); a frame of its own must be an anonymous page.
 */
class ForkCheck implements PteVisitor {
  private copy: ForkCopy | null = null;

  constructor(private readonly memory: Memory) {}

  run(copy: ForkCopy): void {
    this.copy = copy;
    copy.child.pt.walkRange(copy.start, copy.end, this);
    this.copy = null;
  }

  visitPte(va: number, ptep: number, _level: number): void {
    const c = this.copy as ForkCopy;
    const flags = c.child.pt.pteFlags(ptep);
    if (!(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = c.child.pt.ptePfn(ptep);
    const mmap = this.memory.memmap;
    const at = `${formatVa(va)} (frame 0x${pfn.toString(16)})`;
    const pp = c.parent.pt.lookup(va);
    const pflags = pp < 0 ? 0 : c.parent.pt.pteFlags(pp);
    if (pflags & PTE_P && c.parent.pt.ptePfn(pp) === pfn) {
      if ((flags | pflags) & PTE_RW)
        layerFault(
          "forkCopy",
          `${at} is shared by parent and child but writable in the ${flags & PTE_RW ? "child" : "parent"}: a write would reach the other`,
        );
      if (mmap.refcount(pfn) < 2 || mmap.mapcount(pfn) < 2)
        layerFault(
          "forkCopy",
          `${at} is shared by parent and child but counted refcount ${mmap.refcount(pfn)}, mapcount ${mmap.mapcount(pfn)} (a share needs k.getPage)`,
        );
      if (mmap.testFlag(pfn, PG_anon_exclusive)) layerFault("forkCopy", `${at} is shared by parent and child but still marked exclusive`);
      return;
    }
    if (!mmap.testFlag(pfn, PG_alloc) || !mmap.testFlag(pfn, PG_anon))
      layerFault("forkCopy", `${at} in the child is not an allocated anonymous page (use k.allocUserPage)`);
  }
}
