/**
 * The checker and the census of Hoard (hoard.ts over hoard_heap.ts): every
 * heap's lists walked, each superblock's used blocks recounted from its
 * carve pointer and free list, each heap's u_i, a_i and superblock count
 * recounted, and the emptiness invariant checked on every per-CPU heap
 * whose last operation was a free.
 */
import { type HeapCensus, HeapCorruption } from "./allocator.ts";
import { type HeapCore, hex, load64 } from "./heap.ts";
import {
  EMPTY,
  FULL,
  GLOBAL,
  type HoardHeaps,
  SB_BSIZE,
  SB_CAP,
  SB_CARVE,
  SB_CLASS,
  SB_FREE,
  SB_GROUP,
  SB_HDR,
  SB_HEAP,
  SB_MAGIC,
  SB_MAGIC_VALUE,
  SB_NEXT,
  SB_PREV,
  SB_USED,
} from "./hoard_heap.ts";
import { largeCheck } from "./large.ts";

/** The constants the checker needs of one Hoard. */
export interface HoardParams {
  readonly S: number;
  readonly sizes: readonly number[];
  readonly f: number;
  readonly K: number;
  readonly release: "invariant" | "never";
  readonly keepEmpty: number;
}

/** A heap's recount: superblocks, used bytes, capacity bytes. */
interface Tally {
  count: number;
  used: number;
  capacity: number;
}

/**
 * Recounts the whole heap. Throws HeapCorruption: HOARD-1 (a listed
 * superblock is not one), HOARD-3 (on the wrong class list), HOARD-4/5 (a
 * bad carve pointer or free list), HOARD-6 (used count), HOARD-7 (group),
 * HOARD-8 (list links), HOARD-9 (superblock totals), HOARD-10 (a heap's
 * u_i, a_i or count), HOARD-11 (the emptiness invariant broken after a
 * free while a superblock at least f empty was there to move), HOARD-12
 * (more empty superblocks kept than keepEmpty).
 */
export function checkHoard(core: HeapCore, hs: HoardHeaps, o: HoardParams): void {
  const large = largeCheck(core);
  const nsb = hs.total();
  core.checkRoot(large.bytes + nsb * o.S);
  let seen = 0;
  let granted = large.capacity;
  for (let h = 0; h < hs.nHeaps; h++) {
    const t: Tally = { count: 0, used: 0, capacity: 0 };
    for (let k = 0; k < o.sizes.length; k++) for (let g = 0; g <= FULL; g++) walk(hs, o, h, k, g, t, nsb - seen - t.count);
    if (h === GLOBAL) {
      const before = t.count;
      walk(hs, o, GLOBAL, -1, EMPTY, t, nsb - seen - t.count);
      if (t.count - before !== hs.empties())
        throw new HeapCorruption("HOARD-9", `${t.count - before} empty superblocks listed, the root counts ${hs.empties()}`);
      if (hs.empties() > o.keepEmpty)
        throw new HeapCorruption("HOARD-12", `${hs.empties()} empty superblocks kept, keepEmpty is ${o.keepEmpty}`);
    }
    if (t.count !== hs.count(h) || t.used !== hs.used(h) || t.capacity !== hs.capacity(h)) {
      throw new HeapCorruption(
        "HOARD-10",
        `heap ${h} counts ${hs.count(h)} superblocks, u ${hs.used(h)}, a ${hs.capacity(h)}; recount ${t.count}, ${t.used}, ${t.capacity}`,
      );
    }
    if (h !== GLOBAL && o.release === "invariant" && hs.lastFree(h) === 1) checkInvariant(hs, o, h);
    seen += t.count;
    granted += t.used;
  }
  if (seen !== nsb) throw new HeapCorruption("HOARD-9", `${seen} superblocks on the lists, the root counts ${nsb}`);
  core.checkLive(granted);
}

/** HOARD-11: after a free, u >= (1 - f) a or u >= a - K S, unless no superblock is f empty. */
function checkInvariant(hs: HoardHeaps, o: HoardParams, h: number): void {
  const u = hs.used(h);
  const a = hs.capacity(h);
  if (u < (1 - o.f) * a && u < a - o.K * o.S && hs.emptyEnough(h, 1 - o.f) !== 0)
    throw new HeapCorruption("HOARD-11", `heap ${h} holds u ${u} of a ${a} bytes after a free (f ${o.f}, K ${o.K})`);
}

