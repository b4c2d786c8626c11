/**
 * checkThp: recounts the transparent huge pages from scratch (the `thp`
 * checker, huge_memory.ts).
 *   THP-1 a 2 MiB leaf of a user page table does not map the head of a huge
 *         anonymous page, or does not lie inside one private VMA of its mm
 *   THP-2 a huge page's refcount, or one of its 512 frames' mapcount,
 *         differs from the 2 MiB leaves mapping it; or a tail does not name
 *         its head
 *   THP-3 nr_anon_transparent_hugepages differs from the huge pages counted
 *   THP-4 a huge page marked exclusive is mapped by more than one leaf
 */
import { invariant } from "../panic.ts";
import type { Process } from "../process.ts";
import { HPAGE_ORDER, type HugeMemory } from "./huge_memory.ts";
import type { Hugetlb } from "./hugetlb.ts";
import { type MemMap, PG_alloc, PG_anon, PG_anon_exclusive, PG_head, PG_tail } from "./memmap.ts";
import type { MmStruct } from "./mm.ts";
import { VM_SHARED } from "./mm_types.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr } from "./pgtable_geometry.ts";
import { HPAGE_PAGES, HPAGE_SIZE, PTE_P } from "./pgtable_types.ts";
import type { VmaOps } from "./vma.ts";

/** What the checker reads. */
export interface ThpCheckParts {
  readonly tasks: { list(): Process[] };
  readonly memmap: MemMap;
  readonly vmas: VmaOps;
  readonly huge: HugeMemory;
  /** The hugetlb pool: its leaves are its checker's (hugetlb.ts), not THP's. */
  readonly hugetlb: Hugetlb;
}

/** Throws InvariantViolation (THP-n) at the first broken invariant. */
export function checkThp(t: ThpCheckParts): void {
  const leaves = new Map<number, number>();
  for (const p of t.tasks.list()) {
    if (p.state !== "running") continue;
    const found: number[] = [];
    scan(p.mm.pt, p.mm.pt.root, p.mm.pt.top, 0, found);
    for (let i = 0; i < found.length; i += 2) {
      const va = found[i] as number;
      const head = found[i + 1] as number;
      if (t.hugetlb.isHugetlbPage(head)) continue;
      checkLeaf(t, p, va, head);
      leaves.set(head, (leaves.get(head) ?? 0) + 1);
    }
  }
  const memmap = t.memmap;
  let heads = 0;
  for (let pfn = 0; pfn < memmap.nrPages; pfn++) {
    const f = memmap.flags(pfn);
    if ((f & (PG_alloc | PG_head | PG_anon)) !== (PG_alloc | PG_head | PG_anon) || memmap.order(pfn) !== HPAGE_ORDER) continue;
    heads++;
    checkHead(memmap, pfn, leaves.get(pfn) ?? 0);
    pfn += HPAGE_PAGES - 1;
  }
  invariant(
    heads === t.huge.stats.nrAnonThps,
    "THP-3",
    `nr_anon_transparent_hugepages is ${t.huge.stats.nrAnonThps}, ${heads} huge pages counted`,
  );
}

function checkLeaf(t: ThpCheckParts, p: Process, va: number, head: number): void {
  const memmap = t.memmap;
  const f = memmap.flags(head);
  invariant(
    (f & (PG_alloc | PG_head | PG_anon)) === (PG_alloc | PG_head | PG_anon) && memmap.order(head) === HPAGE_ORDER,
    "THP-1",
    `pid ${p.pid}: 2 MiB leaf at ${va.toString(16)} maps pfn 0x${head.toString(16)} (${memmap.describeFlags(head)}, order ${memmap.order(head)}), not a huge page`,
  );
  const mm: MmStruct = p.mm;
  const vma = t.vmas.lookup(mm, va);
  const f2 = t.vmas.f;
  invariant(
    vma !== 0 && f2.end(vma) >= va + HPAGE_SIZE && !(f2.flags(vma) & VM_SHARED),
    "THP-1",
    `pid ${p.pid}: 2 MiB leaf at ${va.toString(16)} does not lie inside one private VMA`,
  );
}

function checkHead(memmap: MemMap, head: number, leaves: number): void {
  const where = `huge page 0x${head.toString(16)}`;
  invariant(memmap.refcount(head) === leaves, "THP-2", `${where}: refcount ${memmap.refcount(head)}, ${leaves} leaves map it`);
  for (let p = head; p < head + HPAGE_PAGES; p++) {
    if (memmap.mapcount(p) !== leaves)
      invariant(false, "THP-2", `${where}: frame 0x${p.toString(16)} has mapcount ${memmap.mapcount(p)}, ${leaves} leaves map it`);
    if (p !== head && !(memmap.testFlag(p, PG_tail) && memmap.word(p, 3) === head))
      invariant(false, "THP-2", `${where}: frame 0x${p.toString(16)} is not its tail`);
  }
  invariant(!memmap.testFlag(head, PG_anon_exclusive) || leaves <= 1, "THP-4", `${where} is exclusive but mapped by ${leaves} leaves`);
}

/** Pushes va, head for every 2 MiB leaf in the user half below `table`. */
function scan(pt: PageTable, table: number, level: number, base: number, out: number[]): void {
  const u32 = pt.paging.u32;
  const geo = pt.geo;
  const size = geo.levelSize[level] as number;
  const n = level === pt.top ? geo.userRootEntries : geo.entriesPerTable;
  for (let i = 0; i < n; i++) {
    const w = geoEntryAddr(geo, table, i) >>> 2;
    const lo = u32[w] as number;
    if (!(lo & PTE_P)) continue;
    const pfn = geo.pfn(lo, entryHi(geo, u32, w));
    if (level === 2) {
      if (lo & pt.geo.leafBits) out.push(base + i * size, pfn);
    } else scan(pt, pfn, level - 1, base + i * size, out);
  }
}
