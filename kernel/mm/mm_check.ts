/**
 * checkMms: recounts every address space from scratch.
 *   MM-1 the VMA index is malformed (order, heights, gaps)
 *   MM-2 a VMA object disagrees with the index (bounds, owner)
 *   MM-3 VMAs overlap, are empty or unaligned
 *   MM-4 map_count or a VM counter (total, data, stack, exec) is wrong
 *   MM-5 RSS or swap-entry counters disagree with the page table
 *   MM-6 a present or swap entry lies outside every VMA, or maps a frame no one owns
 *   MM-7 commit: an mm's charge is not the sum of its accounted VMAs, or
 *        Committed_AS is not the sum of all charges
 *   MM-8 a page marked exclusive to one address space is mapped more than once
 *   MM-9 a memory policy (task or VMA) is malformed, or a policy is kept
 *        for a VMA no address space holds
 */
import { invariant } from "../panic.ts";
import type { Process } from "../process.ts";
import type { CommitAccounting } from "./commit.ts";
import type { Hugetlb } from "./hugetlb.ts";
import { type MemMap, PG_alloc, PG_anon, PG_anon_exclusive, PG_file } from "./memmap.ts";
import type { Memory } from "./memory.ts";
import { policyOk } from "./mempolicy.ts";
import { PAGE } from "./mm.ts";
import { VM_ACCOUNT, VM_EXEC, VM_GROWSDOWN, VM_SHARED, VM_WRITE } from "./mm_types.ts";
import type { PageTable } from "./pgtable.ts";
import { type PteVisitor, walkRange } from "./pgtable_range.ts";
import { PTE_P, PTE_SPECIAL } from "./pgtable_types.ts";
import type { Shmem } from "./shmem.ts";
import type { VmaOps } from "./vma.ts";

/** What the mm checker recounts: the process side of the kernel (task_init.ts TaskParts has these). */
export interface MmCheckParts {
  readonly tasks: { list(): Process[] };
  readonly memory: Memory;
  readonly shmem: Shmem;
  readonly commit: CommitAccounting;
  readonly vmas: VmaOps;
}

/** Counts present leaves of a range, by kind. */
class RssWalk implements PteVisitor {
  anon = 0;
  shmem = 0;
  file = 0;
  present = 0;
  swap = 0;
  pt: PageTable | null = null;
  constructor(
    private readonly memmap: MemMap,
    private readonly hugetlb: Hugetlb,
  ) {}
  visitPte(va: number, ptep: number, level: number): void {
    const pt = this.pt as PageTable;
    const pages = level === 2 ? 512 : 1;
    const flags = pt.pteFlags(ptep);
    if (!(flags & PTE_P)) {
      this.swap++;
      return;
    }
    this.present += pages;
    if (flags & PTE_SPECIAL) return;
    const pfn = pt.ptePfn(ptep);
    invariant(
      this.memmap.testFlag(pfn, PG_alloc),
      "MM-6",
      `pte for ${va.toString(16)} maps pfn 0x${pfn.toString(16)}, which is not allocated`,
    );
    // A hugetlb page counts in no RSS counter (as in Linux).
    if (level === 2 && this.hugetlb.isHugetlbPage(pfn)) return;
    if (this.memmap.testFlag(pfn, PG_anon)) this.anon += pages;
    else if (this.memmap.testFlag(pfn, PG_file)) this.file += pages;
    else this.shmem += pages;
    invariant(
      !this.memmap.testFlag(pfn, PG_anon_exclusive) || this.memmap.mapcount(pfn) === 1,
      "MM-8",
      `pfn 0x${pfn.toString(16)} at ${va.toString(16)} is exclusive but mapped ${this.memmap.mapcount(pfn)} times`,
    );
  }
}

/** Throws InvariantViolation (MM-n) at the first broken invariant. */
export function checkMms(t: MmCheckParts): void {
  let charged = 0;
  for (const p of t.tasks.list()) charged += checkMm(t, p);
  for (const id of t.shmem.ids()) charged += t.shmem.charged(id);
  t.shmem.check();
  invariant(charged === t.commit.committed, "MM-7", `Committed_AS is ${t.commit.committed} pages, charges add up to ${charged}`);
  checkPolicies(t);
}

