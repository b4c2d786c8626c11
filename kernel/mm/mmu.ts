/**
 * The MMU: the only path from a virtual address to the bytes of RAM. A
 * translation looks in the TLB; on a miss it walks the page table in RAM
 * (setting A and D bits as x86 hardware does), checks U/S, R/W (with CR0.WP:
 * the kernel cannot write read-only pages either) and NX, and fills the TLB.
 * A failed translation becomes a #PF fault descriptor handed to the address
 * space's fault handler; a fault nobody fixes is a kernel oops.
 *
 * Owns: the walk, the fault path and the oops (its text and KernelOops are
 * in mmu_oops.ts). Calls: the TLB, page tables
 * (reads and A/D bits only), printk. The loads and stores themselves are in
 * mmu_memory.ts.
 *
 * Words: acc = an access described by #PF error-code bits (0 = kernel read,
 * ACC_WRITE, ACC_USER, ACC_EXEC combined with OR).
 */
import { panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import { type AccessMode, MmuMemory } from "./mmu_memory.ts";
import { KernelOops, MAX_FAULT_RETRIES, oopsText } from "./mmu_oops.ts";
import type { Paging } from "./pgalloc.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr, geoIndex, SV39_A, SV39_D, SV39_G, SV39_R, SV39_U, SV39_V, SV39_W, SV39_X } from "./pgtable_geometry.ts";
import {
  PF_INSTR,
  PF_PROT,
  PF_RSVD,
  PF_USER,
  PF_WRITE,
  PTE_A,
  PTE_D,
  PTE_G,
  PTE_NX,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_US,
  pxIndex,
} from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import { TLB_EXEC, TLB_GLOBAL, TLB_USER, TLB_WRITE, type Tlb } from "./tlb.ts";
import { formatVa, VA_BITS } from "./types.ts";

export { formatPx, KernelOops, MAX_FAULT_RETRIES, oopsText } from "./mmu_oops.ts";

const SV39_LEAF = SV39_R | SV39_W | SV39_X;

/**
 * The bits and limits the translation path tests, as an enum so that each
 * name compiles to its number: a module binding read in a hot function is
 * a load and an initialisation check per use (kernel/README.md, "Fast
 * paths and the JIT"). Checked against the exported constants below.
 */
enum Pte {
  P = 1,
  RW = 2,
  US = 4,
  A = 32,
  D = 64,
  PS = 128,
  G = 256,
  NX_HI = 0x80000000,
}
enum Pf {
  PROT = 1,
  WRITE = 2,
  USER = 4,
  RSVD = 8,
  INSTR = 16,
}
/** The TLB's perm bits (tlb.ts). */
enum Tp {
  WRITE = 2,
  USER = 4,
  EXEC = 16,
  GLOBAL = 128,
}
enum Sv {
  V = 1,
  W = 4,
  X = 8,
  LEAF = 14,
  U = 16,
  G = 32,
  A = 64,
  D = 128,
}
/** The highest address + 1 of each geometry. */
enum Lim {
  VA = 281474976710656,
  SV39 = 549755813888,
  X86_32 = 4294967296,
}
if (
  [PTE_P, PTE_RW, PTE_US, PTE_A, PTE_D, PTE_PS, PTE_G, PTE_NX, PF_PROT, PF_WRITE, PF_USER, PF_RSVD, PF_INSTR].join() !==
    [Pte.P, Pte.RW, Pte.US, Pte.A, Pte.D, Pte.PS, Pte.G, Pte.NX_HI, Pf.PROT, Pf.WRITE, Pf.USER, Pf.RSVD, Pf.INSTR].join() ||
  [TLB_WRITE, TLB_USER, TLB_EXEC, TLB_GLOBAL, SV39_V, SV39_W, SV39_X, SV39_LEAF, SV39_U, SV39_G, SV39_A, SV39_D].join() !==
    [Tp.WRITE, Tp.USER, Tp.EXEC, Tp.GLOBAL, Sv.V, Sv.W, Sv.X, Sv.LEAF, Sv.U, Sv.G, Sv.A, Sv.D].join() ||
  [2 ** VA_BITS, 2 ** 39, 2 ** 32].join() !== [Lim.VA, Lim.SV39, Lim.X86_32].join()
) {
  panic("mmu: an enum here differs from the exported constants");
}

/** Counters of the MMU (stats and vmstat). */
export class MmuStats {
  /** Page walks (TLB misses and permission re-checks). */
  walks = 0;
  /** Faults handed to a fault handler. */
  faults = 0;
  /** Faults that ended in an oops. */
  oopses = 0;
}

/** Told of every user-mode access in the every-access mode (Mmu.observe). */
export interface AccessObserver {
  /** A user load, store or fetch reached frame `pfn` (after any fault it took). */
  userAccess(pfn: number): void;
}

/**
 * Told of every user-mode data access in the every-access mode
 * (Mmu.observeData): the cache model (cache_model.ts). Instruction fetches
 * are not data accesses and are not reported.
 */
export interface DataAccessObserver {
  /** A user load or store (`acc` has ACC_WRITE for a store) of `size` bytes at virtual `va`, physical `pa`. */
  dataAccess(va: number, pa: number, size: number, acc: number): void;
}

/** The MMU of the CPU running now (kernel/smp.ts points `tlb` at that CPU's TLB). */
export class Mmu {
  readonly stats = new MmuStats();
  /** mm_cpumask (tlbflush.ts) on a machine with several CPUs: a fill marks the running CPU as holding the ASID. */
  cpumask: { fillsHere(asid: number): void } | null = null;
  /** NUMA remote-access cost (numa.ts RemoteCost): told the physical address of every successful walk; null on one node. */
  remote: { fill(pa: number): void } | null = null;
  private readonly u32: Uint32Array;
  /** The every-access mode's observer, or null (the default: user accesses that hit the TLB are seen by no one). */
  private observer: AccessObserver | null = null;
  /** The second slot: the data-access observer (the cache model), or null. */
  private dataObserver: DataAccessObserver | null = null;

  constructor(
    readonly phys: PhysMem,
    /** This CPU's TLB: kernel/smp.ts swaps it when the machine switches CPU. */
    public tlb: Tlb,
    readonly paging: Paging,
    private readonly printk: Printk,
    /** debugVm: >= 1 catches accesses to a range whose TLB flush is pending. */
    readonly debug: number,
  ) {
    this.u32 = phys.u32;
  }

  /**
   * The physical address of `va` for access `acc` through `pt`, handling
   * faults: each failed translation goes to pt.faultHandler, and is retried
   * when the handler says it fixed it.
   * `size` is the bytes the access reads or writes from va (within the
   * page), for the data-access observer only.
   * Throws RangeError when va is not an integer. Panics (KernelOops) when a
   * fault has no handler, the handler returns false, or it keeps failing;
   * (debugVm >= 1) panics when va lies in a range whose flush is pending.
   */
  translate(pt: PageTable, va: number, acc: number, size = 1): number {
    if (!Number.isInteger(va)) throw new RangeError(`mmu: address ${va} is not an integer`);
    for (let tries = 0; ; tries++) {
      const i = va >= 0 && va < Lim.VA ? this.fill(pt, va, acc) : ~acc;
      if (i >= 0) {
        const pa = (this.tlb.base[i] as number) + (va & 4095);
        if ((acc & Pf.USER) !== 0) {
          if (this.observer !== null) this.observer.userAccess((pa - (pa & 4095)) / 4096);
          if (this.dataObserver !== null && (acc & Pf.INSTR) === 0) this.dataObserver.dataAccess(va, pa, size, acc);
        }
        return pa;
      }
      this.fault(pt, va, ~i, tries);
    }
  }

  /**
   * Loads and stores through `pt` in `mode` (the process layer's p.mem is a
   * user view). In the every-access mode a user view bypasses the inline
   * TLB probe, so each of its accesses comes through `translate`.
   */
  view(pt: PageTable, mode: AccessMode): MmuMemory {
    const v = new MmuMemory(this, pt, mode);
    if (this.observing && mode === "user") v.bypassTlb();
    return v;
  }

  /**
   * Turns on the every-access mode (boot option `mmu.observeAccesses`):
   * from now on every user-mode translation reports its frame to `o`, and
   * every user view made by `view` takes the slow path. Set once, at boot,
   * before any process exists.
   */
  observe(o: AccessObserver): void {
    this.observer = o;
  }

  /**
   * The second slot of the every-access mode (boot option `cache`): every
   * user-mode load and store reports its virtual and physical address, size
   * and kind to `o`; user views take the slow path as with `observe`. Set
   * once, at boot, before any process exists.
   */
  observeData(o: DataAccessObserver): void {
    this.dataObserver = o;
  }

  /** True in the every-access mode (either slot set). */
  get observing(): boolean {
    return this.observer !== null || this.dataObserver !== null;
  }

  /** The TLB entry translating `va` for `acc`, walking on a miss; or ~errorCode on failure. */
  fill(pt: PageTable, va: number, acc: number): number {
    const tlb = this.tlb;
    const page = va - (va & 4095);
    const i = tlb.find(page, pt.asid);
    if (i >= 0 && ((tlb.perm[i] as number) & acc) === acc) {
      tlb.stats.hits++;
      return i;
    }
    if (this.debug !== 0 && pt.flushEnd > pt.flushStart && pt.pendingCovers(va)) {
      panic(
        `mmu: access to ${formatVa(va)} while the TLB flush of ${pt.describePending()} is pending (a page-table change was not flushed)`,
      );
    }
    if (pt.kind === "user") {
      const j = tlb.huge.lookup(page, pt.asid, acc);
      if (j >= 0) return this.hugeHit(i, j, page, pt.asid);
    }
    tlb.stats.misses++;
    // i (the look above, -1 or an entry lacking `acc`) goes to the fill: nothing touches the 4 KiB sets in between.
    const j =
      pt.top === 4 ? this.walk(pt, acc, page, i) : pt.top === 3 ? this.walkSv39(pt, acc, page, i) : this.walkX86_32(pt, acc, page, i);
    if (this.remote !== null && j >= 0) this.remote.fill(tlb.base[j] as number);
    return j;
  }

  /** A 4 KiB miss the 2 MiB array answers: its 4 KiB piece goes into the sets, counted as a hit. */
  private hugeHit(slot: number, j: number, page: number, asid: number): number {
    const tlb = this.tlb;
    tlb.stats.hits++;
    tlb.huge.stats.hits++;
    return tlb.refill(slot, page, asid, (tlb.huge.base[j] as number) + (page & 0x1fffff), tlb.huge.perm[j] as number);
  }

  /**
   * The page walk. Accumulates permissions over the four levels (RW and US
   * must be set at every level, NX at any level forbids fetches), sets A in
   * every entry used and D in the leaf on a write, and caches the result
   * in entry `slot` (what fill's look found) or the set's victim.
   */
  private walk(pt: PageTable, acc: number, page: number, slot: number): number {
    this.stats.walks++;
    const u32 = this.u32;
    // Indexes without a division per level: vpn = va >>> 12 split in two halves of 18 bits.
    const vpn = page * (1 / 4096);
    const upper = Math.floor(vpn * (1 / 262144));
    const lower = vpn - upper * 262144;
    let table = pt.root;
    let allow = Tp.WRITE | Tp.USER | Tp.EXEC;
    let w = 0;
    let lo = 0;
    let hi = 0;
    for (let level = 4; ; level--) {
      const idx = level === 4 ? upper >>> 9 : level === 3 ? upper & 511 : level === 2 ? lower >>> 9 : lower & 511;
      w = table * 1024 + idx * 2;
      lo = u32[w] as number;
      hi = u32[w + 1] as number;
      if ((lo & Pte.P) === 0) return ~acc;
      if ((lo & Pte.RW) === 0) allow &= ~Tp.WRITE;
      if ((lo & Pte.US) === 0) allow &= ~Tp.USER;
      if ((hi & Pte.NX_HI) !== 0) allow &= ~Tp.EXEC;
      if (level === 1) break;
      if ((lo & Pte.PS) !== 0) {
        if (level === 2) break;
        return ~(acc | Pf.PROT | Pf.RSVD);
      }
      if ((lo & Pte.A) === 0) u32[w] = lo | Pte.A;
      table = (lo >>> 12) + (hi & 0xfffff) * 1048576;
    }
    if ((allow & acc) !== acc) return ~(acc | Pf.PROT);
    const set = (acc & Pf.WRITE) !== 0 ? Pte.A | Pte.D : Pte.A;
    if ((lo & set) !== set) u32[w] = lo | set;
    if (((lo | set) & Pte.D) === 0) allow &= ~Tp.WRITE;
    if ((lo & Pte.G) !== 0) allow |= Tp.GLOBAL;
    let pfn = (lo >>> 12) + (hi & 0xfffff) * 1048576;
    if ((lo & Pte.PS) !== 0) {
      if (pt.kind === "user") this.tlb.huge.insert(page - (page & 0x1fffff), pt.asid, pfn * 4096, allow);
      pfn += lower & 511;
    }
    if (this.cpumask !== null) this.cpumask.fillsHere(pt.asid);
    return this.tlb.refill(slot, page, pt.asid, pfn * 4096, allow);
  }

  /**
   * The Sv39 walk (pgtable_geometry.ts): three levels; an entry with R, W or
   * X set is a leaf (a 2 MiB megapage at level 2), one with none of them a
   * pointer. Only the leaf grants permissions (W, U, X) and takes A and D;
   * RISC-V reserves those bits in pointers. Faults are reported with the
   * same #PF error-code bits as on x86-64, so the fault handler is shared.
   */
  private walkSv39(pt: PageTable, acc: number, page: number, slot: number): number {
    this.stats.walks++;
    if (page >= Lim.SV39) return ~acc;
    const u32 = this.u32;
    const geo = pt.geo;
    let table = pt.root;
    let level = 3;
    let w = 0;
    let lo = 0;
    for (; ; level--) {
      w = table * 1024 + pxIndex(page, level) * 2;
      lo = u32[w] as number;
      if ((lo & Sv.V) === 0) return ~acc;
      if ((lo & Sv.LEAF) !== 0) break;
      if (level === 1) return ~(acc | Pf.PROT | Pf.RSVD);
      table = geo.pfn(lo, u32[w + 1] as number);
    }
    let pfn = geo.pfn(lo, u32[w + 1] as number);
    // memsim makes no 1 GiB gigapages; a misaligned megapage is a fault on RISC-V.
    if (level === 3 || (level === 2 && (pfn & 511) !== 0)) return ~(acc | Pf.PROT | Pf.RSVD);
    let allow = 0;
    if ((lo & Sv.W) !== 0) allow |= Tp.WRITE;
    if ((lo & Sv.U) !== 0) allow |= Tp.USER;
    if ((lo & Sv.X) !== 0) allow |= Tp.EXEC;
    if ((allow & acc) !== acc) return ~(acc | Pf.PROT);
    const set = (acc & Pf.WRITE) !== 0 ? Sv.A | Sv.D : Sv.A;
    if ((lo & set) !== set) u32[w] = lo | set;
    if (((lo | set) & Sv.D) === 0) allow &= ~Tp.WRITE;
    if ((lo & Sv.G) !== 0) allow |= Tp.GLOBAL;
    if (level === 2) {
      if (pt.kind === "user") this.tlb.huge.insert(page - (page & 0x1fffff), pt.asid, pfn * 4096, allow);
      pfn += Math.floor(page / 4096) & 511;
    }
    if (this.cpumask !== null) this.cpumask.fillsHere(pt.asid);
    return this.tlb.refill(slot, page, pt.asid, pfn * 4096, allow);
  }

  /**
   * The x86-32 walk (no PAE, pgtable_geometry.ts): the page directory entry
   * at PDX = va[31:22], then the page-table entry at PTX = va[21:12], 4 bytes
   * each. Both levels must allow the access (W and U, as on x86-64); there is
   * no NX, so whatever is mapped may be fetched. The directory entry takes A,
   * the leaf A and D. PS in a directory entry is a reserved bit here: memsim
   * runs with CR4.PSE off and makes no 4 MiB pages.
   */
  private walkX86_32(pt: PageTable, acc: number, page: number, slot: number): number {
    this.stats.walks++;
    if (page >= Lim.X86_32) return ~acc;
    const u32 = this.u32;
    const pdw = pt.root * 1024 + (page >>> 22);
    const pde = u32[pdw] as number;
    if ((pde & Pte.P) === 0) return ~acc;
    if ((pde & Pte.PS) !== 0) return ~(acc | Pf.PROT | Pf.RSVD);
    let allow = Tp.WRITE | Tp.USER | Tp.EXEC;
    if ((pde & Pte.RW) === 0) allow &= ~Tp.WRITE;
    if ((pde & Pte.US) === 0) allow &= ~Tp.USER;
    const w = (pde >>> 12) * 1024 + ((page >>> 12) & 1023);
    const pte = u32[w] as number;
    if ((pte & Pte.P) === 0) return ~acc;
    if ((pte & Pte.RW) === 0) allow &= ~Tp.WRITE;
    if ((pte & Pte.US) === 0) allow &= ~Tp.USER;
    if ((allow & acc) !== acc) return ~(acc | Pf.PROT);
    if ((pde & Pte.A) === 0) u32[pdw] = (pde | Pte.A) >>> 0;
    const set = (acc & Pf.WRITE) !== 0 ? Pte.A | Pte.D : Pte.A;
    if ((pte & set) !== set) u32[w] = (pte | set) >>> 0;
    if (((pte | set) & Pte.D) === 0) allow &= ~Tp.WRITE;
    if ((pte & Pte.G) !== 0) allow |= Tp.GLOBAL;
    if (this.cpumask !== null) this.cpumask.fillsHere(pt.asid);
    return this.tlb.refill(slot, page, pt.asid, (pte >>> 12) * 4096, allow);
  }

  /**
   * The translation a walk would give, without side effects (no A/D bits,
   * no TLB fill, no fault): the frame's physical address plus the TLB
   * permission bits it would be cached with (below 4096), or -1 when `va` is
   * not mapped. For checkers and dumps.
   */
  peek(pt: PageTable, va: number): number {
    const u32 = this.u32;
    const geo = pt.geo;
    if (va >= 2 ** geo.vaBits) return -1;
    let table = pt.root;
    let allow = TLB_WRITE | TLB_USER | TLB_EXEC;
    for (let level = pt.top; ; level--) {
      const w = geoEntryAddr(geo, table, geoIndex(geo, va, level)) >>> 2;
      const lo = u32[w] as number;
      const hi = entryHi(geo, u32, w);
      if ((lo & PTE_P) === 0) return -1;
      // The flags word: a geometry whose pointers carry no permissions reads them as granting everything.
      const flags = geo.flags(lo, hi, level);
      if ((flags & PTE_RW) === 0) allow &= ~TLB_WRITE;
      if ((flags & PTE_US) === 0) allow &= ~TLB_USER;
      if ((flags & PTE_NX) !== 0) allow &= ~TLB_EXEC;
      const leaf = level === 1 || ((flags & PTE_PS) !== 0 && level === 2);
      if (!leaf && (lo & geo.leafBits) !== 0) return -1;
      if (leaf) {
        if ((flags & PTE_D) === 0) allow &= ~TLB_WRITE;
        if ((flags & PTE_G) !== 0) allow |= TLB_GLOBAL;
        let pfn = geo.pfn(lo, hi);
        if (level === 2) pfn += Math.floor(va / 4096) & (geo.entriesPerTable - 1);
        return pfn * 4096 + allow;
      }
      table = geo.pfn(lo, hi);
    }
  }

  /** Hands a failed translation to the handler; returns when it was fixed, else oopses. */
  private fault(pt: PageTable, va: number, errorCode: number, tries: number): void {
    const handler = pt.faultHandler;
    if (handler !== null && tries < MAX_FAULT_RETRIES) {
      this.stats.faults++;
      if (handler({ pt, address: va, errorCode })) return;
    }
    this.oops(va, errorCode, handler !== null && tries >= MAX_FAULT_RETRIES);
  }

  /** page_fault_oops: reports and throws KernelOops with Linux's text. */
  oops(va: number, errorCode: number, looping = false): never {
    this.stats.oopses++;
    const text = oopsText(va, errorCode, looping);
    this.printk.report("oops", text);
    throw new KernelOops(va, errorCode, text);
  }
}
