/**
 * VMA operations (Linux mm/vma.c): create, insert, remove, split and merge
 * the VMAs of an address space, keeping the VmaTree index, map_count and the
 * per-mm VM counters true. Page tables are not touched here; callers zap or
 * change them (memory.ts) around these steps.
 *
 * Words: vma = the kva of a vm_area_struct object (mm_types.ts).
 */
import { panic } from "../panic.ts";
import { GFP_KERNEL } from "./gfp.ts";
import { type MmStruct, PAGE, STACK_GUARD_GAP } from "./mm.ts";
import { VM_EXEC, VM_GROWSDOWN, VM_LOCKED, VM_SHARED, VM_WRITE, type VmaFields } from "./mm_types.ts";

/** The slab cache VMAs come from. */
export interface ObjCache {
  alloc(gfp?: number): number;
  free(kva: number): void;
}

/** Reference counting of the shared objects VMAs name (shmem.ts), and the file's list of the VMAs mapping it. */
export interface VmaObjectRefs {
  get(id: number): void;
  put(id: number): void;
  /** vma_link's i_mmap half: `vma` of `mm`, naming object `id`, joined its mm's tree. */
  link(mm: MmStruct, vma: number, id: number): void;
  /** `vma`, naming object `id`, leaves its mm's tree (before its reference is put). */
  unlink(vma: number, id: number): void;
}

/** vm_start_gap(): the lowest address a VMA keeps free below itself. */
export function vmStartGap(start: number, flags: number): number {
  return flags & VM_GROWSDOWN ? Math.max(0, start - STACK_GUARD_GAP) : start;
}

/** Bit 31 of a VMA's anon word: its anon group was made by fork, under the parent's (anon_vma_chain not singular). */
export const ANON_FORKED = 0x80000000;
const ANON_ID = 0x7fffffff;

/**
 * is_mergeable_anon_vma on two VMAs' anon words: the same group, or one
 * without a group next to one whose group fork did not make.
 */
export function anonMergeable(a: number, b: number): boolean {
  if (a === 0 || b === 0) return ((a | b) & ANON_FORKED) === 0;
  return (a & ANON_ID) === (b & ANON_ID);
}

/** VMA bookkeeping shared by every address space of a machine. */
export class VmaOps {
  private nextAnonId = 1;
  /**
   * Called before a VMA is cut at `addr` (vma_adjust_trans_huge): memory.ts
   * splits a 2 MiB leaf the cut falls inside. False refuses the cut (no
   * table for the split).
   */
  splitHook: ((mm: MmStruct, addr: number) => boolean) | null = null;

  /**
   * Names of special mappings (vm_special_mapping's name: "[usyscall]"), by
   * VMA. Copied by dup (fork, split, move), dropped when the VMA is freed; a
   * named VMA never merges. Empty on a machine without them.
   */
  private readonly names = new Map<number, string>();

  /**
   * Memory policies of VMAs (vm_policy; mempolicy.ts words), by VMA: set by
   * mbind, copied by dup and split, dropped when the VMA is freed; two VMAs
   * merge only with equal policies (mpol_equal). Absent: no VMA policy.
   */
  private readonly policies = new Map<number, number>();

  constructor(
    readonly f: VmaFields,
    private readonly cache: ObjCache,
    private readonly objects: VmaObjectRefs,
    /** vm.max_map_count. */
    readonly maxMapCount: number,
  ) {}

  /** A fresh VMA object, or 0 when the slab allocation fails. */
  alloc(mm: MmStruct, start: number, end: number, flags: number, pgoff: number): number {
    const vma = this.cache.alloc(GFP_KERNEL);
    if (vma === 0) return 0;
    this.f.init(vma, mm.id, start, end, flags, pgoff);
    return vma;
  }

  /** Links a VMA into the mm (and into its object's list of mappings) and counts its pages. */
  insert(mm: MmStruct, vma: number): void {
    const f = this.f;
    const start = f.start(vma);
    mm.tree.insert(start, f.end(vma), vmStartGap(start, f.flags(vma)), vma);
    this.statAccount(mm, f.flags(vma), (f.end(vma) - start) / PAGE);
    if (f.shmem(vma) !== 0) this.objects.link(mm, vma, f.shmem(vma));
  }

