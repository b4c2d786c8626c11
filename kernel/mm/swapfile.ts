/**
 * The swap device (Linux mm/swapfile.c): one swap area of page-sized slots,
 * its storage, the swap map and slot allocation, and /proc/swaps.
 *
 * Owns: the slots' bytes (ArrayBuffers of their own, apart from RAM, made a
 * chunk of 256 slots at a time on first use, so a large `swapBytes` costs
 * nothing until pages go out), the swap map (per slot: how many swap entries
 * in page tables name it, Linux's swap_map count) and the swap cache index
 * (per slot: the frame that holds it in RAM, or -1; the cache itself is
 * swap_state.ts). Calls nothing above it.
 *
 * A slot is in use while its count is above 0 or it has a page in the swap
 * cache (Linux's SWAP_HAS_CACHE); otherwise it is free. Slots are handed out
 * lowest first. Unlike a mkswap'd area, there is no header page: every slot
 * of the device is usable, so SwapTotal and CommitLimit's swap part are the
 * whole `swapBytes`.
 *
 * Words: slot = one page of the device (Linux: a swap offset); type = the
 * device's number in a swap entry (always 0: memsim has one device).
 */
import { panic } from "../panic.ts";
import type { FailPoint } from "./fault_inject.ts";

/** Slots per chunk of storage and maps (1 MiB of data). */
const CHUNK_SLOTS = 256;
const SLOT_BYTES = 4096;
/** The name /proc/swaps shows for the device. */
export const SWAP_DEVICE_NAME = "/dev/vdb";
/** The priority swapon gives the first area without one (Linux starts at -2). */
export const SWAP_PRIORITY = -2;

/** One chunk of slots: data made on first write, counts and cache index. */
class SwapChunk {
  data: Uint8Array | null = null;
  readonly count = new Uint32Array(CHUNK_SLOTS);
  readonly cache = new Int32Array(CHUNK_SLOTS).fill(-1);
  /** swap_cgroup: the memory cgroup charged for the slot (0 = none). */
  readonly memcg = new Uint16Array(CHUNK_SLOTS);
}

/** Counters shown in vmstat. */
export class SwapStats {
  /** Pages read from the device (swap-in). */
  pswpin = 0;
  /** Pages written to the device (swap-out). */
  pswpout = 0;
}

/** The machine's one swap area (type 0). */
export class SwapDevice {
  readonly nrSlots: number;
  /** Slots in use (count > 0 or cached). */
  inuse = 0;
  /** Pages in the swap cache (SwapCached). */
  nrCached = 0;
  readonly stats = new SwapStats();
  /** No free slot lies below this one. */
  private lowest = 0;
  private readonly chunks: Array<SwapChunk | undefined> = [];
  /** Gives back the swap charge of group `id` when a slot recording it is freed (memcontrol.ts sets it). */
  swapUncharge: ((id: number) => void) | null = null;

  constructor(
    bytes: number,
    /** Fails a slot allocation (the swap area looks full). */
    readonly failAlloc: FailPoint,
    /** Fails a slot read or write (an I/O error). */
    readonly failIo: FailPoint,
  ) {
    this.nrSlots = Math.floor(bytes / SLOT_BYTES);
  }

