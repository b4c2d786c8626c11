/**
 * The teaching address space's checker: recounts its frames and walks every
 * table from the root, against what mmu_teach.ts recorded.
 *
 * | ID | invariant |
 * |---|---|
 * | TEACH-1 | the frames recorded are as many as counted, distinct, and each is an allocated frame of memsim |
 * | TEACH-2 | the root register names a top-level table |
 * | TEACH-3 | every table lies in the memory, aligned, on frames that exist |
 * | TEACH-4 | a valid upper entry points at a table of the next level, with no reserved bit set |
 * | TEACH-5 | a valid leaf maps a page inside the memory and outside every table, with no reserved bit set |
 * | TEACH-6 | every table is reached from the root exactly once |
 * | TEACH-7 | the valid leaves are as many as map() made, each to a page map() recorded |
 */
import { invariant } from "../panic.ts";
import type { MemMap } from "./memmap.ts";
import { type TeachGeometry, teachPfn, teachReserved, teachTableBytes, teachTablePages, teachValid } from "./pgtable_teach.ts";
import { PAGE_SIZE } from "./types.ts";

/** What the checker reads of a teaching address space (mmu_teach.ts's TeachSpace). */
export interface TeachView {
  readonly geometry: TeachGeometry;
  readonly root: number;
  readonly nrMapped: number;
  readonly nrPages: number;
  readEntry(pa: number): number;
  pageUse(pfn: number): "table" | "data" | "free";
}

/** Recounts `s`. `backing` and `tables` are its private records. Throws InvariantViolation TEACH-n. */
export function checkTeachSpace(
  s: TeachView,
  backing: Int32Array,
  tables: ReadonlyMap<number, number>,
  counts: { nrBacked: number; memmap: MemMap },
): void {
  checkFrames(backing, counts.nrBacked, counts.memmap);
  const g = s.geometry;
  for (const [pfn, level] of tables) checkTablePlace(g, backing, pfn, level);
  if (s.root < 0) {
    invariant(tables.size <= 1, "TEACH-6", `${tables.size} tables and no root`);
    invariant(s.nrMapped === 0, "TEACH-7", `${s.nrMapped} pages mapped and no root`);
    return;
  }
  invariant(tables.get(s.root) === 0, "TEACH-2", `the root page ${s.root} is not a top-level table`);
  const seen = new Set<number>();
  const leaves = walkTable(s, g, tables, s.root, 0, seen);
  invariant(seen.size === tables.size, "TEACH-6", `${tables.size} tables recorded, ${seen.size} reached from the root`);
  invariant(leaves === s.nrMapped, "TEACH-7", `${leaves} valid leaves, ${s.nrMapped} mapped`);
}

function checkFrames(backing: Int32Array, nrBacked: number, memmap: MemMap): void {
  const pfns = new Set<number>();
  for (const f of backing) {
    if (f < 0) continue;
    invariant(!pfns.has(f), "TEACH-1", `frame 0x${f.toString(16)} backs two places`);
    pfns.add(f);
    invariant(memmap.refcount(f) > 0, "TEACH-1", `frame 0x${f.toString(16)} is not allocated`);
  }
  invariant(pfns.size === nrBacked, "TEACH-1", `${pfns.size} frames found, ${nrBacked} counted`);
}

function checkTablePlace(g: TeachGeometry, backing: Int32Array, pfn: number, level: number): void {
  const base = pfn * 2 ** g.pageBits;
  const end = base + teachTableBytes(g, level);
  invariant(
    end <= g.physBytes && base % g.entryBytes === 0,
    "TEACH-3",
    `table page ${pfn} (level ${level}) is outside the memory or misaligned`,
  );
  for (let f = Math.floor(base / PAGE_SIZE); f * PAGE_SIZE < end; f++) {
    invariant(
      backing[f]! >= 0,
      "TEACH-3",
      `table page ${pfn} lies on teaching bytes 0x${(f * PAGE_SIZE).toString(16)}.. that have no frame`,
    );
  }
}

/** Whether teaching page `pfn` lies inside some table of `tables` (teaching pfn -> level). */
export function insideTable(g: TeachGeometry, tables: ReadonlyMap<number, number>, pfn: number): boolean {
  if (tables.has(pfn)) return true;
  for (const [t, level] of tables) if (pfn > t && pfn < t + teachTablePages(g, level)) return true;
  return false;
}

/** Walks the table at `pfn` of `level`; returns the valid leaves under it. */
function walkTable(
  s: TeachView,
  g: TeachGeometry,
  tables: ReadonlyMap<number, number>,
  pfn: number,
  level: number,
  seen: Set<number>,
): number {
  invariant(!seen.has(pfn), "TEACH-6", `table page ${pfn} is reached twice`);
  seen.add(pfn);
  const base = pfn * 2 ** g.pageBits;
  const entries = 2 ** (g.indexBits[level] as number);
  const leaf = level === g.indexBits.length - 1;
  let leaves = 0;
  for (let i = 0; i < entries; i++) {
    const raw = s.readEntry(base + i * g.entryBytes);
    if (!teachValid(g, raw)) continue;
    const what = `${g.entryNames[level]} ${i} of page ${pfn} (0x${raw.toString(16)})`;
    invariant(teachReserved(g, raw) === 0, leaf ? "TEACH-5" : "TEACH-4", `${what} has reserved bits set`);
    const next = teachPfn(g, raw);
    if (leaf) {
      invariant(
        next < s.nrPages && !insideTable(g, tables, next),
        "TEACH-5",
        `${what} maps page ${next}, outside the memory or in a table`,
      );
      invariant(s.pageUse(next) === "data", "TEACH-7", `${what} maps page ${next}, which map() never mapped`);
      leaves++;
      continue;
    }
    invariant(tables.get(next) === level + 1, "TEACH-4", `${what} points at page ${next}, not a level-${level + 1} table`);
    leaves += walkTable(s, g, tables, next, level + 1, seen);
  }
  return leaves;
}