  /** Unlinks a VMA from the mm (and from its object's list), uncounts its pages, drops its object reference and frees it. */
  remove(mm: MmStruct, vma: number): void {
    const f = this.f;
    mm.tree.remove(f.start(vma));
    this.statAccount(mm, f.flags(vma), -(f.end(vma) - f.start(vma)) / PAGE);
    if (f.shmem(vma) !== 0) {
      this.objects.unlink(vma, f.shmem(vma));
      this.objects.put(f.shmem(vma));
    }
    this.dropSide(vma);
    this.cache.free(vma);
  }

  /** Forgets the side tables' entries of a VMA being freed. */
  private dropSide(vma: number): void {
    this.names.delete(vma);
    if (this.policies.size !== 0) this.policies.delete(vma);
  }

  /** The memory policy word of `vma` (mempolicy.ts), or 0 when it has none. */
  policy(vma: number): number {
    return this.policies.size === 0 ? 0 : (this.policies.get(vma) ?? 0);
  }

  /** VMAs with a policy of their own (the mm checker's MM-9 recount). */
  get nrPolicies(): number {
    return this.policies.size;
  }

  /** Sets the policy word of `vma` (0 removes it: the task's policy applies). */
  setPolicy(vma: number, word: number): void {
    if (word === 0) this.policies.delete(vma);
    else this.policies.set(vma, word);
  }

  /** Names `vma` as a special mapping (/proc/PID/maps shows `name`). */
  setName(vma: number, name: string): void {
    this.names.set(vma, name);
  }

  /** The special-mapping name of `vma`, or "" when it has none. */
  name(vma: number): string {
    return this.names.size === 0 ? "" : (this.names.get(vma) ?? "");
  }

  /** A fresh anon group id (anon_vma_prepare). */
  newAnonId(): number {
    const id = this.nextAnonId;
    this.nextAnonId = id === ANON_ID ? 1 : id + 1;
    return id;
  }

  /**
   * A copy of `src` (vm_area_dup) for `mm`, holding its own object
   * reference; 0 when out of memory. `why` "fork" gives a copy that had
   * anonymous pages its own anon group, marked ANON_FORKED (anon_vma_fork),
   * so it never merges with a neighbour through the parent's group, and
   * drops VM_LOCKED (mlock is not inherited).
   */
  dup(mm: MmStruct, src: number, why: "fork" | "move" = "move"): number {
    const vma = this.cache.alloc(GFP_KERNEL);
    if (vma === 0) return 0;
    this.f.copy(vma, src);
    this.f.setMm(vma, mm.id);
    if (this.f.shmem(vma) !== 0) this.objects.get(this.f.shmem(vma));
    const name = this.name(src);
    if (name !== "") this.names.set(vma, name);
    this.setPolicy(vma, this.policy(src));
    if (why === "fork") {
      // mlock is not inherited.
      this.f.setFlags(vma, this.f.flags(vma) & ~VM_LOCKED);
      if (this.f.anon(vma) !== 0) this.f.setAnon(vma, (this.newAnonId() | ANON_FORKED) >>> 0);
    }
    return vma;
  }

  /** Makes a fresh VMA name object `obj` (a file), taking a reference on it. */
  setObject(vma: number, obj: number): void {
    this.f.setShmem(vma, obj);
    this.objects.get(obj);
  }

  /** Frees a VMA object that was never inserted. */
  freeObject(vma: number): void {
    this.dropSide(vma);
    this.cache.free(vma);
  }

  /** Frees a dup() that was never inserted, with its object reference. */
  freeDup(vma: number): void {
    if (this.f.shmem(vma) !== 0) this.objects.put(this.f.shmem(vma));
    this.dropSide(vma);
    this.cache.free(vma);
  }

  /** The VMA containing addr, or 0. */
  lookup(mm: MmStruct, addr: number): number {
    const n = mm.tree.lookup(addr);
    return n < 0 ? 0 : mm.tree.value(n);
  }

