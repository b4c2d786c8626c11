/**
 * Memory as one address space sees it in one mode: loads, stores and bulk
 * copies by virtual address, every one through the MMU (mmu.ts). The kernel's
 * `kernel.mem` is the kernel-mode view of init_mm; a process's memory is the
 * user-mode view of its page table.
 *
 * The fast path of each load or store is a TLB probe done here, on typed
 * arrays, without allocating: the key of the page, one set of `ways` entries,
 * a permission test, then the RAM view. Everything else (a miss, a missing
 * permission or D bit, an unaligned access across a page, a bad address) goes
 * to Mmu.translate. Bulk operations split at page boundaries and move each
 * piece with one typed-array fill/set/copyWithin.
 */
import type { KernelMemory } from "./kmem.ts";
import type { Mmu } from "./mmu.ts";
import type { PageTable } from "./pgtable.ts";
import { ACC_EXEC, ACC_USER, ACC_WRITE } from "./pgtable_types.ts";
import type { Tlb, TlbStats } from "./tlb.ts";

/** Pieces up to this many bytes are copied by a loop: no subarray object for a short string. */
const SMALL_COPY = 64;

/** Whose access: the kernel's or the user program's (the U bit of the error code). */
export type AccessMode = "kernel" | "user";

/** Loads and stores at virtual addresses of one page table, in one mode. */
export class MmuMemory implements KernelMemory {
  // The fields the fast paths read are `declare`d: no class-field
  // definition runs before the constructor, so each property is created
  // holding its final kind of value. A field first defined as undefined
  // and then set to a typed array keeps no map for the JIT, and every
  // access through it pays a map check (about 2 ns per load here).
  /** TLB keys of entries allowing a load / a store in this mode (all NaN once detached). */
  declare private rkeys: Float64Array;
  declare private wkeys: Float64Array;
  declare private base: Uint32Array;
  declare private readonly setMask: number;
  declare private readonly waysShift: number;
  declare private readonly ways: number;
  declare private readonly asid: number;
  declare private readonly u8: Uint8Array;
  declare private readonly u16: Uint16Array;
  declare private readonly u32: Uint32Array;
  declare private tstats: TlbStats;
  /** True once detached: no TLB may serve this view again. */
  declare private gone: boolean;
  /** True in the every-access mode: no key ever matches, so each access reaches Mmu.translate. */
  declare private bypass: boolean;
  /** The TLB entry of the last hit, tried first. */
  declare private last: number;
  /** Access bits of a load, a store and a fetch in this mode. */
  declare readonly readAcc: number;
  declare readonly writeAcc: number;
  declare readonly execAcc: number;

  constructor(
    readonly mmu: Mmu,
    readonly pt: PageTable,
    readonly mode: AccessMode,
  ) {
    const tlb = mmu.tlb;
    this.last = 0;
    this.gone = false;
    this.bypass = false;
    this.base = tlb.base;
    this.setMask = tlb.setMask;
    this.waysShift = tlb.waysShift;
    this.ways = tlb.ways;
    this.asid = pt.asid;
    this.tstats = tlb.stats;
    this.u8 = mmu.phys.u8;
    this.u16 = mmu.phys.u16;
    this.u32 = mmu.phys.u32;
    const u = mode === "user" ? ACC_USER : 0;
    this.readAcc = u;
    this.writeAcc = u | ACC_WRITE;
    this.execAcc = u | ACC_EXEC;
    this.rkeys = tlb.keysFor(this.readAcc);
    this.wkeys = tlb.keysFor(this.writeAcc);
  }

  /**
   * Binds this view to `tlb`, the TLB of the CPU it now runs on
   * (kernel/smp.ts, at a switch of CPU): later hits probe that TLB only.
   * A detached view stays detached. The TLB must have this one's shape.
   */
  useTlb(tlb: Tlb): void {
    if (this.gone || this.tstats === tlb.stats) return;
    this.base = tlb.base;
    this.tstats = tlb.stats;
    this.last = 0;
    if (this.bypass) return;
    this.rkeys = tlb.keysFor(this.readAcc);
    this.wkeys = tlb.keysFor(this.writeAcc);
  }

  /**
   * The every-access mode (Mmu.observe): this view's inline probes never
   * match, as after `detach`, so every load and store takes the slow path
   * into Mmu.translate, which still finds the TLB entry (a hit on the cost
   * clock) and reports the access. The fast path's code is unchanged.
   */
  bypassTlb(): void {
    this.bypass = true;
    this.rkeys = this.wkeys = new Float64Array(this.mmu.tlb.entries).fill(Number.NaN);
  }

  /**
   * The address space is gone: no TLB entry may match any more (its ASID
   * may be reused), so every access takes the slow path and faults.
   */
  detach(): void {
    // Key arrays that match nothing, rather than an ASID no key has (a
    // fraction would turn the field into a double for every view).
    this.gone = true;
    this.rkeys = this.wkeys = new Float64Array(this.mmu.tlb.entries).fill(Number.NaN);
  }