/** Walks one group list of heap h (class -1: the empty list), adding to `t`. */
function walk(hs: HoardHeaps, o: HoardParams, h: number, k: number, g: number, t: Tally, budget: number): void {
  const m = hs.memory;
  let prev = 0;
  let n = 0;
  for (let sb = load64(m, hs.head(h, k, g)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
    if (++n > budget) throw new HeapCorruption("HOARD-8", "a superblock list loops or holds more superblocks than exist");
    if (sb % o.S !== 0 || m.read32(sb + SB_MAGIC) !== SB_MAGIC_VALUE)
      throw new HeapCorruption("HOARD-1", `${hex(sb)} on a list is not an aligned superblock`);
    if (load64(m, sb + SB_PREV) !== prev) throw new HeapCorruption("HOARD-8", `superblock ${hex(sb)} has a bad prev link`);
    const cls = m.read32(sb + SB_CLASS);
    const bsize = m.read32(sb + SB_BSIZE);
    const cap = m.read32(sb + SB_CAP);
    if ((k >= 0 && cls !== k) || o.sizes[cls] !== bsize || cap !== Math.floor((o.S - SB_HDR) / bsize) || m.read32(sb + SB_HEAP) !== h) {
      throw new HeapCorruption(
        "HOARD-3",
        `superblock ${hex(sb)} (class ${cls}, ${bsize} B x ${cap}, heap ${m.read32(sb + SB_HEAP)}) is on heap ${h}'s list of class ${k}`,
      );
    }
    const used = recountUsed(hs, sb, bsize, cap);
    if (used !== m.read32(sb + SB_USED))
      throw new HeapCorruption("HOARD-6", `superblock ${hex(sb)} counts ${m.read32(sb + SB_USED)} used blocks, recount says ${used}`);
    if (hs.groupOf(h, used, cap) !== g || m.read32(sb + SB_GROUP) !== g)
      throw new HeapCorruption("HOARD-7", `superblock ${hex(sb)} with ${used}/${cap} used is in group ${g}`);
    t.count++;
    t.used += used * bsize;
    t.capacity += cap * bsize;
    prev = sb;
  }
}

/** Carved blocks minus the free list, walking the list with a visited map. */
function recountUsed(hs: HoardHeaps, sb: number, bsize: number, cap: number): number {
  const m = hs.memory;
  const carve = load64(m, sb + SB_CARVE);
  const carved = (carve - sb - SB_HDR) / bsize;
  if (!Number.isInteger(carved) || carved < 0 || carved > cap)
    throw new HeapCorruption("HOARD-4", `superblock ${hex(sb)} has a bad carve pointer ${hex(carve)}`);
  const seen = new Uint8Array(carved);
  let free = 0;
  for (let p = load64(m, sb + SB_FREE); p !== 0; p = load64(m, p)) {
    const i = (p - sb - SB_HDR) / bsize;
    if (!Number.isInteger(i) || i < 0 || i >= carved)
      throw new HeapCorruption("HOARD-4", `free entry ${hex(p)} is not a carved block of ${hex(sb)}`);
    if (seen[i]) throw new HeapCorruption("HOARD-5", `block ${hex(p)} is on its superblock's free list twice`);
    seen[i] = 1;
    free++;
  }
  return carved - free;
}

/**
 * Granted: used blocks times their class size, plus large mappings; free:
 * the unused blocks of each superblock and the empty superblocks past
 * their header. The largest free block is the largest class with a free
 * slot (any class when a superblock is empty).
 */
export function hoardCensus(core: HeapCore, hs: HoardHeaps, sizes: readonly number[], S: number): HeapCensus {
  const r = { grantedBytes: largeCheck(core).capacity, freeBytes: 0, largestFreeBytes: 0 };
  const m = hs.memory;
  for (let h = 0; h < hs.nHeaps; h++) {
    for (let k = 0; k < sizes.length; k++) {
      for (let g = 0; g <= FULL; g++) {
        for (let sb = load64(m, hs.head(h, k, g)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
          const bsize = m.read32(sb + SB_BSIZE);
          const used = m.read32(sb + SB_USED);
          r.grantedBytes += used * bsize;
          r.freeBytes += (m.read32(sb + SB_CAP) - used) * bsize;
          if (used < m.read32(sb + SB_CAP) && bsize > r.largestFreeBytes) r.largestFreeBytes = bsize;
        }
      }
    }
  }
  for (let sb = load64(m, hs.head(GLOBAL, 0, EMPTY)); sb !== 0; sb = load64(m, sb + SB_NEXT)) {
    r.freeBytes += S - SB_HDR;
    r.largestFreeBytes = sizes[sizes.length - 1] as number;
  }
  return r;
}
