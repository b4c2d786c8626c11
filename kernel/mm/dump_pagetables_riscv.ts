/**
 * `explain(va)` for a Sv39 page table (pgtable_geometry.ts), in RISC-V's
 * own terms: xv6's level numbers (2 at the root down to 0), the raw entry
 * bits by their names (V R W X U G A D, RSW), and the page-fault causes a
 * RISC-V CPU would raise (scause 12 instruction, 13 load, 15 store/AMO).
 * Read-only, like dump_pagetables.ts.
 */
import { type MmuGeometry, SV39_R, SV39_U, SV39_V, SV39_W, SV39_X } from "./pgtable_geometry.ts";
import { formatEntry, pxIndex, swpOffset, swpType } from "./pgtable_types.ts";
import { formatVa } from "./types.ts";

const LEAF = SV39_R | SV39_W | SV39_X;

/** What explainSv39 reads of a page table (PageTable has it; named here so this file needs no import of pgtable.ts). */
export interface Sv39Table {
  readonly root: number;
  readonly asid: number;
  readonly kind: string;
  readonly geo: MmuGeometry;
  readonly paging: { readonly u32: Uint32Array };
}
const FAULTS = "a load faults with scause 13, a store with 15, a fetch with 12 (load/store/instruction page fault)";

/** The Sv39 walk for `va`, level by level, down to the frame or to the entry where it stops. */
export function explainSv39(pt: Sv39Table, va: number): string {
  if (!(Number.isInteger(va) && va >= 0 && va < 2 ** 39)) return `${va}: not a 39-bit virtual address (Sv39)\n`;
  const out = [
    `${formatVa(va)}: ${pt.kind} page table (sv39), ASID ${pt.asid}, root pfn 0x${pt.root.toString(16)}`,
    `  vpn[2] ${pxIndex(va, 3)} vpn[1] ${pxIndex(va, 2)} vpn[0] ${pxIndex(va, 1)} offset 0x${(va % 4096).toString(16)}`,
  ];
  const u32 = pt.paging.u32;
  let table = pt.root;
  for (let level = 3; level >= 1; level--) {
    const i = pxIndex(va, level);
    const lo = u32[table * 1024 + i * 2] as number;
    const hi = u32[table * 1024 + i * 2 + 1] as number;
    const head = `  level ${level - 1} pfn 0x${table.toString(16)} [${String(i).padStart(3)}] = 0x${formatEntry(lo, hi)}`;
    if ((lo & SV39_V) === 0) {
      out.push(`${head} ${(lo | hi) === 0 ? "(none)" : invalidWhat(pt, lo, hi, level)}`);
      out.push(`  => not valid: ${FAULTS}`);
      return `${out.join("\n")}\n`;
    }
    const bits = pt.geo.bitNames(lo, hi);
    const pfn = pt.geo.pfn(lo, hi);
    if ((lo & LEAF) !== 0) {
      if (level === 3) {
        out.push(`${head} ${bits} -> a 1 GiB gigapage: memsim makes none, every access faults`);
        return `${out.join("\n")}\n`;
      }
      const frame = level === 2 ? pfn + (Math.floor(va / 4096) & 511) : pfn;
      const what =
        level === 2 ? `2 MiB megapage at pfn 0x${pfn.toString(16)}, frame 0x${frame.toString(16)}` : `frame pfn 0x${frame.toString(16)}`;
      out.push(`${head} ${bits} -> ${what}`);
      out.push(`  => pa 0x${(frame * 4096 + (va % 4096)).toString(16)}; ${permSummary(lo)}`);
      return `${out.join("\n")}\n`;
    }
    if (level === 1) {
      out.push(`${head} ${bits} -> a pointer at level 0: every access faults`);
      return `${out.join("\n")}\n`;
    }
    out.push(`${head} ${bits} -> level-${level - 2} table at pfn 0x${pfn.toString(16)}`);
    table = pfn;
  }
  return `${out.join("\n")}\n`;
}

/** A non-zero entry with V clear: a swap entry at level 0, anything else at the levels above. */
function invalidWhat(pt: Sv39Table, lo: number, hi: number, level: number): string {
  if (level !== 1) return "(not valid)";
  const flags = pt.geo.flags(lo, hi, level);
  return `(swap entry: type ${swpType(flags)} offset ${swpOffset(pt.geo.pfn(lo, hi), flags)}; the fault reads it back)`;
}

function permSummary(lo: number): string {
  const w = (lo & SV39_W) !== 0 ? "read/write" : "read-only (a store faults: scause 15)";
  const who = (lo & SV39_U) !== 0 ? "user" : "supervisor only (U clear: a user access faults)";
  const x = (lo & SV39_X) !== 0 ? "executable" : "no execute (X clear: a fetch faults with scause 12)";
  return `${who} ${w}; ${x}`;
}
