/**
 * OSTEP's paging-multilevel-translate.py (vm-smalltables): a 4 KiB
 * physical memory of 128 pages of 32 bytes, one process with a two-level
 * page table (a page directory of 32 one-byte entries, page-table pages of
 * 32 entries; an entry is a valid bit and a 7-bit PFN, 0x7f when unused),
 * its pages filled with random bytes, and virtual addresses (15 bits) to
 * translate; -c walks each. The same arguments and seed print the same
 * text as the original (run under Python 2, whose random numbers are the
 * same as Python 3's for an integer seed).
 *
 * A model of the simulator's machine, not memsim's MMU: 32-byte pages and
 * one-byte entries are not an x86-64 geometry (sim/README.md).
 */
import { type OstepArgs, type OstepOption, pad } from "./options.ts";
import { PyRandom } from "./py_random.ts";

export const PAGING_MULTILEVEL_OPTIONS: readonly OstepOption[] = [
  { short: "s", long: "seed", dest: "seed", kind: "int", default: 0, help: "the random seed" },
  { short: "a", long: "allocated", dest: "allocated", kind: "int", default: 64, help: "number of virtual pages allocated" },
  { short: "n", long: "addresses", dest: "num", kind: "int", default: 10, help: "number of virtual addresses to generate" },
  { short: "c", long: "solve", dest: "solve", kind: "flag", default: false, help: "compute answers for me" },
];

const PAGE = 32;
const PHYS_PAGES = 128;
const VA_PAGES = 1024;
const PAGE_BITS = 5;
const UNUSED = 0x7f;

const hex2 = (v: number): string => v.toString(16).padStart(2, "0");

/** The simulator's machine: its bytes, its free pages, the page directory's page. */
class SmallMachine {
  readonly mem = new Uint8Array(PAGE * PHYS_PAGES);
  private readonly usedPages = new Uint8Array(PHYS_PAGES);
  private nrUsed = 0;
  pdbr = 0;

  constructor(private readonly rnd: PyRandom) {}

  /** A random free page, taken. Throws when every page is taken (the original's assertion). */
  findFree(): number {
    if (this.nrUsed === PHYS_PAGES) throw new RangeError("out of physical pages: allocate fewer virtual pages (-a)");
    this.nrUsed++;
    let look = Math.floor(this.rnd.random() * PHYS_PAGES);
    while (this.usedPages[look]) look = Math.floor(this.rnd.random() * PHYS_PAGES);
    this.usedPages[look] = 1;
    return look;
  }

  /** A table page of unused entries. */
  initTable(page: number): void {
    this.mem.fill(UNUSED, page * PAGE, (page + 1) * PAGE);
  }

  /** Maps virtual page vp to physical page pp, making its page-table page when missing. */
  map(vp: number, pp: number): void {
    const pdeAddr = this.pdbr * PAGE + (vp >> 5);
    let ptPage: number;
    if (this.mem[pdeAddr]! & 0x80) ptPage = this.mem[pdeAddr]! & 0x7f;
    else {
      ptPage = this.findFree();
      this.mem[pdeAddr] = 0x80 | ptPage;
      this.initTable(ptPage);
    }
    this.mem[ptPage * PAGE + (vp & 31)] = 0x80 | pp;
  }

  /** The process: its directory, then `n` distinct random virtual pages, each with a random page of random bytes (0..30). */
  alloc(n: number): number[] {
    this.pdbr = this.findFree();
    this.initTable(this.pdbr);
    const taken = new Uint8Array(VA_PAGES);
    const vps: number[] = [];
    for (let i = 0; i < n; i++) {
      let vp = Math.floor(this.rnd.random() * VA_PAGES);
      while (taken[vp]) vp = Math.floor(this.rnd.random() * VA_PAGES);
      taken[vp] = 1;
      vps.push(vp);
      const pp = this.findFree();
      this.map(vp, pp);
      for (let j = 0; j < PAGE; j++) this.mem[pp * PAGE + j] = Math.floor(this.rnd.random() * 31);
    }
    return vps;
  }

  /** The walk of va, a line per level, then the answer. */
  translate(va: number, out: string[]): void {
    const pdeIndex = (va & 0x7c00) >> 10;
    const pde = this.mem[this.pdbr * PAGE + pdeIndex]!;
    out.push(
      `  --> pde index:0x${pdeIndex.toString(16)} [decimal ${pdeIndex}] pde contents:0x${pde.toString(16)} (valid ${pde >> 7}, pfn 0x${hex2(pde & 0x7f)} [decimal ${pde & 0x7f}])`,
    );
    if (!(pde & 0x80)) {
      out.push("      --> Fault (page directory entry not valid)");
      return;
    }
    const pteIndex = (va & 0x3e0) >> 5;
    const pte = this.mem[(pde & 0x7f) * PAGE + pteIndex]!;
    out.push(
      `    --> pte index:0x${pteIndex.toString(16)} [decimal ${pteIndex}] pte contents:0x${pte.toString(16)} (valid ${pte >> 7}, pfn 0x${hex2(pte & 0x7f)} [decimal ${pte & 0x7f}])`,
    );
    if (!(pte & 0x80)) {
      out.push("      --> Fault (page table entry not valid)");
      return;
    }
    const pa = ((pte & 0x7f) << PAGE_BITS) | (va & 31);
    out.push(`      --> Translates to Physical Address 0x${pa.toString(16).padStart(3, "0")} --> Value: ${hex2(this.mem[pa]!)}`);
  }
}

/** Runs the simulator; returns its output and exit status. */
export function pagingMultilevelTranslate(o: OstepArgs): { out: string; status: number; err?: string } {
  const out = [`ARG seed ${o.seed}`, `ARG allocated ${o.allocated}`, `ARG num ${o.num}`, ""];
  const rnd = new PyRandom(o.seed as number);
  const m = new SmallMachine(rnd);
  let used: number[];
  try {
    used = m.alloc(o.allocated as number);
  } catch (e) {
    // The original stops on a failed assertion (a traceback, status 1).
    return { out: `${out.join("\n")}\n`, status: 1, err: `AssertionError: ${(e as Error).message}\n` };
  }
  for (let i = 0; i < PHYS_PAGES; i++) {
    let line = `page ${pad(i, 3)}:`;
    for (let j = 0; j < PAGE; j++) line += hex2(m.mem[i * PAGE + j]!);
    out.push(line);
  }
  out.push("", `PDBR: ${m.pdbr}  (decimal) [This means the page directory is held in this page]`, "");
  for (let i = 0; i < (o.num as number); i++) {
    const va =
      rnd.random() * 100 > 50 || i >= used.length ? Math.floor(rnd.random() * 1024 * 32) : (used[i]! << 5) | Math.floor(rnd.random() * 32);
    const v = va.toString(16).padStart(4, "0");
    if (o.solve) {
      out.push(`Virtual Address ${v}:`);
      m.translate(va, out);
    } else out.push(`Virtual Address ${v}: Translates To What Physical Address (And Fetches what Value)? Or Fault?`);
  }
  out.push("");
  return { out: `${out.join("\n")}\n`, status: 0 };
}
