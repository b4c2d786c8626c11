/**
 * mlock, mlock2, munlock, mlockall and munlockall (Linux mm/mlock.c): the
 * VM_LOCKED / VM_LOCKONFAULT bits of the VMAs of a range (split and merged
 * as mprotect does), locked_vm against RLIMIT_MEMLOCK, population of a
 * locked range, and the pages themselves moving to the unevictable list
 * (mlock_folio) and back to the inactive list (munlock_folio) when no
 * locked mapping holds them any more.
 *
 * Privilege: memsim processes carry no capabilities, so every process is
 * treated as one without CAP_IPC_LOCK: RLIMIT_MEMLOCK (8 MiB by default,
 * p.setrlimit("memlock", bytes)) always applies, and a limit of 0 makes
 * mlock and mlockall fail with EPERM.
 *
 * Pages: only anonymous pages on the LRU lists (swap.ts) change lists;
 * page-cache pages keep their own lists (fs/filemap.ts) and huge pages are
 * on no list, so locking a file or huge mapping sets the VMA bits and
 * populates it, nothing more.
 *
 * Calls: VmaOps (split, merge, flags), and the page half in
 * mlock_folio.ts (lists, reverse map, populate) through MmapContext.mlock.
 */
import { EINVAL, ENOMEM, EPERM } from "../errno.ts";
import { InvariantViolation } from "../panic.ts";
import { MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, MLOCK_ONFAULT } from "../uapi/mman.ts";
import { lockedVm, VM_NOLOCK } from "./mlock_folio.ts";
import { type MmStruct, PAGE, STACK_TOP } from "./mm.ts";
import { VM_LOCKED, VM_LOCKED_MASK, VM_LOCKONFAULT } from "./mm_types.ts";
import type { MmapContext } from "./mmap.ts";
import type { VmaOps } from "./vma.ts";

/** can_do_mlock: a process without CAP_IPC_LOCK may lock only under a non-zero RLIMIT_MEMLOCK. */
function canDoMlock(mm: MmStruct): boolean {
  return mm.rlimits.memlock !== 0;
}

/**
 * mlock_fixup: gives [start, end) of `vma` the lock bits of `newflags`,
 * splitting and merging, and moves its present pages between lists when
 * VM_LOCKED changes. Returns the VMA now covering the range, or -ENOMEM
 * when a split is refused.
 */
function mlockFixup(ctx: MmapContext, mm: MmStruct, vma: number, start: number, end: number, newflags: number): number {
  const vmas = ctx.vmas;
  const oldflags = vmas.f.flags(vma);
  if (newflags === oldflags || oldflags & VM_NOLOCK) return vma;
  vma = vmas.isolate(mm, vma, start, end);
  if (vma === 0) return -ENOMEM;
  vmas.setFlags(mm, vma, newflags);
  if ((newflags & VM_LOCKED) !== (oldflags & VM_LOCKED)) ctx.mlock.walk(mm, start, end, newflags & VM_LOCKED ? "lock" : "unlock");
  return vmas.mergeAround(mm, vma);
}

/**
 * apply_vma_lock_flags: sets the lock bits `lockFlags` (0 to unlock) on
 * every VMA of [start, start + len). Returns 0, -EINVAL when the range
 * wraps, -ENOMEM when start is unmapped or a hole is met (the VMAs before
 * it stay changed, as in Linux).
 */
function applyVmaLockFlags(ctx: MmapContext, mm: MmStruct, start: number, len: number, lockFlags: number): number {
  if (len === 0) return 0;
  const end = start + len;
  if (end > STACK_TOP) return -ENOMEM;
  const f = ctx.vmas.f;
  let vma = ctx.vmas.findVma(mm, start);
  if (vma === 0 || f.start(vma) > start) return -ENOMEM;
  let nstart = start;
  for (;;) {
    const tmp = Math.min(f.end(vma), end);
    const done = mlockFixup(ctx, mm, vma, nstart, tmp, (f.flags(vma) & ~VM_LOCKED_MASK) | lockFlags);
    if (done < 0) return done;
    // The changed piece may have merged with the next VMA, which had these flags already.
    nstart = Math.max(tmp, f.end(done));
    if (nstart >= end) return 0;
    vma = ctx.vmas.findVma(mm, nstart);
    if (vma === 0 || f.start(vma) !== nstart) return -ENOMEM;
  }
}

/** count_mm_mlocked_page_nr: pages of [start, start + len) already locked (all of them when start is 0, as Linux counts). */
function countMlockedPages(ctx: MmapContext, mm: MmStruct, start: number, len: number): number {
  const f = ctx.vmas.f;
  const end = start === 0 ? STACK_TOP : start + len;
  let pages = 0;
  for (let v = ctx.vmas.findVma(mm, start); v !== 0 && f.start(v) < end; v = ctx.vmas.next(mm, v)) {
    if (f.flags(v) & VM_LOCKED) pages += (Math.min(end, f.end(v)) - Math.max(start, f.start(v))) / PAGE;
  }
  return pages;
}

/** __mm_populate: faults in the locked VMAs of [start, end). Returns 0 or -ENOMEM. */
function populateLocked(ctx: MmapContext, mm: MmStruct, start: number, end: number): number {
  const f = ctx.vmas.f;
  for (let v = ctx.vmas.findVma(mm, start); v !== 0 && f.start(v) < end; v = ctx.vmas.next(mm, v)) {
    if (!(f.flags(v) & VM_LOCKED)) continue;
    const r = ctx.mlock.populate(mm, v, Math.max(start, f.start(v)), Math.min(end, f.end(v)));
    if (r < 0) return r;
  }
  return 0;
}