  /** Panics when `slot` is not a slot of this device. */
  checkSlot(what: string, slot: number): void {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.nrSlots))
      panic(`${what}: bad swap offset ${slot} (device has ${this.nrSlots})`);
  }

  private chunk(slot: number): SwapChunk {
    const i = Math.floor(slot / CHUNK_SLOTS);
    let c = this.chunks[i];
    if (c === undefined) {
      c = new SwapChunk();
      this.chunks[i] = c;
    }
    return c;
  }

  /** How many swap entries name `slot` (swp_swapcount). */
  count(slot: number): number {
    const c = this.chunks[Math.floor(slot / CHUNK_SLOTS)];
    return c === undefined ? 0 : (c.count[slot % CHUNK_SLOTS] as number);
  }

  /** The frame holding `slot` in the swap cache, or -1. */
  cachePfn(slot: number): number {
    const c = this.chunks[Math.floor(slot / CHUNK_SLOTS)];
    return c === undefined ? -1 : (c.cache[slot % CHUNK_SLOTS] as number);
  }

  /** True when `slot` is in use. */
  inUse(slot: number): boolean {
    return this.count(slot) !== 0 || this.cachePfn(slot) >= 0;
  }

  /**
   * get_swap_page: the lowest free slot, taken for the swap cache with
   * frame `pfn` (the caller marks the page). Returns -1 when every slot is
   * in use or the allocation is failed by injection.
   */
  allocSlot(pfn: number): number {
    if (this.failAlloc.armed && this.failAlloc.shouldFail(0)) return -1;
    for (let slot = this.lowest; slot < this.nrSlots; slot++) {
      if (this.inUse(slot)) continue;
      this.chunk(slot).cache[slot % CHUNK_SLOTS] = pfn;
      this.inuse++;
      this.lowest = slot + 1;
      return slot;
    }
    this.lowest = this.nrSlots;
    return -1;
  }

  /** Sets or clears (-1) the swap cache frame of an in-use slot; the slot is freed when nothing holds it. */
  setCache(slot: number, pfn: number): void {
    this.chunk(slot).cache[slot % CHUNK_SLOTS] = pfn;
    if (pfn < 0) this.releaseIfUnused(slot);
  }

  /** swap_duplicate: one more swap entry names `slot`. Panics when the slot is free. */
  dup(slot: number): void {
    if (!this.inUse(slot)) panic(`swap_duplicate: slot ${slot} is free`);
    const c = this.chunk(slot);
    c.count[slot % CHUNK_SLOTS] = (c.count[slot % CHUNK_SLOTS] as number) + 1;
  }

  /**
   * swap_entry_put: one swap entry naming `slot` is gone. Returns the count
   * left; the slot is freed when nothing holds it. Panics when the count is 0.
   */
  put(slot: number): number {
    const c = this.chunk(slot);
    const n = c.count[slot % CHUNK_SLOTS] as number;
    if (n === 0) panic(`swap_free: slot ${slot} has no references`);
    c.count[slot % CHUNK_SLOTS] = n - 1;
    if (n === 1) this.releaseIfUnused(slot);
    return n - 1;
  }

  private releaseIfUnused(slot: number): void {
    if (this.inUse(slot)) return;
    this.inuse--;
    const id = this.clearSwapCgroup(slot);
    if (id !== 0) this.swapUncharge?.(id);
    if (slot < this.lowest) this.lowest = slot;
  }

  /** lookup_swap_cgroup_id: the memory cgroup charged for `slot` (0 = none). */
  swapCgroup(slot: number): number {
    const c = this.chunks[Math.floor(slot / CHUNK_SLOTS)];
    return c === undefined ? 0 : (c.memcg[slot % CHUNK_SLOTS] as number);
  }

  /** swap_cgroup_record: in-use `slot` now holds group `id`'s charge. */
  setSwapCgroup(slot: number, id: number): void {
    this.chunk(slot).memcg[slot % CHUNK_SLOTS] = id;
  }

  /** Clears `slot`'s record. Returns the group it named (0 = none). */
  clearSwapCgroup(slot: number): number {
    const c = this.chunks[Math.floor(slot / CHUNK_SLOTS)];
    if (c === undefined) return 0;
    const id = c.memcg[slot % CHUNK_SLOTS] as number;
    c.memcg[slot % CHUNK_SLOTS] = 0;
    return id;
  }

  /** Calls `fn(slot, id)` for every slot holding a charge, in order. */
  forEachSwapCgroup(fn: (slot: number, id: number) => void): void {
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c === undefined) continue;
      for (let j = 0; j < CHUNK_SLOTS; j++) if (c.memcg[j] !== 0) fn(i * CHUNK_SLOTS + j, c.memcg[j] as number);
    }
  }

  /** The 4096 bytes of `slot` (made zero on first use). */
  slotBytes(slot: number): Uint8Array {
    const c = this.chunk(slot);
    if (c.data === null) c.data = new Uint8Array(CHUNK_SLOTS * SLOT_BYTES);
    const off = (slot % CHUNK_SLOTS) * SLOT_BYTES;
    return c.data.subarray(off, off + SLOT_BYTES);
  }

  /** Bytes of storage the device has made so far (chunks written at least once). */
  storageBytes(): number {
    let n = 0;
    for (const c of this.chunks) if (c?.data) n += c.data.length;
    return n;
  }

  /** Calls `fn(slot, count, cachePfn)` for every slot in use, in order. */
  forEachInUse(fn: (slot: number, count: number, cachePfn: number) => void): void {
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c === undefined) continue;
      for (let j = 0; j < CHUNK_SLOTS; j++) {
        const n = c.count[j] as number;
        const pfn = c.cache[j] as number;
        if (n !== 0 || pfn >= 0) fn(i * CHUNK_SLOTS + j, n, pfn);
      }
    }
  }
}

/**
 * /proc/swaps (swap_show): a header line, then one line per area: the name
 * padded to 40 columns, its type, size and use in kB, and its priority.
 * Without a swap area only the header is printed.
 */
export function renderSwaps(dev: SwapDevice | null): string {
  let out = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
  if (dev === null) return out;
  const size = dev.nrSlots * 4;
  const used = dev.inuse * 4;
  const pad = Math.max(40 - SWAP_DEVICE_NAME.length, 1);
  out += `${SWAP_DEVICE_NAME}${" ".repeat(pad)}partition\t${size}\t${size < 10000000 ? "\t" : ""}${used}\t${used < 10000000 ? "\t" : ""}${SWAP_PRIORITY}\n`;
  return out;
}
