/**
 * Mesh (Powers, Tench, Berger, McGregor, PLDI 2019), reduced to one heap:
 * an allocator that gives physical memory back by "meshing" two spans whose
 * live objects sit at different offsets. Every small object lives in a
 * one-page span of one size class; the spans are pages of one shared memory
 * object mapped twice:
 *
 *   arena   MAP_SHARED|MAP_ANONYMOUS: slot i (arena + i * 4096) is where
 *           objects are handed out; unmeshed, it maps page i of the object
 *   shadow  mremap(arena, 0, len, MREMAP_MAYMOVE): a second view of the same
 *           object that is never touched, so page i of the object always has
 *           an address (shadow + i * 4096) to punch or to map from
 *
 * Objects are placed at random free offsets (Mesh's randomized allocation,
 * seeded), so two half-full spans rarely collide. A mesh pass (SplitMesher)
 * shuffles each class's partly full spans, splits them in two halves, and
 * probes up to `probes` spans of the right half for each span of the left
 * one; a pair whose bitmaps do not intersect is meshed: the source's live
 * objects are copied to the same offsets of the destination, the source's
 * page is punched out of the object (MADV_REMOVE, Linux's
 * fallocate(FALLOC_FL_PUNCH_HOLE) for shmem), and every slot that mapped
 * the source is remapped onto the destination's page (mremap with old_len
 * 0 and MREMAP_FIXED from the shadow: the same object, the destination's
 * offset). A free through any slot finds the span through the slot's
 * record. When a span empties, its page is punched and the slots meshed
 * onto it are given their own pages back.
 *
 * Requests above 1 KiB get their own mappings (large.ts). Words: slot,
 * physical span, alias (a slot mapping a physical span) as in mesh_span.ts.
 *
 *   root + R_OWN + 0   arena (u64)     8 shadow (u64)     16 records (u64)
 *                 24   spans (u32)    28 rng state (u32)
 *                 32   free-index stack head (u32)       36 indices ever used (u32)
 *                 40   meshes done (u32)                 44 frees since the last pass (u32)
 *                 48   physical spans in use (u32)       56 peak heap bytes (u64)
 *                 64   partial list head per class (u32 each)
 */