  /**
   * The TLB entry for va's page in `keys` (rkeys or wkeys), else -1. Never
   * walks. Each access first tries the entry of the last hit inline (way
   * prediction: the TLB's arrays stay the only truth, so a flush needs no
   * notice here); this is the rest of the set, on a miss of that guess.
   */
  private probeSet(va: number, keys: Float64Array): number {
    const key = va - (va & 4095) + this.asid;
    let i = ((va >>> 12) & this.setMask) << this.waysShift;
    const end = i + this.ways;
    for (; i < end; i++) {
      if (keys[i] === key) {
        this.last = i;
        return i;
      }
    }
    return -1;
  }

  /** The physical address of `va` for `acc` (an access of `size` bytes, default 1), through the full MMU path. */
  pa(va: number, acc: number, size = 1): number {
    return this.mmu.translate(this.pt, va, acc, size);
  }

  // Each load and store: a hit on the last entry is a tag compare and a
  // typed-array access, written out in place so that it inlines into the
  // caller whole; anything else goes to the *Set function below it.

  read8(va: number): number {
    const last = this.last;
    if (this.rkeys[last] !== va - (va & 4095) + this.asid) return this.read8Set(va);
    this.tstats.hits++;
    return this.u8[(this.base[last] as number) + (va & 4095)] as number;
  }

  private read8Set(va: number): number {
    const i = this.probeSet(va, this.rkeys);
    if (i < 0) return this.u8[this.pa(va, this.readAcc)] as number;
    this.tstats.hits++;
    return this.u8[(this.base[i] as number) + (va & 4095)] as number;
  }

  read16(va: number): number {
    const last = this.last;
    if (this.rkeys[last] !== va - (va & 4095) + this.asid || (va & 1) !== 0) return this.read16Set(va);
    this.tstats.hits++;
    return this.u16[((this.base[last] as number) + (va & 4095)) >>> 1] as number;
  }

  private read16Set(va: number): number {
    const i = this.probeSet(va, this.rkeys);
    if (i < 0 || (va & 1) !== 0) return this.read16Slow(va);
    this.tstats.hits++;
    return this.u16[((this.base[i] as number) + (va & 4095)) >>> 1] as number;
  }

  read32(va: number): number {
    const last = this.last;
    if (this.rkeys[last] !== va - (va & 4095) + this.asid || (va & 3) !== 0) return this.read32Set(va);
    this.tstats.hits++;
    return this.u32[((this.base[last] as number) + (va & 4095)) >>> 2] as number;
  }

  private read32Set(va: number): number {
    const i = this.probeSet(va, this.rkeys);
    if (i < 0 || (va & 3) !== 0) return this.read32Slow(va);
    this.tstats.hits++;
    return this.u32[((this.base[i] as number) + (va & 4095)) >>> 2] as number;
  }

  write8(va: number, v: number): void {
    const last = this.last;
    if (this.wkeys[last] !== va - (va & 4095) + this.asid) {
      this.write8Set(va, v);
      return;
    }
    this.tstats.hits++;
    this.u8[(this.base[last] as number) + (va & 4095)] = v;
  }

  private write8Set(va: number, v: number): void {
    const i = this.probeSet(va, this.wkeys);
    if (i < 0) {
      this.u8[this.pa(va, this.writeAcc)] = v;
      return;
    }
    this.tstats.hits++;
    this.u8[(this.base[i] as number) + (va & 4095)] = v;
  }

  write16(va: number, v: number): void {
    const last = this.last;
    if (this.wkeys[last] !== va - (va & 4095) + this.asid || (va & 1) !== 0) {
      this.write16Set(va, v);
      return;
    }
    this.tstats.hits++;
    this.u16[((this.base[last] as number) + (va & 4095)) >>> 1] = v;
  }

  private write16Set(va: number, v: number): void {
    const i = this.probeSet(va, this.wkeys);
    if (i < 0 || (va & 1) !== 0) {
      this.write16Slow(va, v);
      return;
    }
    this.tstats.hits++;
    this.u16[((this.base[i] as number) + (va & 4095)) >>> 1] = v;
  }

  write32(va: number, v: number): void {
    const last = this.last;
    if (this.wkeys[last] !== va - (va & 4095) + this.asid || (va & 3) !== 0) {
      this.write32Set(va, v);
      return;
    }
    this.tstats.hits++;
    this.u32[((this.base[last] as number) + (va & 4095)) >>> 2] = v;
  }

  private write32Set(va: number, v: number): void {
    const i = this.probeSet(va, this.wkeys);
    if (i < 0 || (va & 3) !== 0) {
      this.write32Slow(va, v);
      return;
    }
    this.tstats.hits++;
    this.u32[((this.base[i] as number) + (va & 4095)) >>> 2] = v;
  }

  /** An instruction fetch of 32 bits: like read32, but needs execute permission (NX clear). */
  fetch32(va: number): number {
    if ((va & 4095) <= 4092) return this.mmu.phys.read32(this.pa(va, this.execAcc));
    let v = 0;
    for (let k = 0; k < 4; k++) v |= (this.u8[this.pa(va + k, this.execAcc)] as number) << (8 * k);
    return v >>> 0;
  }

