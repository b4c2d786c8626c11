/**
 * Physical RAM: one ArrayBuffer and the typed-array views over it, made once
 * at boot. This layer owns the bytes and nothing else; it knows no frames,
 * owners or addresses other than physical byte offsets.
 *
 * Little-endian like x86: a 32-bit load at pa reads bytes pa..pa+3 with pa the
 * least significant. Aligned accesses use the wide views; unaligned ones are
 * composed from bytes.
 */
import { PAGE_SIZE } from "./types.ts";

/** The smallest and largest RAM a machine may have. */
export const MIN_RAM_BYTES = 1 << 20;
export const MAX_RAM_BYTES = 2 ** 32;

/** The machine's physical memory and its views. */
export class PhysMem {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly bytes: number;
  readonly nrPages: number;

  /** `bytes` must already be validated (a page multiple within the limits). */
  constructor(bytes: number) {
    this.buffer = new ArrayBuffer(bytes);
    this.u8 = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.bytes = bytes;
    this.nrPages = bytes / PAGE_SIZE;
  }

  read8(pa: number): number {
    return this.u8[pa] as number;
  }

  read16(pa: number): number {
    if ((pa & 1) === 0) return this.u16[pa >>> 1] as number;
    return (this.u8[pa] as number) | ((this.u8[pa + 1] as number) << 8);
  }

  read32(pa: number): number {
    if ((pa & 3) === 0) return this.u32[pa >>> 2] as number;
    const u8 = this.u8;
    return ((u8[pa] as number) | ((u8[pa + 1] as number) << 8) | ((u8[pa + 2] as number) << 16) | ((u8[pa + 3] as number) << 24)) >>> 0;
  }

  write8(pa: number, v: number): void {
    this.u8[pa] = v;
  }

  write16(pa: number, v: number): void {
    if ((pa & 1) === 0) {
      this.u16[pa >>> 1] = v;
      return;
    }
    this.u8[pa] = v;
    this.u8[pa + 1] = v >>> 8;
  }

  write32(pa: number, v: number): void {
    if ((pa & 3) === 0) {
      this.u32[pa >>> 2] = v;
      return;
    }
    const u8 = this.u8;
    u8[pa] = v;
    u8[pa + 1] = v >>> 8;
    u8[pa + 2] = v >>> 16;
    u8[pa + 3] = v >>> 24;
  }

  /** Fills `len` bytes from `pa` with `byte`. */
  fill(pa: number, byte: number, len: number): void {
    this.u8.fill(byte, pa, pa + len);
  }

  /** Fills the pages [pfn, pfn + count) with `byte`. */
  fillPages(pfn: number, count: number, byte: number): void {
    const pa = pfn * PAGE_SIZE;
    this.u8.fill(byte, pa, pa + count * PAGE_SIZE);
  }

  /** Copies one page of bytes from frame `src` to frame `dst`. */
  copyPage(dst: number, src: number): void {
    const s = src * PAGE_SIZE;
    this.u8.copyWithin(dst * PAGE_SIZE, s, s + PAGE_SIZE);
  }
}
