/**
 * Shared anonymous memory (Linux mm/shmem.c, reduced): the object behind a
 * MAP_SHARED|MAP_ANONYMOUS mapping, so that every VMA mapping it (after a
 * split, or in a forked child) finds the same frames.
 *
 * An object is a 16-byte kmalloc'd header and a two-level page index, all
 * in RAM:
 *
 *   header (16 bytes)                    root (kmalloc'd, 4 bytes per leaf)
 *   +--------+--------+--------+-------+   +-----------+-----------+---
 *   | users  | pages  | root kva (lo/hi)|   pages bit 31: charged to commit   | leaf pfn+1| leaf pfn+1| ...
 *   +--------+--------+--------+-------+   +-----------+-----------+---
 *   leaf: one zeroed frame of 1024 u32 entries, page pfn + 1 (0 = none yet)
 *
 * users counts the VMAs naming the object; the object and its pages go when
 * it drops to zero. Each page holds one reference for the object plus one
 * per page-table entry mapping it. The JS side keeps only id -> header kva.
 *
 * struct page of an object's page names it (page->mapping, page->index),
 * so that migration can find its slot and its mappings from the frame:
 *   word 7  mapping: SHMEM_MAPPING | object id (bit 31 tells it from an
 *           anon group, which never has it, and from an inode number)
 *   word 8  index: the page's index in the object
 * Both are cleared before the page is freed.
 */

