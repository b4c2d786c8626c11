/**
 * Paging at boot (Linux arch/x86/mm/init.c init_mem_mapping, head_64.S's
 * init_top_pgt): builds the kernel's page table (init_mm) mapping the direct
 * map of all RAM at PAGE_OFFSET, with 2 MiB leaves wherever a 2 MiB piece of
 * RAM is whole and 4 KiB leaves for the tail, and makes the kernel's memory
 * view go through the MMU.
 *
 * Like Linux's boot page tables, these tables live in the kernel image's data
 * (reserved frames, so they count in neither MemTotal nor PageTables): a
 * 4 GiB machine needs a PML4, one PDPT, four PDs and at most one PT, seven of
 * the eight image frames set aside here. Tables made later (vmalloc, user
 * address spaces) come from the buddy allocator.
 */

import type { KernelEvents } from "../events.ts";
import { panic } from "../panic.ts";
import type { Printk } from "../printk.ts";
import type { PageAllocator } from "./frames.ts";
import type { BootLayout } from "./memblock.ts";
import type { MemMap } from "./memmap.ts";
import { Mmu } from "./mmu.ts";
import type { MmuMemory } from "./mmu_memory.ts";
import { Paging } from "./pgalloc.ts";
import type { PageTable } from "./pgtable.ts";
import { type MmuName, mmuGeometry } from "./pgtable_geometry.ts";
import { HPAGE_PAGES, PAGE_KERNEL } from "./pgtable_types.ts";
import type { PhysMem } from "./physmem.ts";
import { Tlb, type TlbConfig } from "./tlb.ts";
import { PAGE_OFFSET } from "./types.ts";

/** Where the boot page tables sit in the kernel image (frames from its start) and how many there are. */
export const BOOT_PGTABLE_OFFSET = 8;
export const BOOT_PGTABLE_FRAMES = 8;

/** The paging objects boot creates. */
export interface PagingParts {
  readonly tlb: Tlb;
  readonly paging: Paging;
  readonly mmu: Mmu;
  /** The kernel's page table (init_mm.pgd), ASID 0. */
  readonly initMm: PageTable;
  /** Kernel-mode loads and stores through init_mm: `kernel.mem`. */
  readonly mem: MmuMemory;
  /** Pages of the direct map mapped by 4 KiB and by 2 MiB leaves (meminfo DirectMap4k/2M). */
  readonly directMap4k: number;
  readonly directMap2M: number;
}

/** What paging_init needs from boot. */
export interface PagingBoot {
  readonly phys: PhysMem;
  readonly memmap: MemMap;
  readonly buddy: PageAllocator;
  readonly layout: BootLayout;
  readonly printk: Printk;
  readonly debugVm: number;
  readonly tlb?: TlbConfig;
  /** The geometry of user page tables; x86-64 when absent. */
  readonly mmu?: MmuName;
  /** The machine's event bus (the TLB's tlb_flush). */
  readonly events: KernelEvents;
}

/**
 * paging_init: the TLB, the MMU and init_mm with the direct map.
 * Panics when the kernel image cannot hold the boot tables (a build bug).
 */
export function pagingInit(boot: PagingBoot): PagingParts {
  const { phys, memmap, buddy, layout } = boot;
  if (layout.kernelPages < BOOT_PGTABLE_OFFSET + BOOT_PGTABLE_FRAMES) panic("paging_init: kernel image too small for the boot page tables");
  const tlb = new Tlb(boot.tlb, boot.events);
  const paging = new Paging(phys, memmap, buddy, tlb, boot.debugVm);
  paging.geometry = mmuGeometry(boot.mmu ?? "x86-64") ?? panic(`paging_init: no MMU geometry ${boot.mmu}`);
  const first = layout.kernelStart + BOOT_PGTABLE_OFFSET;
  // Popped from the end: the root takes the first frame.
  for (let k = BOOT_PGTABLE_FRAMES - 1; k >= 0; k--) paging.bootPool.push(first + k);
  const initMm = paging.pgdAllocKernel();
  if (initMm === null || initMm.mapRange(PAGE_OFFSET, 0, phys.nrPages, PAGE_KERNEL, { huge: true }) !== "ok") {
    panic("paging_init: out of memory for the direct map");
  }
  paging.bootPool = [];
  const mmu = new Mmu(phys, tlb, paging, boot.printk, boot.debugVm);
  const whole = Math.floor(phys.nrPages / HPAGE_PAGES) * HPAGE_PAGES;
  return {
    tlb,
    paging,
    mmu,
    initMm,
    mem: mmu.view(initMm, "kernel"),
    directMap4k: phys.nrPages - whole,
    directMap2M: whole,
  };
}
