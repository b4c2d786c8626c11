/**
 * The LRU and reverse-map checker, and reclaim's /proc lines.
 *
 * checkLru recounts from struct page and the page tables. IDs:
 *   LRU-1 a list is broken: a page on it without PG_lru, on another list by
 *         its bits, not allocated anonymous memory (a page-cache page on a
 *         file list), a bad back link, a cycle
 *   LRU-2 a list's count differs from the pages walked on it
 *   LRU-3 a page has PG_lru but is on no list (or on two)
 *   LRU-4 an anonymous page with reverse-map words is on no list, or a PG_mlocked page
 *         is not on the unevictable list
 *   RMAP-1 a present anonymous entry maps a page whose reverse-map words
 *         (mapping, index) do not lead back to it: the rmap walk from the
 *         page would not visit that entry
 */
import { invariant } from "../panic.ts";
import type { MeminfoValues } from "../proc/meminfo.ts";
import { type MemMap, PG_alloc, PG_anon, PG_file, PG2_lru, PG2_mlocked, SP_INDEX, SP_MAPPING } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import { SHMEM_MAPPING } from "./shmem.ts";
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, NR_LRU_LISTS } from "./swap.ts";
import type { Reclaim } from "./vmscan_shrink.ts";

const LIST_NAMES = ["inactive_anon", "active_anon", "unevictable", "inactive_file", "active_file"] as const;
const hex = (pfn: number): string => `0x${pfn.toString(16)}`;

/** Recounts the LRU lists and checks the reverse map of every mapped anonymous page. Throws InvariantViolation. */
export function checkLru(r: Reclaim, procs: ReadonlyArray<{ readonly mm: MmStruct }>): void {
  const memmap = r.memmap;
  const seen = new Uint8Array(memmap.nrPages);
  for (let lru = 0; lru < NR_LRU_LISTS; lru++) walkList(r, lru, seen);
  for (let pfn = 0; pfn < memmap.nrPages; pfn++) {
    const onBits = (memmap.flags2(pfn) & PG2_lru) !== 0 && (memmap.word0(pfn) & PG_alloc) !== 0;
    invariant(!onBits || seen[pfn] === 1, "LRU-3", `pfn ${hex(pfn)} has PG_lru but is on no LRU list`);
    if (!(memmap.word0(pfn) & PG_alloc)) continue;
    // A page-cache page's words name its inode and index: the file side, on no anonymous list. A shmem page's name its object (on no list).
    const mapping = memmap.userWord(pfn, SP_MAPPING);
    if (mapping !== 0 && !memmap.testFlag(pfn, PG_file) && (memmap.testFlag(pfn, PG_anon) || (mapping & SHMEM_MAPPING) === 0))
      invariant(seen[pfn] === 1, "LRU-4", `pfn ${hex(pfn)} has reverse-map words but is on no LRU list`);
    if (memmap.flags2(pfn) & PG2_mlocked)
      invariant(
        r.lru.listOf(pfn) === LRU_UNEVICTABLE && seen[pfn] === 1,
        "LRU-4",
        `mlocked pfn ${hex(pfn)} is not on the unevictable list`,
      );
  }
  const v = new RmapCheck(memmap, r);
  for (const p of procs) v.run(p.mm);
}

function walkList(r: Reclaim, lru: number, seen: Uint8Array): void {
  const lists = r.lru;
  const memmap = r.memmap;
  const name = LIST_NAMES[lru] as string;
  let n = 0;
  let prev = -1;
  for (let pfn = lists.first(lru); pfn >= 0; pfn = lists.next(pfn)) {
    invariant(pfn < memmap.nrPages && n <= memmap.nrPages, "LRU-1", `${name}: link to ${hex(pfn)} leaves mem_map or loops`);
    invariant(seen[pfn] === 0, "LRU-3", `pfn ${hex(pfn)} is on an LRU list twice (again on ${name})`);
    seen[pfn] = 1;
    invariant((memmap.flags2(pfn) & PG2_lru) !== 0, "LRU-1", `${name}: pfn ${hex(pfn)} is on the list without PG_lru`);
    invariant(lists.listOf(pfn) === lru, "LRU-1", `${name}: pfn ${hex(pfn)} is marked for ${LIST_NAMES[lists.listOf(pfn)]}`);
    const kind = lru === LRU_INACTIVE_FILE || lru === LRU_ACTIVE_FILE ? PG_file : PG_anon;
    invariant(
      memmap.testFlag(pfn, PG_alloc) && memmap.testFlag(pfn, kind),
      "LRU-1",
      `${name}: pfn ${hex(pfn)} is not an allocated ${kind === PG_file ? "page-cache" : "anonymous"} page (flags ${memmap.describeFlags(pfn)})`,
    );
    invariant(lists.prev(pfn) === prev, "LRU-1", `${name}: pfn ${hex(pfn)} links back to ${hex(lists.prev(pfn))}, not ${hex(prev)}`);
    prev = pfn;
    n++;
  }
  invariant(lists.last(lru) === prev, "LRU-1", `${name}: the tail is ${hex(lists.last(lru))}, the walk ended at ${hex(prev)}`);
  invariant(lists.count[lru] === n, "LRU-2", `${name}: count ${lists.count[lru]}, ${n} pages on the list`);
}

