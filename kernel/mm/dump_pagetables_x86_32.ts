/**
 * `explain(va)` and `vmprint` for an x86-32 page table (pgtable_geometry.ts,
 * no PAE), in JOS's terms: the page directory index PDX = va[31:22] and the
 * page-table index PTX = va[21:12], 4-byte entries printed as 8 hex digits
 * with their bits named (P W U PWT PCD A D PS G), and the #PF error code an
 * access would take. Read-only, like dump_pagetables.ts.
 *
 * vmprint (one page written at 1 GiB, one swapped out after it):
 *
 *   page directory 0x00051000
 *    ..PDX 0x100: pde 0x00053067 pa 0x00053000 P W U A D
 *    .. ..PTX 0x000: pte 0x00054067 pa 0x00054000 P W U A D
 *    .. ..PTX 0x001: pte 0xffffff00 swap type 0 offset 0
 */
import type { Sv39Table } from "./dump_pagetables_riscv.ts";
import { PTE_P, PTE_PS, PTE_RW, PTE_US, swpOffset, swpType } from "./pgtable_types.ts";
import { formatVa } from "./types.ts";

function hex8(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

function idx(n: number): string {
  return `0x${n.toString(16).padStart(3, "0")}`;
}

function entry(pt: Sv39Table, table: number, i: number): number {
  return pt.paging.u32[table * 1024 + i] as number;
}

/** A non-zero non-present entry: a swap entry in a page table, nothing valid in the directory. */
function swapWhat(pt: Sv39Table, e: number, level: number): string {
  if (level !== 1) return "not present";
  const flags = pt.geo.flags(e, 0, 1);
  return `swap type ${swpType(flags)} offset ${swpOffset(pt.geo.pfn(e, 0), flags)}`;
}

/** vmprint for x86-32: the directory's non-zero entries (PDX), each page table's below it (PTX). */
export function vmprintX86_32(pt: Sv39Table): string {
  const out = [`page directory ${hex8(pt.root * 4096)}`];
  const userPdes = pt.geo.userRootEntries;
  for (let d = 0; d < userPdes; d++) {
    const pde = entry(pt, pt.root, d);
    if (pde === 0) continue;
    if ((pde & PTE_P) === 0) {
      out.push(` ..PDX ${idx(d)}: pde ${hex8(pde)} ${swapWhat(pt, pde, 2)}`);
      continue;
    }
    out.push(` ..PDX ${idx(d)}: pde ${hex8(pde)} pa ${hex8(pde & ~0xfff)} ${pt.geo.bitNames(pde, 0)}`);
    if ((pde & PTE_PS) !== 0) continue;
    const table = pde >>> 12;
    for (let t = 0; t < 1024; t++) {
      const pte = entry(pt, table, t);
      if (pte === 0) continue;
      const what = (pte & PTE_P) !== 0 ? `pa ${hex8(pte & ~0xfff)} ${pt.geo.bitNames(pte, 0)}` : swapWhat(pt, pte, 1);
      out.push(` .. ..PTX ${idx(t)}: pte ${hex8(pte)} ${what}`);
    }
  }
  return `${out.join("\n")}\n`;
}

const NOT_PRESENT = "a read faults with error code 0x4 (U), a write with 0x6 (U|W): not present";

/** The x86-32 walk for `va`: PDX, then PTX, down to the frame or to the entry where it stops. */
export function explainX86_32(pt: Sv39Table, va: number): string {
  if (!(Number.isInteger(va) && va >= 0 && va < 2 ** 32)) return `${va}: not a 32-bit virtual address (x86-32)\n`;
  const pdx = Math.floor(va / 2 ** 22);
  const ptx = Math.floor(va / 4096) & 1023;
  const out = [
    `${formatVa(va)}: ${pt.kind} page table (x86-32), ASID ${pt.asid}, page directory pfn 0x${pt.root.toString(16)}`,
    `  PDX ${pdx} (${idx(pdx)}) PTX ${ptx} (${idx(ptx)}) offset 0x${(va % 4096).toString(16)}`,
  ];
  if (va >= pt.geo.taskSize) out.push(`  (at or above TASK_SIZE ${hex8(pt.geo.taskSize)}: kernel space, no user mapping)`);
  const pde = entry(pt, pt.root, pdx);
  const dHead = `  PD pfn 0x${pt.root.toString(16)} [${String(pdx).padStart(4)}] = pde ${hex8(pde)}`;
  if ((pde & PTE_P) === 0) {
    out.push(`${dHead} ${pde === 0 ? "(none)" : "(not present)"}`, `  => no page table: ${NOT_PRESENT}`);
    return `${out.join("\n")}\n`;
  }
  if ((pde & PTE_PS) !== 0) {
    out.push(`${dHead} ${pt.geo.bitNames(pde, 0)} -> PS: a 4 MiB page, but CR4.PSE is off: every access faults (reserved bit, 0x8)`);
    return `${out.join("\n")}\n`;
  }
  const table = pde >>> 12;
  out.push(`${dHead} ${pt.geo.bitNames(pde, 0)} -> PT at pfn 0x${table.toString(16)}`);
  const pte = entry(pt, table, ptx);
  const tHead = `  PT pfn 0x${table.toString(16)} [${String(ptx).padStart(4)}] = pte ${hex8(pte)}`;
  if ((pte & PTE_P) === 0) {
    if (pte !== 0)
      out.push(
        `${tHead} (${swapWhat(pt, pte, 1)})`,
        "  => swapped out: any access faults (not present), and the fault reads the slot back",
      );
    else out.push(`${tHead} (none)`, `  => not mapped: ${NOT_PRESENT}`);
    return `${out.join("\n")}\n`;
  }
  const frame = pte >>> 12;
  out.push(`${tHead} ${pt.geo.bitNames(pte, 0)} -> frame pfn 0x${frame.toString(16)}`);
  out.push(`  => pa ${hex8(frame * 4096 + (va % 4096))}; ${permSummary(pde, pte)}`);
  return `${out.join("\n")}\n`;
}

/** Both levels must allow an access (x86); no NX without PAE, so all that is readable is executable. */
function permSummary(pde: number, pte: number): string {
  const w = (pde & pte & PTE_RW) !== 0;
  const u = (pde & pte & PTE_US) !== 0;
  const user = u
    ? `user ${w ? "read/write" : "read-only (a write faults: 0x7)"}`
    : "kernel only (U clear in the PDE or PTE: a user access faults with 0x5)";
  return `${user}; executable (no NX bit without PAE)`;
}