  /** find_vma: the first VMA with end > addr, or 0. */
  findVma(mm: MmStruct, addr: number): number {
    const n = mm.tree.findVma(addr);
    return n < 0 ? 0 : mm.tree.value(n);
  }

  /** The VMA after `vma` in address order, or 0. */
  next(mm: MmStruct, vma: number): number {
    return this.findVma(mm, this.f.end(vma));
  }

  /** The VMA before `vma`, or 0. */
  prev(mm: MmStruct, vma: number): number {
    const n = mm.tree.lookup(this.f.start(vma));
    const p = mm.tree.prev(n);
    return p < 0 ? 0 : mm.tree.value(p);
  }

  /** Moves a VMA's end (grow or shrink in place), keeping counters and index true. */
  setEnd(mm: MmStruct, vma: number, end: number): void {
    const f = this.f;
    const old = f.end(vma);
    f.setEnd(vma, end);
    mm.tree.setEnd(mm.tree.lookup(f.start(vma)), end);
    this.statAccount(mm, f.flags(vma), (end - old) / PAGE);
  }

  /** Moves a VMA's start (pgoff follows), re-keying it in the index. */
  setStart(mm: MmStruct, vma: number, start: number): void {
    const f = this.f;
    const old = f.start(vma);
    mm.tree.remove(old);
    f.setStart(vma, start);
    f.setPgoff(vma, f.pgoff(vma) + (start - old) / PAGE);
    mm.tree.insert(start, f.end(vma), vmStartGap(start, f.flags(vma)), vma);
    this.statAccount(mm, f.flags(vma), (old - start) / PAGE);
  }

  /** Changes a VMA's flags, moving its pages between the per-kind counters. */
  setFlags(mm: MmStruct, vma: number, flags: number): void {
    const f = this.f;
    const pages = (f.end(vma) - f.start(vma)) / PAGE;
    this.statAccount(mm, f.flags(vma), -pages);
    f.setFlags(vma, flags);
    this.statAccount(mm, flags, pages);
  }

  /**
   * split_vma: cuts `vma` at `addr` (page aligned, strictly inside). `vma`
   * keeps the lower part; the returned new VMA holds the upper part.
   * `limit` "enforce" refuses when the mm already has max_map_count VMAs
   * (split_vma); munmap passes "may-exceed" (__split_vma), since it is about
   * to remove VMAs.
   * Returns 0 when refused or when the new object cannot be allocated.
   * Panics when addr is not strictly inside the VMA.
   */
  split(mm: MmStruct, vma: number, addr: number, limit: "enforce" | "may-exceed" = "enforce"): number {
    if (limit === "enforce" && mm.mapCount >= this.maxMapCount) return 0;
    const f = this.f;
    const start = f.start(vma);
    const end = f.end(vma);
    if (addr <= start || addr >= end || addr % PAGE !== 0) panic(`split_vma: ${addr} not inside [${start}, ${end})`);
    if (this.splitHook !== null && !this.splitHook(mm, addr)) return 0;
    const upper = this.cache.alloc(GFP_KERNEL);
    if (upper === 0) return 0;
    f.copy(upper, vma);
    this.setPolicy(upper, this.policy(vma));
    if (f.shmem(upper) !== 0) this.objects.get(f.shmem(upper));
    f.setStart(upper, addr);
    f.setPgoff(upper, f.pgoff(vma) + (addr - start) / PAGE);
    f.setEnd(vma, addr);
    mm.tree.setEnd(mm.tree.lookup(start), addr);
    mm.tree.insert(addr, end, vmStartGap(addr, f.flags(upper)), upper);
    if (f.shmem(upper) !== 0) this.objects.link(mm, upper, f.shmem(upper));
    return upper;
  }

  /**
   * Splits `vma` at `start` and `end` where they fall inside it, so that one
   * VMA covers exactly [start, end) (vma_modify's splits). Returns that VMA,
   * or 0 when a split was refused (the VMAs stay valid, possibly split once).
   */
  isolate(mm: MmStruct, vma: number, start: number, end: number): number {
    const f = this.f;
    if (f.start(vma) < start) {
      vma = this.split(mm, vma, start);
      if (vma === 0) return 0;
    }
    if (f.end(vma) > end && this.split(mm, vma, end) === 0) return 0;
    return vma;
  }

