/**
 * The translation simulators' machine: a memsim machine with one teaching
 * address space (kernel/mm/mmu_teach.ts) in its RAM. The simulator writes
 * its tables and random pages into the space's frames and answers by
 * walking those bytes; afterwards every checker runs, the space is
 * destroyed and MemFree (per-CPU lists drained) must be back where it was. `--show-kernel` prints
 * the lines {@link TeachRun.kernel} collects: the frames used, the tables,
 * each walk's raw reads.
 */
import { describeTeachGeometry } from "../../kernel/mm/dump_pagetables_teach.ts";
import type { TeachSpace } from "../../kernel/mm/mmu_teach.ts";
import { type TeachGeometry, teachValid } from "../../kernel/mm/pgtable_teach.ts";
import { Machine } from "../machine.ts";

const hex = (v: number): string => `0x${v.toString(16)}`;

/** A simulator's run on a teaching address space: the space, and the kernel's view as it goes. */
export interface TeachRun {
  readonly space: TeachSpace;
  /** `KERNEL walk ...` lines (walkLine), printed by --show-kernel after the frames and tables. */
  readonly walks: string[];
}

/**
 * Boots a machine of `ramBytes`, makes a teaching address space of `g`,
 * runs `body` on it, checks every invariant, tears the space down and checks
 * that MemFree came back. Returns what `body` returned and the kernel lines.
 * Throws what `body` throws (after tearing down), and Error when frames leaked.
 */
export function onTeachSpace<T>(g: TeachGeometry, ramBytes: number, body: (run: TeachRun) => T): { value: T; kernel: string[] } {
  const m = Machine.boot({ ramBytes });
  // Per-CPU pages are not in MemFree (as on Linux): drain them so that before and after compare.
  const memFree = () => {
    m.kernel.drainPcp();
    return /MemFree:\s+(\d+)/.exec(m.proc.meminfo())?.[1] ?? "?";
  };
  const before = memFree();
  const space = m.teach({ geometry: g });
  const kernel = [`KERNEL teaching address space ${describeTeachGeometry(g)}`];
  const walks: string[] = [];
  let value: T;
  try {
    value = body({ space, walks });
    m.check();
    kernel.push(...frameLines(space), ...tableLines(space), ...walks);
  } finally {
    space.destroy();
  }
  m.check();
  const after = memFree();
  if (after !== before) throw new Error(`teaching address space leaked frames: MemFree ${before} kB before, ${after} kB after`);
  kernel.push(`KERNEL m.check() passed; destroyed: MemFree ${before} kB before and after`, "");
  return { value, kernel };
}

/** Which memsim frame holds which teaching bytes. */
export function frameLines(s: TeachSpace): string[] {
  const frames = s.frames();
  const list = frames.map((f) => `P${hex(f.base)}-${hex(f.base + 4095)} in pfn ${hex(f.pfn)}`).join(", ");
  return [`KERNEL ${frames.length} memsim frame${frames.length === 1 ? "" : "s"} (alloc_pages order 0): ${list}`];
}

/** The tables, top level first, with where they sit. */
export function tableLines(s: TeachSpace): string[] {
  const g = s.geometry;
  const out: string[] = [];
  for (let level = 0; level < g.indexBits.length; level++) {
    const pages = s
      .tableList()
      .filter(([, l]) => l === level)
      .map(([pfn]) => pfn)
      .sort((a, b) => a - b);
    const where = pages.map((p) => `${p} (P${hex(p * 2 ** g.pageBits)})`).join(", ");
    const root = level === 0 ? `, root register = page ${s.root}` : "";
    out.push(`KERNEL ${g.tableNames[level]} page${pages.length === 1 ? "" : "s"}: ${where || "none"}${root}`);
  }
  return out;
}

/** The raw reads of the walk `s` just made for `va`, ending in `pa` (walk's result). */
export function walkLine(s: TeachSpace, va: number, pa: number): string {
  const g = s.geometry;
  const reads: string[] = [];
  for (let i = 0; i < s.stepCount; i++) {
    const at = s.stepEntryAddr(i);
    const raw = s.stepRaw(i);
    reads.push(
      `${g.entryNames[i]} P${hex(at)} (memsim P${hex(s.physAddr(at))}) = ${hex(raw)} ${teachValid(g, raw) ? "valid" : "not valid"}`,
    );
  }
  const end = pa >= 0 ? `P${hex(pa)}` : pa === -s.stepCount ? "fault" : "outside the address space";
  return `KERNEL walk ${hex(va)}: ${reads.join(", ")} -> ${end}`;
}