import {
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from "../../kernel/uapi/mman.ts";
import type { UserProcess } from "../env.ts";
import { type Allocator, type AllocatorStats, type HeapCensus, reallocByMove } from "./allocator.ts";
import { HeapCore, hex, KIND_MESH, load64, PAGE_SIZE, R_OWN, store64 } from "./heap.ts";
import { largeAlloc, largeCheck, largeFree, largeRealloc, largeUsable } from "./large.ts";
import { checkSpans } from "./mesh_check.ts";
import { MESH_CLASSES, NONE, REC_BYTES, SpanRecords, xorshift32 } from "./mesh_span.ts";

export { MESH_CLASSES };

const MAX_SMALL = 1024;

const M_ARENA = R_OWN;
const M_SHADOW = R_OWN + 8;
const M_META = R_OWN + 16;
const M_SPANS = R_OWN + 24;
const M_RNG = R_OWN + 28;
const M_FREE = R_OWN + 32;
const M_HW = R_OWN + 36;
const M_MESHES = R_OWN + 40;
const M_FREES = R_OWN + 44;
const M_PHYS = R_OWN + 48;
const M_PEAK = R_OWN + 56;
const M_HEADS = R_OWN + 64;

/** Options of {@link createMesh}. */
export interface MeshOptions {
  /** Frees between two automatic mesh passes; 0 never meshes on its own (default 256). */
  meshPeriod?: number;
  /** Seed of the random offsets and the pass's shuffle (default 1). */
  seed?: number;
  /** Pages of the arena (default 32768: 128 MiB of address space, reserved with MAP_NORESERVE). */
  spans?: number;
  /** Right-half spans SplitMesher probes per left-half span (default 64, the paper's t). */
  probes?: number;
}

/** Mesh's figures beyond AllocatorStats. */
export interface MeshStats {
  /** Pairs meshed so far. */
  meshes: number;
  /** Physical spans holding objects now (pages the arena keeps resident). */
  physicalSpans: number;
  /** Slots in use (virtual spans), meshed ones included. */
  virtualSpans: number;
}

/** The Mesh allocator; `mesh()` runs one pass by hand. */
export class MeshAllocator implements Allocator {
  readonly name: string;
  readonly proc: UserProcess;
  private readonly core: HeapCore;
  private readonly mem: UserProcess["mem"];
  private readonly rec: SpanRecords;
  private readonly period: number;
  private readonly spans: number;
  private readonly probes: number;
  private readonly seed: number;
  private arena = 0;
  private shadow = 0;
  /** Class of a request, by (size + 15) >> 4. */
  private readonly classOf = new Uint8Array((MAX_SMALL >> 4) + 1);

  constructor(proc: UserProcess, name: string, opts: MeshOptions) {
    this.period = opts.meshPeriod ?? 256;
    this.spans = opts.spans ?? 32768;
    this.probes = opts.probes ?? 64;
    this.seed = (opts.seed ?? 1) >>> 0 || 1;
    for (const [k, v] of Object.entries({ meshPeriod: this.period, spans: this.spans, probes: this.probes })) {
      if (!Number.isSafeInteger(v) || v < 0 || (k !== "meshPeriod" && v === 0)) throw new RangeError(`mesh: ${k} ${v} is not a count`);
    }
    this.name = name;
    this.proc = proc;
    this.mem = proc.mem;
    this.rec = new SpanRecords(proc.mem);
    this.core = new HeapCore(proc, name, KIND_MESH, M_HEADS - R_OWN + 64 + MESH_CLASSES.length * 4);
    for (let u = 0, c = 0; u < this.classOf.length; u++) {
      while ((MESH_CLASSES[c] as number) < u * 16) c++;
      this.classOf[u] = c;
    }
  }

  private r32(off: number): number {
    return this.mem.read32(this.core.root + off);
  }
  private w32(off: number, v: number): void {
    this.mem.write32(this.core.root + off, v >>> 0);
  }

  /** Sets up the root, the arena, its shadow view and the records. Returns false when the kernel refuses. */
  private init(): boolean {
    const c = this.core;
    if (!c.setup()) return false;
    const len = this.spans * PAGE_SIZE;
    c.countSyscall();
    const arena = c.sys.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (arena < 0 && arena > -4096) return false;
    c.countSyscall();
    const shadow = c.sys.mremap(arena, 0, len, MREMAP_MAYMOVE);
    if (shadow < 0 && shadow > -4096) return false;
    const meta = c.mmap(this.spans * REC_BYTES);
    if (meta === 0) return false;
    store64(this.mem, c.root + M_ARENA, arena);
    store64(this.mem, c.root + M_SHADOW, shadow);
    store64(this.mem, c.root + M_META, meta);
    this.w32(M_SPANS, this.spans);
    this.w32(M_RNG, this.seed);
    this.w32(M_FREE, NONE);
    for (let k = 0; k < MESH_CLASSES.length; k++) this.w32(M_HEADS + k * 4, NONE);
    this.arena = arena;
    this.shadow = shadow;
    this.rec.meta = meta;
    return true;
  }

  private random(): number {
    const s = xorshift32(this.r32(M_RNG));
    this.w32(M_RNG, s);
    return s;
  }

  private cls(size: number): number {
    return this.classOf[(Math.max(size, 1) + 15) >> 4] as number;
  }

  private capacity(c: number): number {
    return Math.floor(PAGE_SIZE / (MESH_CLASSES[c] as number));
  }

  malloc(size: number): number {
    if (!Number.isSafeInteger(size) || size < 0) return 0;
    if (this.core.root === 0 && !this.init()) return 0;
    if (size > MAX_SMALL) {
      const p = largeAlloc(this.core, size);
      if (p !== 0) this.afterGrowth(size);
      return p;
    }
    const c = this.cls(size);
    let i = this.r32(M_HEADS + c * 4);
    if (i === NONE) {
      i = this.newSpan(c);
      if (i === NONE) return 0;
    }
    const rec = this.rec;
    const cap = this.capacity(c);
    const k = rec.nthFree(i, this.random() % (cap - rec.live(i)), cap);
    rec.flipBit(i, k);
    rec.setLive(i, rec.live(i) + 1);
    if (rec.live(i) === cap) this.unlinkPartial(i);
    this.afterGrowth(size);
    return this.arena + i * PAGE_SIZE + k * (MESH_CLASSES[c] as number);
  }

  private afterGrowth(size: number): void {
    this.core.addLive(size);
    const h = this.heapBytes();
    if (h > load64(this.mem, this.core.root + M_PEAK)) store64(this.mem, this.core.root + M_PEAK, h);
  }

  /** A fresh span of class c at a free index, on the class's partial list; NONE when the arena is full. */
  private newSpan(c: number): number {
    const rec = this.rec;
    let i = this.r32(M_FREE);
    if (i !== NONE) this.w32(M_FREE, rec.next(i));
    else {
      i = this.r32(M_HW);
      if (i === this.spans) return NONE;
      this.w32(M_HW, i + 1);
    }
    rec.clear(i);
    rec.setPhys(i, i);
    rec.setNextAlias(i, NONE);
    rec.setCls(i, c);
    rec.setAliasHead(i, i);
    rec.setAliases(i, 1);
    this.w32(M_PHYS, this.r32(M_PHYS) + 1);
    this.linkPartial(i);
    return i;
  }

  private linkPartial(i: number): void {
    const rec = this.rec;
    const h = M_HEADS + rec.cls(i) * 4;
    const first = this.r32(h);
    rec.setNext(i, first);
    rec.setPrev(i, NONE);
    if (first !== NONE) rec.setPrev(first, i);
    this.w32(h, i);
  }

  private unlinkPartial(i: number): void {
    const rec = this.rec;
    const n = rec.next(i);
    const p = rec.prev(i);
    if (p === NONE) this.w32(M_HEADS + rec.cls(i) * 4, n);
    else rec.setNext(p, n);
    if (n !== NONE) rec.setPrev(n, p);
  }

  free(ptr: number, size: number): void {
    if (ptr === 0) return;
    const c = this.core;
    if (c.root === 0 || ptr < this.arena || ptr >= this.arena + this.spans * PAGE_SIZE) {
      if (c.root === 0) this.proc.abort(`${this.name}: free(): invalid pointer`);
      largeFree(c, ptr);
      c.addLive(-size);
      return;
    }
    const rec = this.rec;
    const i = rec.phys(Math.floor((ptr - this.arena) / PAGE_SIZE));
    const cl = i === NONE ? -1 : rec.cls(i);
    const off = ptr % PAGE_SIZE;
    const bsize = cl < 0 ? 0 : (MESH_CLASSES[cl] as number);
    if (cl < 0 || off % bsize !== 0 || off / bsize >= this.capacity(cl)) this.proc.abort(`${this.name}: free(): invalid pointer`);
    if (!rec.bit(i, off / bsize)) this.proc.abort(`${this.name}: free(): double free detected`);
    if (size > bsize) this.proc.abort(`${this.name}: free(): size ${size} larger than the block's ${bsize}`);
    rec.flipBit(i, off / bsize);
    const live = rec.live(i) - 1;
    if (live + 1 === this.capacity(cl)) this.linkPartial(i);
    rec.setLive(i, live);
    c.addLive(-size);
    if (live === 0) this.release(i);
    if (this.period !== 0) {
      const n = this.r32(M_FREES) + 1;
      this.w32(M_FREES, n === this.period ? 0 : n);
      if (n === this.period) this.mesh();
    }
  }

  /** An empty span: its page is punched, every slot meshed onto it gets its own page back, all its indices are free. */
  private release(i: number): void {
    const rec = this.rec;
    this.unlinkPartial(i);
    this.punch(i);
    for (let s = rec.aliasHead(i); s !== NONE; ) {
      const next = rec.nextAlias(s);
      if (s !== i) this.remap(s, s);
      rec.setPhys(s, NONE);
      rec.setCls(s, -1);
      rec.setNext(s, this.r32(M_FREE));
      this.w32(M_FREE, s);
      s = next;
    }
    this.w32(M_PHYS, this.r32(M_PHYS) - 1);
  }

  /** Punches page i out of the shared object (through the shadow view, which maps every page). */
  private punch(i: number): void {
    this.core.countSyscall();
    const r = this.core.sys.madvise(this.shadow + i * PAGE_SIZE, PAGE_SIZE, MADV_REMOVE);
    if (r !== 0) this.proc.abort(`${this.name}: madvise(MADV_REMOVE) failed: ${r}`);
  }

  /** Maps slot s onto page p of the object (mremap of the shadow's page p, old_len 0, to slot s). */
  private remap(s: number, p: number): void {
    this.core.countSyscall();
    const to = this.arena + s * PAGE_SIZE;
    const r = this.core.sys.mremap(this.shadow + p * PAGE_SIZE, 0, PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (r !== to) this.proc.abort(`${this.name}: mremap to ${hex(to)} failed: ${r}`);
  }

  /**
   * One SplitMesher pass over every class: returns the pairs meshed. Each
   * class's partly full spans are shuffled and halved; each left span is
   * tried against up to `probes` right spans, and meshed with the first
   * whose bitmap does not intersect its own.
   */
  mesh(): number {
    if (this.core.root === 0) return 0;
    let pairs = 0;
    for (let c = 0; c < MESH_CLASSES.length; c++) {
      const list: number[] = [];
      for (let i = this.r32(M_HEADS + c * 4); i !== NONE; i = this.rec.next(i)) list.push(i);
      for (let k = list.length - 1; k > 0; k--) {
        const j = this.random() % (k + 1);
        [list[k], list[j]] = [list[j] as number, list[k] as number];
      }
      const half = list.length >> 1;
      const right = list.slice(half);
      const taken = new Uint8Array(right.length);
      for (let l = 0; l < half; l++) {
        for (let t = 0; t < Math.min(this.probes, right.length); t++) {
          const r = (l + t) % right.length;
          if (taken[r] === 0 && this.rec.disjoint(list[l] as number, right[r] as number)) {
            taken[r] = 1;
            this.meshPair(list[l] as number, right[r] as number);
            pairs++;
            break;
          }
        }
      }
    }
    this.w32(M_MESHES, this.r32(M_MESHES) + pairs);
    return pairs;
  }

  /** Meshes spans a and b (same class, disjoint bitmaps): the one with fewer objects moves onto the other. */
  private meshPair(a: number, b: number): void {
    const rec = this.rec;
    const [dst, src] = rec.live(a) >= rec.live(b) ? [a, b] : [b, a];
    const bsize = MESH_CLASSES[rec.cls(src)] as number;
    const cap = this.capacity(rec.cls(src));
    for (let k = 0; k < cap; k++) {
      if (rec.bit(src, k)) this.mem.copy(this.arena + dst * PAGE_SIZE + k * bsize, this.arena + src * PAGE_SIZE + k * bsize, bsize);
    }
    for (let w = 0; w < 8; w++) rec.setWord(dst, w, rec.word(dst, w) | rec.word(src, w));
    rec.setLive(dst, rec.live(dst) + rec.live(src));
    this.unlinkPartial(src);
    if (rec.live(dst) === cap) this.unlinkPartial(dst);
    this.punch(src);
    let last = rec.aliasHead(dst);
    while (rec.nextAlias(last) !== NONE) last = rec.nextAlias(last);
    for (let s = rec.aliasHead(src); s !== NONE; s = rec.nextAlias(s)) {
      this.remap(s, dst);
      rec.setPhys(s, dst);
    }
    rec.setNextAlias(last, rec.aliasHead(src));
    rec.setAliases(dst, rec.aliases(dst) + rec.aliases(src));
    rec.setCls(src, -1);
    rec.setLive(src, 0);
    rec.setAliasHead(src, NONE);
    rec.setAliases(src, 0);
    for (let w = 0; w < 8; w++) rec.setWord(src, w, 0);
    this.w32(M_PHYS, this.r32(M_PHYS) - 1);
  }

  realloc(ptr: number, oldSize: number, newSize: number): number {
    if (ptr === 0) return this.malloc(newSize);
    const inArena = ptr >= this.arena && ptr < this.arena + this.spans * PAGE_SIZE;
    if (!inArena && newSize > MAX_SMALL) {
      const q = largeRealloc(this.core, ptr, oldSize, newSize);
      if (q !== 0) this.afterGrowth(newSize - oldSize);
      return q;
    }
    if (inArena && newSize > 0 && newSize <= this.usable(ptr)) {
      this.core.addLive(newSize - oldSize);
      return ptr;
    }
    return reallocByMove(this, ptr, oldSize, newSize);
  }

  private heapBytes(): number {
    return this.core.heapBytes() + this.r32(M_PHYS) * PAGE_SIZE;
  }

  stats(): AllocatorStats {
    const s = this.core.stats();
    if (this.core.root === 0) return s;
    return { ...s, heapBytes: this.heapBytes(), peakHeapBytes: load64(this.mem, this.core.root + M_PEAK) };
  }

  /** Meshes done and spans in use. */
  meshStats(): MeshStats {
    if (this.core.root === 0) return { meshes: 0, physicalSpans: 0, virtualSpans: 0 };
    let virt = 0;
    for (let i = 0; i < this.r32(M_HW); i++) if (this.rec.phys(i) !== NONE) virt++;
    return { meshes: this.r32(M_MESHES), physicalSpans: this.r32(M_PHYS), virtualSpans: virt };
  }

  /** Where slot `va` lies now: the physical span (page of the shared object) it maps, or -1. */
  physicalSpanOf(va: number): number {
    if (this.core.root === 0 || va < this.arena || va >= this.arena + this.spans * PAGE_SIZE) return -1;
    const p = this.rec.phys(Math.floor((va - this.arena) / PAGE_SIZE));
    return p === NONE ? -1 : p;
  }

  /** Usable bytes of block `p` (its class size, or a large block's payload). */
  usable(p: number): number {
    const i = this.physicalSpanOf(p);
    return i < 0 ? largeUsable(this.core, p) : (MESH_CLASSES[this.rec.cls(i)] as number);
  }

  check(): void {
    const c = this.core;
    if (c.root === 0) return;
    const large = largeCheck(c);
    c.checkRoot(large.bytes + this.spans * REC_BYTES);
    const granted = checkSpans(this.rec, this.r32(M_HW), this.r32(M_PHYS), (k) => this.r32(M_HEADS + k * 4), this.r32(M_FREE));
    c.checkLive(granted + large.capacity);
  }

  census(): HeapCensus {
    const c = this.core;
    if (c.root === 0) return { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 };
    const r = { grantedBytes: largeCheck(c).capacity, freeBytes: 0, largestFreeBytes: 0 };
    const rec = this.rec;
    for (let i = 0; i < this.r32(M_HW); i++) {
      const k = rec.cls(i);
      if (k < 0) continue;
      const bsize = MESH_CLASSES[k] as number;
      r.grantedBytes += rec.live(i) * bsize;
      r.freeBytes += (this.capacity(k) - rec.live(i)) * bsize;
      if (rec.live(i) < this.capacity(k) && bsize > r.largestFreeBytes) r.largestFreeBytes = bsize;
    }
    return r;
  }
}

/** The Mesh allocator in `proc`'s memory. Throws RangeError naming a bad option. */
export function createMesh(proc: UserProcess, opts: MeshOptions = {}, name = "mesh"): MeshAllocator {
  return new MeshAllocator(proc, name, opts);
}