  private read16Slow(va: number): number {
    if ((va & 4095) !== 4095) return this.mmu.phys.read16(this.pa(va, this.readAcc, 2));
    return (this.u8[this.pa(va, this.readAcc)] as number) | ((this.u8[this.pa(va + 1, this.readAcc)] as number) << 8);
  }

  private read32Slow(va: number): number {
    if ((va & 4095) <= 4092) return this.mmu.phys.read32(this.pa(va, this.readAcc, 4));
    let v = 0;
    for (let k = 0; k < 4; k++) v |= (this.u8[this.pa(va + k, this.readAcc)] as number) << (8 * k);
    return v >>> 0;
  }

  private write16Slow(va: number, v: number): void {
    if ((va & 4095) !== 4095) {
      this.mmu.phys.write16(this.pa(va, this.writeAcc, 2), v);
      return;
    }
    this.u8[this.pa(va, this.writeAcc)] = v;
    this.u8[this.pa(va + 1, this.writeAcc)] = v >>> 8;
  }

  private write32Slow(va: number, v: number): void {
    if ((va & 4095) <= 4092) {
      this.mmu.phys.write32(this.pa(va, this.writeAcc, 4), v);
      return;
    }
    for (let k = 0; k < 4; k++) this.u8[this.pa(va + k, this.writeAcc)] = v >>> (8 * k);
  }

  /** Copies `len` bytes out, page by page. Throws RangeError on a bad length or address. */
  read(va: number, len: number): Uint8Array {
    checkSpan(va, len);
    const out = new Uint8Array(len);
    const u8 = this.u8;
    for (let done = 0; done < len; ) {
      const at = va + done;
      const chunk = Math.min(len - done, 4096 - (at & 4095));
      const pa = this.pa(at, this.readAcc, chunk);
      if (chunk <= SMALL_COPY) for (let k = 0; k < chunk; k++) out[done + k] = u8[pa + k] as number;
      else out.set(u8.subarray(pa, pa + chunk), done);
      done += chunk;
    }
    return out;
  }

  /** Copies `bytes` in, page by page. Throws RangeError on a bad address. */
  write(va: number, bytes: Uint8Array): void {
    const len = bytes.length;
    checkSpan(va, len);
    const u8 = this.u8;
    for (let done = 0; done < len; ) {
      const at = va + done;
      const chunk = Math.min(len - done, 4096 - (at & 4095));
      const pa = this.pa(at, this.writeAcc, chunk);
      if (chunk <= SMALL_COPY) for (let k = 0; k < chunk; k++) u8[pa + k] = bytes[done + k] as number;
      else u8.set(bytes.subarray(done, done + chunk), pa);
      done += chunk;
    }
  }

  /** Sets `len` bytes from `va` to `byte`, page by page. Throws RangeError on a bad length or address. */
  fill(va: number, byte: number, len: number): void {
    checkSpan(va, len);
    for (let done = 0; done < len; ) {
      const at = va + done;
      const chunk = Math.min(len - done, 4096 - (at & 4095));
      const pa = this.pa(at, this.writeAcc, chunk);
      this.u8.fill(byte, pa, pa + chunk);
      done += chunk;
    }
  }

  /**
   * memmove: copies `len` bytes from `src` to `dst`; overlapping ranges copy
   * as if through a buffer. Pieces end at page boundaries of both ranges; the
   * destination is translated first, so a fault it takes (a COW break) cannot
   * leave a stale source address. Throws RangeError on a bad length or address.
   */
  copy(dst: number, src: number, len: number): void {
    checkSpan(dst, len);
    checkSpan(src, len);
    if (dst <= src || dst >= src + len) {
      for (let done = 0; done < len; ) {
        const s = src + done;
        const d = dst + done;
        const chunk = Math.min(len - done, 4096 - (s & 4095), 4096 - (d & 4095));
        const dpa = this.pa(d, this.writeAcc, chunk);
        const spa = this.pa(s, this.readAcc, chunk);
        this.u8.copyWithin(dpa, spa, spa + chunk);
        done += chunk;
      }
      return;
    }
    for (let left = len; left > 0; ) {
      const sEnd = src + left;
      const dEnd = dst + left;
      const chunk = Math.min(left, ((sEnd - 1) & 4095) + 1, ((dEnd - 1) & 4095) + 1);
      const dpa = this.pa(dEnd - chunk, this.writeAcc, chunk);
      const spa = this.pa(sEnd - chunk, this.readAcc, chunk);
      this.u8.copyWithin(dpa, spa, spa + chunk);
      left -= chunk;
    }
  }
}

/**
 * Throws RangeError unless len is a non-negative integer and va an integer.
 * An address outside the 48-bit space faults like any unmapped one.
 */
function checkSpan(va: number, len: number): void {
  if (!(Number.isInteger(len) && len >= 0)) throw new RangeError(`mmu: length ${len} is not a non-negative integer`);
  if (!Number.isInteger(va)) throw new RangeError(`mmu: address ${va} is not an integer`);
}
