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
 * On memsim's machine: the simulator's memory is a teaching address space
 * of the "ostep-multilevel" geometry (kernel/mm/mmu_teach.ts), one frame of
 * the machine's RAM; the directory, the page-table pages and the random
 * pages are written into it, the memory dump is read back from it, and each
 * answer is the space's walk of those bytes. The simulated OS's choice of
 * free pages (random, from Python's generator) stays here: it is the
 * simulator's, not the MMU's. `--show-kernel` adds the frame, the tables
 * and each walk's raw reads.
 */
import type { TeachSpace } from "../../kernel/mm/mmu_teach.ts";
import { TEACH_GEOMETRIES, teachPfn, teachValid } from "../../kernel/mm/pgtable_teach.ts";
import { type OstepArgs, type OstepOption, pad } from "./options.ts";
import { onTeachSpace, type TeachRun, walkLine } from "./paging_teach_machine.ts";
import { PyRandom } from "./py_random.ts";

export const PAGING_MULTILEVEL_OPTIONS: readonly OstepOption[] = [
  { short: "s", long: "seed", dest: "seed", kind: "int", default: 0, help: "the random seed" },
  { short: "a", long: "allocated", dest: "allocated", kind: "int", default: 64, help: "number of virtual pages allocated" },
  { short: "n", long: "addresses", dest: "num", kind: "int", default: 10, help: "number of virtual addresses to generate" },
  { short: "c", long: "solve", dest: "solve", kind: "flag", default: false, help: "compute answers for me" },
  {
    short: "K",
    long: "show-kernel",
    dest: "showKernel",
    kind: "flag",
    default: false,
    help: "(memsim) add the kernel's view: the frames, the tables, each walk's raw reads",
  },
];

const PAGE = 32;
const PHYS_PAGES = 128;
const VA_PAGES = 1024;
const PAGE_BITS = 5;
/** The machine's RAM: the teaching memory needs one frame; 4 MiB leaves the kernel room. */
const RAM_BYTES = 4 << 20;

const hex2 = (v: number): string => v.toString(16).padStart(2, "0");

/** A teaching-memory write that found no frame: the machine is sized so that it cannot happen. */
function must(ok: boolean): void {
  if (!ok) throw new Error("paging-multilevel-translate: no memsim frame for the teaching memory");
}

/** The simulator's OS: its free pages, chosen at random, and the process it builds in the teaching address space. */
class OstepOs {
  private readonly usedPages = new Uint8Array(PHYS_PAGES);
  private nrUsed = 0;

  constructor(
    private readonly space: TeachSpace,
    private readonly rnd: PyRandom,
  ) {}

  /** A random free page, taken. Throws when every page is taken (the original's assertion). */
  findFree(): number {
    if (this.nrUsed === PHYS_PAGES) throw new RangeError("out of physical pages: allocate fewer virtual pages (-a)");
    this.nrUsed++;
    let look = Math.floor(this.rnd.random() * PHYS_PAGES);
    while (this.usedPages[look]) look = Math.floor(this.rnd.random() * PHYS_PAGES);
    this.usedPages[look] = 1;
    return look;
  }

  /** The process: its directory, then `n` distinct random virtual pages, each with a random page of random bytes (0..30). */
  alloc(n: number): number[] {
    const pdbr = this.findFree();
    must(this.space.makeTable(pdbr, 0));
    this.space.setRoot(pdbr);
    const taken = new Uint8Array(VA_PAGES);
    const vps: number[] = [];
    for (let i = 0; i < n; i++) {
      let vp = Math.floor(this.rnd.random() * VA_PAGES);
      while (taken[vp]) vp = Math.floor(this.rnd.random() * VA_PAGES);
      taken[vp] = 1;
      vps.push(vp);
      const pp = this.findFree();
      // A missing page-table page is taken after pp, as the original does.
      must(this.space.map(vp << PAGE_BITS, pp, () => this.findFree()));
      for (let j = 0; j < PAGE; j++) must(this.space.write8(pp * PAGE + j, Math.floor(this.rnd.random() * 31)));
    }
    return vps;
  }
}

/** The walk of va in the original's words: a line per entry read, then the answer. */
function translate(s: TeachSpace, va: number, out: string[], walks: string[]): void {
  const pa = s.walk(va);
  walks.push(walkLine(s, va, pa));
  const g = s.geometry;
  for (let i = 0; i < s.stepCount; i++) {
    const raw = s.stepRaw(i);
    const idx = s.stepIndex(i);
    const pfn = teachPfn(g, raw);
    const [lead, name] = i === 0 ? ["  -->", "pde"] : ["    -->", "pte"];
    out.push(
      `${lead} ${name} index:0x${idx.toString(16)} [decimal ${idx}] ${name} contents:0x${raw.toString(16)} (valid ${teachValid(g, raw) ? 1 : 0}, pfn 0x${hex2(pfn)} [decimal ${pfn}])`,
    );
  }
  if (pa === -1) out.push("      --> Fault (page directory entry not valid)");
  else if (pa < 0) out.push("      --> Fault (page table entry not valid)");
  else out.push(`      --> Translates to Physical Address 0x${pa.toString(16).padStart(3, "0")} --> Value: ${hex2(s.read8(pa))}`);
}

/** Runs the simulator; returns its output and exit status. */
export function pagingMultilevelTranslate(o: OstepArgs): { out: string; status: number; err?: string } {
  const out = [`ARG seed ${o.seed}`, `ARG allocated ${o.allocated}`, `ARG num ${o.num}`, ""];
  const rnd = new PyRandom(o.seed as number);
  let kernel: string[];
  try {
    kernel = onTeachSpace(TEACH_GEOMETRIES["ostep-multilevel"], RAM_BYTES, (run) => simulate(o, rnd, run, out)).kernel;
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    // The original stops on a failed assertion (a traceback, status 1).
    return { out: `${out.join("\n")}\n`, status: 1, err: `AssertionError: ${e.message}\n` };
  }
  if (o.showKernel) out.push(...kernel);
  return { out: `${out.join("\n")}\n`, status: 0 };
}

/** The original's main program on the teaching address space. */
function simulate(o: OstepArgs, rnd: PyRandom, run: TeachRun, out: string[]): void {
  const s = run.space;
  const used = new OstepOs(s, rnd).alloc(o.allocated as number);
  for (let i = 0; i < PHYS_PAGES; i++) {
    let line = `page ${pad(i, 3)}:`;
    for (let j = 0; j < PAGE; j++) line += hex2(s.read8(i * PAGE + j));
    out.push(line);
  }
  out.push("", `PDBR: ${s.root}  (decimal) [This means the page directory is held in this page]`, "");
  for (let i = 0; i < (o.num as number); i++) {
    const va =
      rnd.random() * 100 > 50 || i >= used.length ? Math.floor(rnd.random() * 1024 * 32) : (used[i]! << 5) | Math.floor(rnd.random() * 32);
    const v = va.toString(16).padStart(4, "0");
    if (o.solve) {
      out.push(`Virtual Address ${v}:`);
      translate(s, va, out, run.walks);
    } else out.push(`Virtual Address ${v}: Translates To What Physical Address (And Fetches what Value)? Or Fault?`);
  }
  out.push("");
}
