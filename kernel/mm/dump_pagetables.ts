/**
 * Page-table pictures for labs and debugging (Linux arch/x86/mm/dump_pagetables.c,
 * xv6 vmprint): the tree entry by entry, the mapped ranges labelled by
 * virtual address, and one address's walk explained level by level.
 * Read-only: nothing here sets A/D bits or touches the TLB.
 */
import { explainSv39 } from "./dump_pagetables_riscv.ts";
import { explainX86_32, vmprintX86_32 } from "./dump_pagetables_x86_32.ts";
import type { PageTable } from "./pgtable.ts";
import { entryHi, geoEntryAddr } from "./pgtable_geometry.ts";
import {
  entryFlags,
  entryPfn,
  formatEntry,
  formatPteFlags,
  isLeaf,
  LEVEL_NAMES,
  PTE_G,
  PTE_NX,
  PTE_P,
  PTE_PCD,
  PTE_PS,
  PTE_PWT,
  PTE_RW,
  PTE_US,
  pxIndex,
  swpOffset,
  swpType,
  TABLE_NAMES,
} from "./pgtable_types.ts";
import { formatVa, PAGE_OFFSET, TASK_SIZE, VMALLOC_END, VMALLOC_START } from "./types.ts";

function hex16(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}

function entryAt(pt: PageTable, table: number, i: number): [number, number] {
  const u32 = pt.paging.u32;
  const w = geoEntryAddr(pt.geo, table, i) >>> 2;
  return [u32[w] as number, entryHi(pt.geo, u32, w)];
}

/**
 * vmprint, xv6 style: "page table 0x<root pa>", then every non-zero entry
 * as " ..<index>: pte 0x<entry> pa 0x<frame pa>" with one " .." per depth.
 */
export function vmprint(pt: PageTable): string {
  if (pt.geo.name === "x86-32") return vmprintX86_32(pt);
  const out = [`page table ${hex16(pt.root * 4096)}`];
  printTable(pt, pt.root, pt.top, out);
  return `${out.join("\n")}\n`;
}

function printTable(pt: PageTable, table: number, level: number, out: string[]): void {
  const dots = " ..".repeat(pt.top + 1 - level);
  for (let i = 0; i < pt.geo.entriesPerTable; i++) {
    const [lo, hi] = entryAt(pt, table, i);
    if ((lo | hi) === 0) continue;
    const pfn = pt.geo.pfn(lo, hi);
    if ((lo & PTE_P) === 0) {
      const flags = pt.geo.flags(lo, hi, level);
      out.push(`${dots}${i}: pte 0x${formatEntry(lo, hi)} swap type ${swpType(flags)} offset ${swpOffset(pfn, flags)}`);
      continue;
    }
    out.push(`${dots}${i}: pte 0x${formatEntry(lo, hi)} pa ${hex16(pfn * 4096)}`);
    if ((lo & PTE_P) !== 0 && !isLeaf(level, pt.geo.flags(lo, hi, level))) printTable(pt, pfn, level - 1, out);
  }
}

/** The protection columns of Linux's ptdump for a leaf's flags at `level`. */
function protColumns(flags: number, level: number): string {
  if ((flags & PTE_P) === 0) return "                          ";
  return [
    flags & PTE_US ? "USR" : "   ",
    flags & PTE_RW ? "RW " : "ro ",
    flags & PTE_PWT ? "PWT" : "   ",
    flags & PTE_PCD ? "PCD" : "   ",
    flags & PTE_PS && level > 1 ? "PSE" : "   ",
    flags & PTE_G ? "GLB" : "   ",
    flags & PTE_NX ? "NX" : "x ",
  ].join(" ");
}

function sizeColumn(bytes: number): string {
  let size = bytes / 1024;
  const units = "KMGTPE";
  let u = 0;
  while (size % 1024 === 0 && u < units.length - 1) {
    size /= 1024;
    u++;
  }
  return `${String(size).padStart(9)}${units[u]}`;
}

/** A mapped range being coalesced. */
interface Run {
  start: number;
  end: number;
  prot: string;
  level: number;
}

const MARKERS: ReadonlyArray<readonly [number, string]> = [
  [0, "User Space"],
  [TASK_SIZE, "Kernel Space"],
  [PAGE_OFFSET, "Low Kernel Mapping"],
  [VMALLOC_START, "vmalloc() Area"],
  [VMALLOC_END, "vmalloc() End"],
];

/**
 * ptdump, Linux style: one line per run of leaves with the same protection
 * at the same level ("0x<start>-0x<end>  <size> USR RW ... NX pte"), holes
 * skipped, with Linux's section markers. Addresses in canonical form.
 */