/** RMAP-1 over one address space: every present anonymous entry is where the page's index says. */
class RmapCheck implements PteVisitor {
  private vma = 0;
  private mm: MmStruct | null = null;

  constructor(
    private readonly memmap: MemMap,
    private readonly r: Reclaim,
  ) {}

  run(mm: MmStruct): void {
    const f = this.r.rmap.vmas.f;
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
      this.vma = mm.tree.value(n);
      this.mm = mm;
      walkRange(mm.pt, f.start(this.vma), f.end(this.vma), this);
    }
    this.mm = null;
  }

  visitPte(va: number, ptep: number, level: number): void {
    const mm = this.mm as MmStruct;
    const flags = mm.pt.pteFlags(ptep);
    if (level !== 1 || !(flags & PTE_P) || flags & PTE_SPECIAL) return;
    const pfn = mm.pt.ptePfn(ptep);
    const memmap = this.memmap;
    if (!memmap.testFlag(pfn, PG_anon) || memmap.userWord(pfn, SP_MAPPING) === 0) return;
    const index = memmap.userWord(pfn, SP_INDEX);
    const at = this.r.rmap.vaOf(this.vma, index);
    invariant(
      at === va,
      "RMAP-1",
      `pid mm ${mm.id}: the entry at 0x${va.toString(16)} maps pfn ${hex(pfn)} (index ${index}), which the rmap walk looks for at ${at < 0 ? "no address of this VMA" : `0x${at.toString(16)}`}`,
    );
  }
}

/** Reclaim's meminfo lines: the anonymous lists (the page cache adds the file ones). */
export function reclaimMeminfo(r: Reclaim, v: MeminfoValues): void {
  const c = r.lru.count;
  const active = (c[LRU_ACTIVE_ANON] as number) * 4;
  const inactive = (c[LRU_INACTIVE_ANON] as number) * 4;
  v["Active(anon)"] = (v["Active(anon)"] ?? 0) + active;
  v["Inactive(anon)"] = (v["Inactive(anon)"] ?? 0) + inactive;
  v.Active = (v.Active ?? 0) + active;
  v.Inactive = (v.Inactive ?? 0) + inactive;
  v.Unevictable = (c[LRU_UNEVICTABLE] as number) * 4;
  v.Mlocked = r.nrMlocked() * 4;
}

/** Reclaim's vmstat lines. */
export function reclaimVmstat(r: Reclaim, out: Array<[string, number]>): void {
  const c = r.lru.count;
  const s = r.stats;
  out.push(["nr_inactive_anon", c[LRU_INACTIVE_ANON] as number]);
  out.push(["nr_active_anon", c[LRU_ACTIVE_ANON] as number]);
  out.push(["nr_unevictable", c[LRU_UNEVICTABLE] as number]);
  out.push(["nr_inactive_file", c[LRU_INACTIVE_FILE] as number]);
  out.push(["nr_active_file", c[LRU_ACTIVE_FILE] as number]);
  out.push(["nr_mlock", r.nrMlocked()]);
  out.push(["workingset_refault_anon", s.workingsetRefaultAnon]);
  out.push(["workingset_refault_file", r.file.stats.workingsetRefaultFile]);
  out.push(["workingset_activate_file", r.file.stats.workingsetActivateFile]);
  out.push(["workingset_restore_file", r.file.stats.workingsetRestoreFile]);
  out.push(["pgscan_kswapd", s.pgscanKswapd]);
  out.push(["pgscan_direct", s.pgscanDirect]);
  out.push(["pgsteal_kswapd", s.pgstealKswapd]);
  out.push(["pgsteal_direct", s.pgstealDirect]);
  out.push(["pgscan_file", r.file.stats.pgscanFile]);
  out.push(["pgsteal_file", r.file.stats.pgstealFile]);
  out.push(["nr_vmscan_write", r.file.stats.vmscanWrite]);
  out.push(["kswapd_wakeups", s.kswapdWakeups]);
}
