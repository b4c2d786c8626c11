/**
 * Kernel memory access by kernel virtual address. Until page tables exist
 * this is the direct map as arithmetic: kva = PAGE_OFFSET + pa. The page-table
 * layer replaces the translation with a walk through the MMU; callers keep
 * this API.
 */
import { panic } from "../panic.ts";
import type { PhysMem } from "./physmem.ts";
import { formatVa, PAGE_OFFSET, PAGE_SIZE } from "./types.ts";

/** Loads and stores at kernel virtual addresses. */
export interface KernelMemory {
  read8(kva: number): number;
  read16(kva: number): number;
  read32(kva: number): number;
  write8(kva: number, v: number): void;
  write16(kva: number, v: number): void;
  write32(kva: number, v: number): void;
  /** Copies `len` bytes out. */
  read(kva: number, len: number): Uint8Array;
  /** Copies `bytes` in. */
  write(kva: number, bytes: Uint8Array): void;
  fill(kva: number, byte: number, len: number): void;
}

/** The direct map: every byte of RAM at PAGE_OFFSET + pa. */
export class DirectMap implements KernelMemory {
  private readonly end: number;

  constructor(private readonly phys: PhysMem) {
    this.end = PAGE_OFFSET + phys.bytes;
  }

  /** The physical address of `kva`, or a kernel oops. */
  pa(kva: number, len: number): number {
    if (!(kva >= PAGE_OFFSET && kva + len <= this.end)) {
      const shown = Number.isFinite(kva) && kva >= 0 ? formatVa(kva) : String(kva);
      panic(`BUG: unable to handle page fault for address: ${shown} (not in the direct map)`);
    }
    return kva - PAGE_OFFSET;
  }

  read8(kva: number): number {
    return this.phys.read8(this.pa(kva, 1));
  }
  read16(kva: number): number {
    return this.phys.read16(this.pa(kva, 2));
  }
  read32(kva: number): number {
    return this.phys.read32(this.pa(kva, 4));
  }
  write8(kva: number, v: number): void {
    this.phys.write8(this.pa(kva, 1), v);
  }
  write16(kva: number, v: number): void {
    this.phys.write16(this.pa(kva, 2), v);
  }
  write32(kva: number, v: number): void {
    this.phys.write32(this.pa(kva, 4), v);
  }
  read(kva: number, len: number): Uint8Array {
    const pa = this.pa(kva, len);
    return this.phys.u8.slice(pa, pa + len);
  }
  write(kva: number, bytes: Uint8Array): void {
    this.phys.u8.set(bytes, this.pa(kva, bytes.length));
  }
  fill(kva: number, byte: number, len: number): void {
    this.phys.fill(this.pa(kva, len), byte, len);
  }
}

/** pfn -> its direct-map address. */
export function pfnToKva(pfn: number): number {
  return PAGE_OFFSET + pfn * PAGE_SIZE;
}

/**
 * virt_to_phys for a direct-map address: pa = kva - PAGE_OFFSET, no checks.
 * Layers that keep objects in slab memory use it to reach fields through
 * the RAM views (`phys.u32[virtToPhys(obj + 8) >>> 2]`).
 */
export function virtToPhys(kva: number): number {
  return kva - PAGE_OFFSET;
}

/** phys_to_virt: the direct-map address of physical address `pa`, no checks. */
export function physToVirt(pa: number): number {
  return PAGE_OFFSET + pa;
}

/**
 * Field access to kernel objects (slab objects) by their direct-map kva:
 * 32-bit words and 64-bit values stored as two little-endian words (lo, hi).
 * Each object type extends this with its named fields.
 */
export class ObjectFields {
  protected readonly u32: Uint32Array;

  constructor(phys: PhysMem) {
    this.u32 = phys.u32;
  }

  /** The u32 index of the word at byte `off` of the object at `kva`. */
  protected w(kva: number, off: number): number {
    return (kva - PAGE_OFFSET + off) >>> 2;
  }

  protected get64(kva: number, off: number): number {
    const i = this.w(kva, off);
    return (this.u32[i + 1] as number) * 4294967296 + (this.u32[i] as number);
  }

  protected set64(kva: number, off: number, v: number): void {
    const i = this.w(kva, off);
    this.u32[i] = v >>> 0;
    this.u32[i + 1] = Math.floor(v / 4294967296);
  }
}