export function ptdump(pt: PageTable): string {
  const out: string[] = [];
  const runs: Run[] = [];
  collectRuns(pt, pt.root, pt.top, 0, runs);
  let marker = 0;
  for (const r of runs) {
    while (marker < MARKERS.length && (MARKERS[marker] as readonly [number, string])[0] <= r.start) {
      out.push(`---[ ${(MARKERS[marker] as readonly [number, string])[1]} ]---`);
      marker++;
    }
    out.push(
      `0x${formatVa(r.start).padStart(16, "0")}-0x${formatVa(r.end).padStart(16, "0")} ${sizeColumn(r.end - r.start)} ${r.prot} ${LEVEL_NAMES[r.level]}`,
    );
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

function collectRuns(pt: PageTable, table: number, level: number, base: number, runs: Run[]): void {
  const size = pt.geo.levelSize[level] as number;
  for (let i = 0; i < pt.geo.entriesPerTable; i++) {
    const [lo, hi] = entryAt(pt, table, i);
    if ((lo & PTE_P) === 0) continue;
    const va = base + i * size;
    const flags = pt.geo.flags(lo, hi, level);
    if (!isLeaf(level, flags)) {
      collectRuns(pt, pt.geo.pfn(lo, hi), level - 1, va, runs);
      continue;
    }
    const prot = protColumns(flags, level);
    const last = runs[runs.length - 1];
    if (last && last.end === va && last.prot === prot && last.level === level) last.end = va + size;
    else runs.push({ start: va, end: va + size, prot, level });
  }
}

/**
 * explain(va): the walk for `va` level by level (index, entry, flags, next
 * table) down to the frame, or to the entry where it stops and the fault an
 * access would take there.
 */
export function explain(pt: PageTable, va: number): string {
  if (pt.geo.name === "sv39") return explainSv39(pt, va);
  if (pt.geo.name === "x86-32") return explainX86_32(pt, va);
  if (!(Number.isInteger(va) && va >= 0 && va < 2 ** 48)) return `${va}: not a 48-bit virtual address\n`;
  const idx = [4, 3, 2, 1].map((l) => `${LEVEL_NAMES[l]}[${pxIndex(va, l)}]`).join(" ");
  const out = [
    `${formatVa(va)}: ${pt.kind} page table, ASID ${pt.asid}, root pfn 0x${pt.root.toString(16)}`,
    `  ${idx} offset 0x${(va % 4096).toString(16)}`,
  ];
  let table = pt.root;
  let rw = true;
  let us = true;
  let nx = false;
  for (let level = 4; level >= 1; level--) {
    const i = pxIndex(va, level);
    const [lo, hi] = entryAt(pt, table, i);
    const flags = entryFlags(lo, hi);
    const head = `  L${level} ${TABLE_NAMES[level]?.padEnd(4)} pfn 0x${table.toString(16)} [${String(i).padStart(3)}] = 0x${formatEntry(lo, hi)}`;
    if ((lo & PTE_P) === 0) {
      if (level === 1 && (lo | hi) !== 0) {
        const slot = swpOffset(entryPfn(lo, hi), flags);
        out.push(`${head} (swap entry: type ${swpType(flags)} offset ${slot})`);
        out.push(`  => swapped out: any access faults with error_code(0x0000) not-present page, and the fault reads slot ${slot} back`);
        return `${out.join("\n")}\n`;
      }
      out.push(`${head} ${(lo | hi) === 0 ? "(none)" : `(not present: ${formatPteFlags(flags)})`}`);
      out.push(`  => not mapped: any access faults with error_code(0x0000) not-present page (plus W=2 for a write, U=4 from user mode)`);
      return `${out.join("\n")}\n`;
    }
    rw &&= (lo & PTE_RW) !== 0;
    us &&= (lo & PTE_US) !== 0;
    nx ||= (flags & PTE_NX) !== 0;
    const pfn = entryPfn(lo, hi);
    if (isLeaf(level, flags)) {
      const frame = level === 2 ? pfn + (Math.floor(va / 4096) & 511) : pfn;
      const what =
        level === 2 ? `2 MiB page at pfn 0x${pfn.toString(16)}, frame 0x${frame.toString(16)}` : `frame pfn 0x${frame.toString(16)}`;
      out.push(`${head} ${formatPteFlags(flags)} -> ${what}`);
      out.push(`  => pa 0x${(frame * 4096 + (va % 4096)).toString(16)}; ${permSummary(rw, us, nx)}`);
      return `${out.join("\n")}\n`;
    }
    if ((flags & PTE_PS) !== 0) {
      out.push(`${head} ${formatPteFlags(flags)} -> PS set at level ${level}: reserved bit, every access faults (error_code 0x0009)`);
      return `${out.join("\n")}\n`;
    }
    out.push(`${head} ${formatPteFlags(flags)} -> ${TABLE_NAMES[level - 1]} at pfn 0x${pfn.toString(16)}`);
    table = pfn;
  }
  return `${out.join("\n")}\n`;
}

function permSummary(rw: boolean, us: boolean, nx: boolean): string {
  const kernel = `kernel ${rw ? "read/write" : "read-only (a write faults: 0x0003)"}`;
  const user = us ? `user ${rw ? "read/write" : "read-only (a write faults: 0x0007)"}` : "user: no access (US clear; faults with 0x0005)";
  const exec = nx ? "no execute (NX; a fetch faults with 0x0011)" : "executable";
  return `${kernel}; ${user}; ${exec}`;
}