/** MM-9: every policy word well formed; the VMA policies kept are exactly those of live VMAs. */
function checkPolicies(t: MmCheckParts): void {
  const nrNodes = t.memory.policy?.numa.nrNodes ?? 1;
  let held = 0;
  for (const p of t.tasks.list()) {
    const mm = p.mm;
    invariant(policyOk(mm.mempolicy, nrNodes), "MM-9", `pid ${p.pid}: task policy 0x${mm.mempolicy.toString(16)} is malformed`);
    for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
      const word = t.vmas.policy(mm.tree.value(n));
      if (word === 0) continue;
      held++;
      invariant(
        policyOk(word, nrNodes),
        "MM-9",
        `pid ${p.pid}: VMA at ${mm.tree.start(n).toString(16)} has malformed policy 0x${word.toString(16)}`,
      );
    }
  }
  invariant(held === t.vmas.nrPolicies, "MM-9", `${t.vmas.nrPolicies} VMA policies kept, live VMAs hold ${held}`);
}

function checkMm(t: MmCheckParts, p: Process): number {
  const mm = p.mm;
  const f = t.vmas.f;
  const problem = mm.tree.validate();
  invariant(problem === null, "MM-1", `pid ${p.pid}: ${problem}`);
  const walk = new RssWalk(t.memory.memmap, t.memory.hugetlb);
  walk.pt = mm.pt;
  let count = 0;
  let total = 0;
  let data = 0;
  let stack = 0;
  let exec = 0;
  let accounted = 0;
  let prevEnd = 0;
  for (let n = mm.tree.first(); n >= 0; n = mm.tree.next(n)) {
    const vma = mm.tree.value(n);
    const start = f.start(vma);
    const end = f.end(vma);
    const flags = f.flags(vma);
    invariant(
      start === mm.tree.start(n) && end === mm.tree.end(n) && f.mm(vma) === mm.id,
      "MM-2",
      `pid ${p.pid}: VMA at ${start.toString(16)} disagrees with the index`,
    );
    invariant(
      start % PAGE === 0 && end % PAGE === 0 && start < end && start >= prevEnd && end <= mm.pt.vaEnd,
      "MM-3",
      `pid ${p.pid}: bad VMA ${start.toString(16)}-${end.toString(16)}`,
    );
    const pages = (end - start) / PAGE;
    count++;
    total += pages;
    if ((flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) === VM_EXEC) exec += pages;
    else if (flags & VM_GROWSDOWN) stack += pages;
    else if ((flags & (VM_WRITE | VM_SHARED)) === VM_WRITE) data += pages;
    if (flags & VM_ACCOUNT) accounted += pages;
    walkRange(mm.pt, start, end, walk);
    prevEnd = end;
  }
  invariant(count === mm.mapCount, "MM-4", `pid ${p.pid}: map_count ${mm.mapCount}, counted ${count}`);
  invariant(
    total === mm.totalVm && data === mm.dataVm && stack === mm.stackVm && exec === mm.execVm,
    "MM-4",
    `pid ${p.pid}: vm counters total/data/stack/exec ${mm.totalVm}/${mm.dataVm}/${mm.stackVm}/${mm.execVm}, counted ${total}/${data}/${stack}/${exec}`,
  );
  invariant(
    walk.anon === mm.rssAnon && walk.shmem === mm.rssShmem && walk.file === mm.rssFile && walk.swap === mm.swapEnts,
    "MM-5",
    `pid ${p.pid}: rss anon/shmem/file/swap ${mm.rssAnon}/${mm.rssShmem}/${mm.rssFile}/${mm.swapEnts}, page table has ${walk.anon}/${walk.shmem}/${walk.file}/${walk.swap}`,
  );
  const all = new RssWalk(t.memory.memmap, t.memory.hugetlb);
  all.pt = mm.pt;
  walkRange(mm.pt, 0, mm.pt.vaEnd, all);
  invariant(all.present === walk.present, "MM-6", `pid ${p.pid}: ${all.present - walk.present} present entries lie outside every VMA`);
  invariant(all.swap === walk.swap, "MM-6", `pid ${p.pid}: ${all.swap - walk.swap} swap entries lie outside every VMA`);
  invariant(accounted === mm.committed, "MM-7", `pid ${p.pid}: charged ${mm.committed} pages, accounted VMAs hold ${accounted}`);
  return mm.committed;
}
