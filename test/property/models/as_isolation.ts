/**
 * Isolation by page-table walk: every present user entry of every live
 * process is read through the page table's explicit debug walk
 * (PageTable.walkRange, ptePfn, pteFlags) and held against the model:
 *
 *   - an entry exists only where the model has a page, and is writable only
 *     where the model's protection allows a write;
 *   - a frame reachable from two places belongs to one piece of content the
 *     model says they share: the same private content (after fork, before a
 *     write; then no entry of it is writable), the same page of one shared
 *     object, or the zero page (PTE_SPECIAL, all zero);
 *   - no user entry names a frame the kernel keeps for itself (page tables,
 *     slab, reserved, free or vmalloc frames).
 */
import type { PageTable, PteVisitor } from "../../../sim/index.ts";
import { PTE_P, PTE_RW, PTE_SPECIAL, TASK_SIZE } from "../../../sim/index.ts";
import { fail, type Model, type MPage, PAGE, type Priv, type Real, writable } from "./as_model.ts";

// memmap flag bits of frames no user entry may name (kernel/mm/memmap.ts).
const PG_reserved = 1 << 0;
const PG_buddy = 1 << 1;
const PG_pcp = 1 << 2;
const PG_slab = 1 << 6;
const PG_pgtable = 1 << 7;
const PG_vmalloc = 1 << 9;
const KERNEL_ONLY: Array<[number, string]> = [
  [PG_reserved, "reserved"],
  [PG_buddy, "free (in the buddy allocator)"],
  [PG_pcp, "free (on a per-CPU list)"],
  [PG_slab, "slab"],
  [PG_pgtable, "page-table"],
  [PG_vmalloc, "vmalloc"],
];

/** One mapping of a frame: who maps it, where, and what the model says it is. */
interface Holder {
  slot: number;
  va: number;
  key: string;
  rw: boolean;
}

class Walk implements PteVisitor {
  pt: PageTable | null = null;
  slot = 0;
  pages: Map<number, MPage> = new Map();
  readonly holders = new Map<number, Holder>();
  readonly ids = new WeakMap<Priv, number>();
  nextId = 1;

  constructor(
    private readonly real: Real,
    private readonly zeroPfn: number,
  ) {}

  private privKey(p: Priv): string {
    let id = this.ids.get(p);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(p, id);
    }
    return `private content #${id}`;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P)) return;
    const where = `process #${this.slot} at 0x${va.toString(16)}`;
    if (level !== 1) fail(`${where}: a 2 MiB user mapping`);
    const pfn = pt.ptePfn(ptep);
    const pg = this.pages.get(va / PAGE);
    const rw = (flags & PTE_RW) !== 0;
    if (flags & PTE_SPECIAL) {
      if (pfn !== this.zeroPfn) fail(`${where}: a special entry for frame ${pfn}, not the zero page`);
      if (rw) fail(`${where}: the zero page mapped writable`);
      if (pg?.shm) fail(`${where}: a shared page maps the zero page`);
      if (pg?.priv?.bytes?.some((b) => b !== 0)) fail(`${where}: written content, but the entry maps the zero page`);
      return;
    }
    if (pfn === this.zeroPfn) fail(`${where}: the zero page mapped without PTE_SPECIAL`);
    const memmap = this.real.m.kernel.memmap;
    for (const [bit, what] of KERNEL_ONLY) if (memmap.testFlag(pfn, bit)) fail(`${where}: a user entry names ${what} frame ${pfn}`);
    let key = "unmodelled (stack)";
    if (pg) {
      if (rw && !writable(pg.prot)) fail(`${where}: a writable entry in a page the model holds read-only`);
      key = pg.shm ? `shared object ${pg.shm.id} page ${pg.index}` : pg.priv ? this.privKey(pg.priv) : "never-written private page";
    } else if (va < 2 ** 46) fail(`${where}: a present entry where the model has no mapping`);
    this.share(pfn, { slot: this.slot, va, key, rw });
  }

  private share(pfn: number, h: Holder): void {
    const first = this.holders.get(pfn);
    if (!first) {
      this.holders.set(pfn, h);
      return;
    }
    const a = `process #${first.slot} at 0x${first.va.toString(16)}`;
    const b = `process #${h.slot} at 0x${h.va.toString(16)}`;
    if (first.key !== h.key || first.key === "never-written private page")
      fail(`frame ${pfn} is reachable from ${a} (${first.key}) and ${b} (${h.key})`);
    if (first.key.startsWith("private") && (first.rw || h.rw)) fail(`frame ${pfn} is shared copy-on-write by ${a} and ${b}, but writable`);
  }
}

/** Walks every live process's page table against the model; throws ModelMismatch at the first breach. */
export function checkIsolation(model: Model, real: Real): void {
  const walk = new Walk(real, real.m.kernel.layout.kernelStart);
  model.procs.forEach((mp, slot) => {
    const p = real.procs[slot];
    if (!mp || !p) return;
    walk.pt = p.mm.pt;
    walk.slot = slot;
    walk.pages = mp.pages;
    p.mm.pt.walkRange(0, TASK_SIZE, walk);
  });
}