import { invariant, panic } from "../panic.ts";
import type { CommitAccounting } from "./commit.ts";
import type { PageAllocator } from "./frames.ts";
import { __GFP_ZERO, GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from "./gfp.ts";
import { type MemMap, PG_alloc, PG_dirty, SP_INDEX, SP_MAPPING } from "./memmap.ts";
import type { PhysMem } from "./physmem.ts";
import { PAGE_OFFSET } from "./types.ts";

/** kmalloc and kfree, as shmem uses them. */
export interface KmallocApi {
  kmalloc(size: number, gfp?: number): number;
  kfree(kva: number): void;
}

const LEAF_ENTRIES = 1024;
const H_USERS = 0;
const H_PAGES = 1;
const H_ROOT_LO = 2;
const H_ROOT_HI = 3;
/** Bit 31 of the pages word: the object's size is charged to commit. */
const CHARGED = 0x80000000;
/** The largest root kmalloc gives (4 MiB): 1M leaves, 2^30 pages. */
const MAX_LEAVES = 1 << 20;

/** Bit 31 of struct page's mapping word: the page belongs to the shmem object named by the low bits. */
export const SHMEM_MAPPING = 0x80000000;

/** The shared anonymous objects of a machine. */
export class Shmem {
  private readonly objects = new Map<number, number>();
  private nextId = 1;
  /** Pages held by all objects (meminfo Shmem). */
  nrPages = 0;
  private readonly u32: Uint32Array;

  constructor(
    phys: PhysMem,
    private readonly buddy: PageAllocator,
    private readonly slab: KmallocApi,
    private readonly commit: CommitAccounting,
    private readonly memmap: MemMap,
  ) {
    this.u32 = phys.u32;
  }

  private hw(id: number, k: number): number {
    return ((this.objects.get(id) as number) - PAGE_OFFSET + k * 4) >>> 2;
  }

  private root(id: number): number {
    const i = this.hw(id, 0);
    return (this.u32[i + H_ROOT_HI] as number) * 4294967296 + (this.u32[i + H_ROOT_LO] as number);
  }

  /**
   * A new object of `pages` pages with one user, its size charged to commit
   * when `charge` (shmem_acct_size). Returns its id; 0 when out of memory or
   * too large; -1 when commit refuses the charge.
   */
  create(pages: number, charge: boolean): number {
    const leaves = Math.ceil(pages / LEAF_ENTRIES);
    if (leaves > MAX_LEAVES) return 0;
    if (charge && !this.commit.charge(pages)) return -1;
    const header = this.slab.kmalloc(16, GFP_KERNEL);
    const root = header === 0 ? 0 : this.slab.kmalloc(leaves * 4, GFP_KERNEL | __GFP_ZERO);
    if (root === 0) {
      if (header !== 0) this.slab.kfree(header);
      if (charge) this.commit.uncharge(pages);
      return 0;
    }
    const id = this.nextId++;
    this.objects.set(id, header);
    const i = this.hw(id, 0);
    this.u32[i + H_USERS] = 1;
    this.u32[i + H_PAGES] = (pages | (charge ? CHARGED : 0)) >>> 0;
    this.u32[i + H_ROOT_LO] = root >>> 0;
    this.u32[i + H_ROOT_HI] = Math.floor(root / 4294967296);
    return id;
  }

  /** One more VMA names the object. */
  get(id: number): void {
    const i = this.hw(id, 0);
    this.u32[i] = (this.u32[i] as number) + 1;
  }

  /** One VMA fewer names the object; the last one frees it and its pages. */
  put(id: number): void {
    const i = this.hw(id, 0);
    const users = (this.u32[i] as number) - 1;
    this.u32[i] = users;
    if (users === 0) this.destroy(id);
  }

  /** Pages the object covers. */
  size(id: number): number {
    return ((this.u32[this.hw(id, H_PAGES)] as number) & ~CHARGED) >>> 0;
  }

  /** Pages charged to commit by the object (its size, or 0 for MAP_NORESERVE). */
  charged(id: number): number {
    return (this.u32[this.hw(id, H_PAGES)] as number) & CHARGED ? this.size(id) : 0;
  }

  /** Users of the object (VMAs naming it). */
  users(id: number): number {
    return this.u32[this.hw(id, H_USERS)] as number;
  }

  /** The frame of page `index`, allocated zeroed when missing; -1 when out of memory. */
  getPage(id: number, index: number): number {
    const rootW = (this.root(id) - PAGE_OFFSET) >>> 2;
    const li = Math.floor(index / LEAF_ENTRIES);
    let leaf = (this.u32[rootW + li] as number) - 1;
    if (leaf < 0) {
      leaf = this.buddy.allocPages(0, GFP_KERNEL | __GFP_ZERO);
      if (leaf < 0) return -1;
      this.u32[rootW + li] = leaf + 1;
    }
    const slot = leaf * 1024 + (index % LEAF_ENTRIES);
    let pfn = (this.u32[slot] as number) - 1;
    if (pfn < 0) {
      pfn = this.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_ZERO);
      if (pfn < 0) return -1;
      this.u32[slot] = pfn + 1;
      this.memmap.setUserWord(pfn, SP_MAPPING, (SHMEM_MAPPING | id) >>> 0);
      this.memmap.setUserWord(pfn, SP_INDEX, index);
      this.nrPages++;
    }
    return pfn;
  }

  /** The frame of page `index` if it exists, else -1 (never allocates). */
  findPage(id: number, index: number): number {
    const rootW = (this.root(id) - PAGE_OFFSET) >>> 2;
    const leaf = (this.u32[rootW + Math.floor(index / LEAF_ENTRIES)] as number) - 1;
    return leaf < 0 ? -1 : (this.u32[leaf * 1024 + (index % LEAF_ENTRIES)] as number) - 1;
  }

  /**
   * Frees pages [from, to) of the object (a punched hole): later faults get
   * fresh zeroed pages. The caller unmaps them from every mapping first, so
   * the object holds the only reference.
   */
  removePages(id: number, from: number, to: number): void {
    const rootW = (this.root(id) - PAGE_OFFSET) >>> 2;
    for (let index = from; index < Math.min(to, this.size(id)); index++) {
      const leaf = (this.u32[rootW + Math.floor(index / LEAF_ENTRIES)] as number) - 1;
      if (leaf < 0) continue;
      const slot = leaf * 1024 + (index % LEAF_ENTRIES);
      const pfn = (this.u32[slot] as number) - 1;
      if (pfn < 0) continue;
      this.u32[slot] = 0;
      this.freePage(pfn);
    }
  }

  /** The object's last reference to page `pfn` goes: its struct page forgets the object first. */
  private freePage(pfn: number): void {
    this.memmap.setUserWord(pfn, SP_MAPPING, 0);
    this.memmap.setUserWord(pfn, SP_INDEX, 0);
    this.buddy.freePages(pfn, 0);
    this.nrPages--;
  }

  /**
   * Whether frame `pfn` is a page of a shmem object (an allocated order-0
   * page whose mapping word carries SHMEM_MAPPING), as migration asks.
   */
  isShmemPage(pfn: number): boolean {
    const mm = this.memmap;
    // An object's page carries no flag but PG_alloc and, once written, PG_dirty (no slab, page-table or compound bits).
    if ((mm.flags(pfn) & 0xffff & ~PG_dirty) !== PG_alloc || mm.order(pfn) !== 0) return false;
    return (mm.userWord(pfn, SP_MAPPING) & SHMEM_MAPPING) !== 0;
  }

  /**
   * Migration's half of the object (shmem_migrate_folio): frame `to`, whose
   * struct page is a copy of `pfn`'s, takes `pfn`'s slot in the object's
   * index. Panics when the slot does not hold `pfn`.
   */
  replacePage(pfn: number, to: number): void {
    const id = (this.memmap.userWord(pfn, SP_MAPPING) & ~SHMEM_MAPPING) >>> 0;
    const index = this.memmap.userWord(pfn, SP_INDEX);
    if (!this.objects.has(id) || this.findPage(id, index) !== pfn)
      panic(`shmem replacePage: pfn 0x${pfn.toString(16)} is not page ${index} of object ${id}`);
    const rootW = (this.root(id) - PAGE_OFFSET) >>> 2;
    const leaf = (this.u32[rootW + Math.floor(index / LEAF_ENTRIES)] as number) - 1;
    this.u32[leaf * 1024 + (index % LEAF_ENTRIES)] = to + 1;
  }

  private destroy(id: number): void {
    const root = this.root(id);
    const rootW = (root - PAGE_OFFSET) >>> 2;
    const leaves = Math.ceil(this.size(id) / LEAF_ENTRIES);
    for (let li = 0; li < leaves; li++) {
      const leaf = (this.u32[rootW + li] as number) - 1;
      if (leaf < 0) continue;
      for (let s = leaf * 1024; s < leaf * 1024 + LEAF_ENTRIES; s++) {
        const pfn = (this.u32[s] as number) - 1;
        if (pfn >= 0) this.freePage(pfn);
      }
      this.buddy.freePages(leaf, 0);
    }
    this.commit.uncharge(this.charged(id));
    this.slab.kfree(root);
    this.slab.kfree(this.objects.get(id) as number);
    this.objects.delete(id);
  }

  /**
   * The SHMEM checker: every page of every object is allocated and its
   * struct page names that object and index (SHMEM-1), and the pages add up
   * to nrPages (SHMEM-2). Throws InvariantViolation.
   */
  check(): void {
    const mm = this.memmap;
    let pages = 0;
    for (const id of this.objects.keys()) {
      const rootW = (this.root(id) - PAGE_OFFSET) >>> 2;
      const leaves = Math.ceil(this.size(id) / LEAF_ENTRIES);
      for (let li = 0; li < leaves; li++) {
        const leaf = (this.u32[rootW + li] as number) - 1;
        if (leaf < 0) continue;
        for (let k = 0; k < LEAF_ENTRIES; k++) {
          const pfn = (this.u32[leaf * 1024 + k] as number) - 1;
          if (pfn < 0) continue;
          pages++;
          const index = li * LEAF_ENTRIES + k;
          invariant(
            this.isShmemPage(pfn) && mm.userWord(pfn, SP_MAPPING) === (SHMEM_MAPPING | id) >>> 0 && mm.userWord(pfn, SP_INDEX) === index,
            "SHMEM-1",
            `page ${index} of object ${id} at pfn 0x${pfn.toString(16)} is named mapping 0x${mm.userWord(pfn, SP_MAPPING).toString(16)} index ${mm.userWord(pfn, SP_INDEX)}`,
          );
        }
      }
    }
    invariant(pages === this.nrPages, "SHMEM-2", `the objects hold ${pages} pages, nrPages is ${this.nrPages}`);
  }

  /** Live object ids, for checkers and stats. */
  ids(): number[] {
    return [...this.objects.keys()];
  }
}