/** The page-aligned range mlock and munlock work on: start rounded down, the length grown to match; null when not a valid size. */
function lockRange(start: number, len: number): { start: number; len: number } | null {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(len) || start < 0 || len < 0) return null;
  const off = start % PAGE;
  return { start: start - off, len: Math.ceil((len + off) / PAGE) * PAGE };
}

/**
 * mlock2(start, len, flags) (mlock is flags 0). Returns 0; -EINVAL for
 * flags other than MLOCK_ONFAULT or a negative/wild argument; -EPERM when
 * RLIMIT_MEMLOCK is 0; -ENOMEM when the range is not wholly mapped, when
 * locking it would pass RLIMIT_MEMLOCK (pages locked already count once),
 * or when population runs out of memory.
 */
export function sysMlock2(ctx: MmapContext, mm: MmStruct, start: number, len: number, flags: number): number {
  if (!Number.isSafeInteger(flags) || flags & ~MLOCK_ONFAULT) return -EINVAL;
  const r = lockRange(start, len);
  if (r === null) return -EINVAL;
  if (!canDoMlock(mm)) return -EPERM;
  const limit = Math.floor(mm.rlimits.memlock / PAGE);
  let locked = r.len / PAGE + lockedVm(ctx.vmas, mm);
  if (locked > limit) locked -= countMlockedPages(ctx, mm, r.start, r.len);
  if (locked > limit) return -ENOMEM;
  const err = applyVmaLockFlags(ctx, mm, r.start, r.len, VM_LOCKED | (flags & MLOCK_ONFAULT ? VM_LOCKONFAULT : 0));
  if (err < 0) return err;
  return populateLocked(ctx, mm, r.start, r.start + r.len);
}

/** munlock(start, len): clears the lock bits of the range. Returns 0, -EINVAL for a wild argument, -ENOMEM for a range not wholly mapped. */
export function sysMunlock(ctx: MmapContext, mm: MmStruct, start: number, len: number): number {
  const r = lockRange(start, len);
  if (r === null) return -EINVAL;
  return applyVmaLockFlags(ctx, mm, r.start, r.len, 0);
}

/** apply_mlockall_flags: def_flags for MCL_FUTURE, then (MCL_CURRENT, or 0 to unlock) every VMA. */
function applyMlockallFlags(ctx: MmapContext, mm: MmStruct, flags: number): number {
  mm.defFlags &= ~VM_LOCKED_MASK;
  if (flags & MCL_FUTURE) {
    mm.defFlags |= VM_LOCKED | (flags & MCL_ONFAULT ? VM_LOCKONFAULT : 0);
    if (!(flags & MCL_CURRENT)) return 0;
  }
  const add = flags & MCL_CURRENT ? VM_LOCKED | (flags & MCL_ONFAULT ? VM_LOCKONFAULT : 0) : 0;
  const f = ctx.vmas.f;
  for (let n = mm.tree.first(); n >= 0; ) {
    const vma = mm.tree.value(n);
    const done = mlockFixup(ctx, mm, vma, f.start(vma), f.end(vma), (f.flags(vma) & ~VM_LOCKED_MASK) | add);
    // A refused split cannot happen (whole VMAs); Linux ignores mlock_fixup's errors here too.
    const at = done > 0 ? done : vma;
    n = mm.tree.next(mm.tree.lookup(f.start(at)));
  }
  return 0;
}

/**
 * mlockall(flags). Returns 0; -EINVAL for no flags, unknown ones or
 * MCL_ONFAULT alone; -EPERM when RLIMIT_MEMLOCK is 0; -ENOMEM with
 * MCL_CURRENT when the whole address space (total_vm) exceeds the limit.
 * MCL_CURRENT populates every locked VMA (errors ignored, as Linux does).
 */
export function sysMlockall(ctx: MmapContext, mm: MmStruct, flags: number): number {
  const known = MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT;
  if (!Number.isSafeInteger(flags) || flags === 0 || flags & ~known || flags === MCL_ONFAULT) return -EINVAL;
  if (!canDoMlock(mm)) return -EPERM;
  if (flags & MCL_CURRENT && mm.totalVm > Math.floor(mm.rlimits.memlock / PAGE)) return -ENOMEM;
  applyMlockallFlags(ctx, mm, flags);
  if (flags & MCL_CURRENT) populateLocked(ctx, mm, 0, STACK_TOP);
  return 0;
}

/** munlockall(): clears def_flags' and every VMA's lock bits. Returns 0. */
export function sysMunlockall(ctx: MmapContext, mm: MmStruct): number {
  return applyMlockallFlags(ctx, mm, 0);
}

/**
 * The mlock checker of one address space:
 *   MLOCK-1 def_flags holds lock bits only, and VM_LOCKONFAULT only with VM_LOCKED
 *   MLOCK-2 a VMA has VM_LOCKONFAULT without VM_LOCKED, or is locked though mlock leaves it alone
 */
export function checkMlock(vmas: VmaOps, mm: MmStruct): void {
  const d = mm.defFlags;
  if (d & ~VM_LOCKED_MASK || (d & VM_LOCKED_MASK) === VM_LOCKONFAULT)
    throw new InvariantViolation("MLOCK-1", `mm ${mm.id}: def_flags 0x${d.toString(16)}`);
  const f = vmas.f;
  for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
    const fl = f.flags(mm.tree.value(n));
    if ((fl & VM_LOCKED_MASK) === VM_LOCKONFAULT || (fl & VM_LOCKED && fl & VM_NOLOCK))
      throw new InvariantViolation(
        "MLOCK-2",
        `mm ${mm.id}: VMA at 0x${f.start(mm.tree.value(n)).toString(16)} has flags 0x${fl.toString(16)}`,
      );
  }
}