  /** True when `a` (below) and `b` (above) may become one VMA. */
  canMerge(a: number, b: number): boolean {
    const f = this.f;
    if (f.end(a) !== f.start(b) || f.flags(a) !== f.flags(b) || f.shmem(a) !== f.shmem(b)) return false;
    if (this.names.size !== 0 && (this.name(a) !== "" || this.name(b) !== "")) return false;
    if (this.policy(a) !== this.policy(b)) return false;
    if (f.pgoff(b) !== f.pgoff(a) + (f.end(a) - f.start(a)) / PAGE) return false;
    return anonMergeable(f.anon(a), f.anon(b));
  }

  /**
   * Merges `vma` with its neighbours where they are compatible (vma_merge).
   * Returns the VMA that now covers vma's range.
   */
  mergeAround(mm: MmStruct, vma: number): number {
    const next = this.next(mm, vma);
    if (next !== 0 && this.canMerge(vma, next)) this.absorbNext(mm, vma, next);
    const prev = this.prev(mm, vma);
    if (prev !== 0 && this.canMerge(prev, vma)) {
      this.absorbNext(mm, prev, vma);
      return prev;
    }
    return vma;
  }

  /**
   * vma_merge_new_range for a new private anonymous range [start, end) with
   * `flags` (no anon group yet, pgoff start / PAGE): when it can join the VMA
   * ending at start, that lower VMA is extended over it (and over the VMA
   * starting at end, when all three fit); when it can join only the VMA
   * starting at end, that one is extended down. No VMA object is allocated.
   * Returns the VMA now covering the range, or 0 when it merges with neither
   * (with `mode` "probe" nothing changes; the would-be VMA or 0 is returned).
   */
  mergeNewRange(mm: MmStruct, start: number, end: number, flags: number, mode: "probe" | "merge"): number {
    const f = this.f;
    const pgoff = start / PAGE;
    const pages = (end - start) / PAGE;
    const fits = (v: number) => f.flags(v) === flags && f.shmem(v) === 0 && !(flags & VM_SHARED) && this.policy(v) === 0;
    let prev = start >= PAGE ? this.lookup(mm, start - PAGE) : 0;
    if (
      prev !== 0 &&
      !(f.end(prev) === start && fits(prev) && f.pgoff(prev) + (start - f.start(prev)) / PAGE === pgoff && anonMergeable(f.anon(prev), 0))
    )
      prev = 0;
    let next = this.lookup(mm, end);
    if (next !== 0 && !(f.start(next) === end && fits(next) && f.pgoff(next) === pgoff + pages && anonMergeable(0, f.anon(next)))) next = 0;
    if (prev !== 0 && next !== 0 && !anonMergeable(f.anon(prev), f.anon(next))) next = 0;
    if (mode === "probe" || (prev === 0 && next === 0)) return prev || next;
    if (prev !== 0) {
      if (next !== 0) {
        const nextEnd = f.end(next);
        if (f.anon(prev) === 0) f.setAnon(prev, f.anon(next));
        this.remove(mm, next);
        this.setEnd(mm, prev, nextEnd);
      } else this.setEnd(mm, prev, end);
      return prev;
    }
    this.setStart(mm, next, start);
    return next;
  }

  /** `a` grows over `b`, which is removed. */
  private absorbNext(mm: MmStruct, a: number, b: number): void {
    const f = this.f;
    const end = f.end(b);
    if (f.anon(a) === 0) f.setAnon(a, f.anon(b));
    this.remove(mm, b);
    this.setEnd(mm, a, end);
  }

  /** vm_stat_account: total, exec, stack and data page counters. */
  statAccount(mm: MmStruct, flags: number, pages: number): void {
    mm.totalVm += pages;
    if ((flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) === VM_EXEC) mm.execVm += pages;
    else if (flags & VM_GROWSDOWN) mm.stackVm += pages;
    else if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) === VM_WRITE) mm.dataVm += pages;
    if (pages > 0) mm.updateHiwater();
  }
}
