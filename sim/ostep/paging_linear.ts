/**
 * OSTEP's paging-linear-translate.py (vm-paging): a random linear page
 * table for a small address space, a trace of virtual addresses, and with
 * -c each translation. The same arguments and seed print the same text as
 * the original (the numbers come from py_random.ts, Python's generator).
 *
 * On memsim's machine: the simulator's memory is a teaching address space
 * (kernel/mm/mmu_teach.ts) of a linear geometry built from -a, -p and -P
 * (one level of 4-byte entries, valid bit 31, the PFN below). Its physical
 * memory is the simulator's -p bytes followed by the page table, which
 * starts at the first 4 KiB (or page) boundary at or above -p, so no page
 * the simulator hands out can be part of it. The table is written into the
 * space's frames of memsim RAM, printed by reading those bytes back, and
 * each -c answer is the space's walk. Only the frames the table lies in are
 * taken: the simulated pages are never written. `--show-kernel` adds the
 * frames, the table and each walk's raw read.
 */
import { TEACH_OUTSIDE, type TeachSpace } from "../../kernel/mm/mmu_teach.ts";
import { linearTeachGeometry } from "../../kernel/mm/pgtable_teach.ts";
import { convertSize, hex8, type OstepArgs, type OstepOption, pad } from "./options.ts";
import { onTeachSpace, type TeachRun, walkLine } from "./paging_teach_machine.ts";
import { PyRandom } from "./py_random.ts";

export const PAGING_LINEAR_OPTIONS: readonly OstepOption[] = [
  {
    short: "A",
    long: "addresses",
    dest: "addresses",
    kind: "string",
    default: "-1",
    help: "a set of comma-separated pages to access; -1 means randomly generate",
  },
  { short: "s", long: "seed", dest: "seed", kind: "int", default: 0, help: "the random seed" },
  { short: "a", long: "asize", dest: "asize", kind: "string", default: "16k", help: "address space size (e.g., 16, 64k, 32m, 1g)" },
  { short: "p", long: "physmem", dest: "psize", kind: "string", default: "64k", help: "physical memory size (e.g., 16, 64k, 32m, 1g)" },
  { short: "P", long: "pagesize", dest: "pagesize", kind: "string", default: "4k", help: "page size (e.g., 4k, 8k, whatever)" },
  { short: "n", long: "numaddrs", dest: "num", kind: "int", default: 5, help: "number of virtual addresses to generate" },
  { short: "u", long: "used", dest: "used", kind: "int", default: 50, help: "percent of virtual address space that is used" },
  { short: "v", dest: "verbose", kind: "flag", default: false, help: "verbose mode" },
  { short: "c", dest: "solve", kind: "flag", default: false, help: "compute answers for me" },
  {
    short: "K",
    long: "show-kernel",
    dest: "showKernel",
    kind: "flag",
    default: false,
    help: "(memsim) add the kernel's view: the frames, the table, each walk's raw read",
  },
];

const pyBool = (b: unknown): string => (b ? "True" : "False");

/** Runs the simulator; returns its output and exit status. */
export function pagingLinearTranslate(o: OstepArgs): { out: string; status: number; err?: string } {
  const out: string[] = [];
  const done = (status: number) => ({ out: `${out.join("\n")}\n`, status });
  out.push(`ARG seed ${o.seed}`, `ARG address space size ${o.asize}`, `ARG phys mem size ${o.psize}`);
  out.push(`ARG page size ${o.pagesize}`, `ARG verbose ${pyBool(o.verbose)}`, `ARG addresses ${o.addresses}`, "");
  const rnd = new PyRandom(o.seed as number);
  const asize = convertSize(o.asize as string);
  const psize = convertSize(o.psize as string);
  const pagesize = convertSize(o.pagesize as string);
  const fail = (msg: string) => {
    out.push(msg);
    return done(1);
  };
  if (psize <= 1) return fail("Error: must specify a non-zero physical memory size.");
  if (asize < 1) return fail("Error: must specify a non-zero address-space size.");
  if (psize <= asize) return fail("Error: physical memory size must be GREATER than address space size (for this simulation)");
  if (psize >= 2 ** 30 || asize >= 2 ** 30) return fail("Error: must use smaller sizes (less than 1 GB) for this simulation.");
  if (asize % pagesize !== 0) return fail("Error in argument: address space must be a multiple of the pagesize");
  if (psize % pagesize !== 0) return fail("Error in argument: physical memory must be a multiple of the pagesize");
  const pages = psize / pagesize;
  const vpages = asize / pagesize;
  const vabits = Math.floor(Math.log(asize) / Math.log(2));
  if (2 ** vabits !== asize) return fail("Error in argument: address space must be a power of 2");
  const pagebits = Math.floor(Math.log(pagesize) / Math.log(2));
  if (2 ** pagebits !== pagesize) return fail("Error in argument: page size must be a power of 2");
  const table = placeTable(psize, pagesize, vpages);
  if (typeof table === "string") return fail(`Error: memsim: ${table}`);
  out.push("", "The format of the page table is simple:", "The high-order (left-most) bit is the VALID bit.");
  out.push("  If the bit is 1, the rest of the entry is the PFN.", "  If the bit is 0, the page is not valid.");
  out.push("Use verbose mode (-v) if you want to print the VPN # by", "each entry of the page table.", "");
  out.push("Page Table (from entry 0 down to the max size)");
  const asked = o.addresses === "-1" ? null : (o.addresses as string).split(",");
  const ran = onTeachSpace(table.geometry, table.ramBytes, (run) =>
    simulate(run, { rnd, o, pages, vpages, asize, ptbr: table.ptbr, asked }, out),
  );
  if (ran.value !== "") {
    out.push(...(o.showKernel ? ran.kernel : []));
    return { out: `${out.join("\n")}\n`, status: 1, err: ran.value };
  }
  if (!o.solve) {
    out.push("For each virtual address, write down the physical address it translates to");
    out.push("OR write down that it is an out-of-bounds address (e.g., segfault).", "");
  }
  if (o.showKernel) out.push(...ran.kernel);
  return done(0);
}

/** What the simulation needs besides the space. */
interface LinearRun {
  readonly rnd: PyRandom;
  readonly o: OstepArgs;
  readonly pages: number;
  readonly vpages: number;
  readonly asize: number;
  /** The page table's teaching page. */
  readonly ptbr: number;
  /** -A's addresses as written, or null to draw them. */
  readonly asked: string[] | null;
}

/** The teaching memory's shape: -p bytes, then the table from the next 4 KiB (or page) boundary. Returns why not when it cannot be made. */
function placeTable(psize: number, pagesize: number, vpages: number) {
  const align = Math.max(pagesize, 4096);
  const base = Math.ceil(psize / align) * align;
  const tableBytes = vpages * 4;
  const physBytes = Math.ceil((base + tableBytes) / pagesize) * pagesize;
  if (tableBytes > 1 << 30) return `the page table (${tableBytes} bytes) does not fit in a machine`;
  const geometry = linearTeachGeometry(vpages * pagesize, pagesize, physBytes);
  if (typeof geometry === "string") return geometry;
  return { geometry, ptbr: base / pagesize, ramBytes: (4 << 20) + Math.ceil(tableBytes / (1 << 20)) * (1 << 20) };
}

/** The original's main program on the teaching address space: the table, then the trace. Returns the traceback's last line ("" when none). */
function simulate(run: TeachRun, r: LinearRun, out: string[]): string {
  const s = run.space;
  buildTable(s, r);
  const ptAddr = r.ptbr * 2 ** s.geometry.pageBits;
  for (let v = 0; v < r.vpages; v++) out.push(`${r.o.verbose ? `  [${pad(v, 8)}]  ` : "  "}0x${hex8(s.readEntry(ptAddr + v * 4))}`);
  out.push("");
  const addrs: number[] = [];
  if (r.asked === null) for (let i = 0; i < (r.o.num as number); i++) addrs.push(Math.floor(r.asize * r.rnd.random()));
  else
    for (const a of r.asked) {
      // Python's int(): digits with an optional sign and surrounding blanks, else a ValueError.
      if (!/^\s*[-+]?\d+\s*$/.test(a)) return `ValueError: invalid literal for int() with base 10: '${a}'\n`;
      addrs.push(Number.parseInt(a, 10));
    }
  out.push("Virtual Address Trace");
  for (const va of addrs) {
    const head = `  VA 0x${pyHex8(va)} (decimal: ${pad(va, 8)}) -->`;
    if (!r.o.solve) {
      out.push(`${head} PA or invalid address?`);
      continue;
    }
    // The original takes the VPN and offset of the address's low 32 bits (its
    // `& 0xFFFFFFFF`), then indexes its table with the VPN: past the end is an IndexError.
    const pa = s.walk(((va % 2 ** 32) + 2 ** 32) % 2 ** 32);
    if (pa === TEACH_OUTSIDE) return "IndexError: array index out of range\n";
    run.walks.push(walkLine(s, va, pa));
    const vpn = s.stepIndex(0);
    out.push(pa < 0 ? `${head}  Invalid (VPN ${vpn} not valid)` : `${head} ${hex8(pa)} (decimal ${pad(pa, 8)}) [VPN ${vpn}]`);
  }
  out.push("");
  return "";
}

/** The page table: each VPN valid with probability `used`%, at a random free PFN (retrying a taken one). */
function buildTable(s: TeachSpace, r: LinearRun): void {
  if (!s.makeTable(r.ptbr, 0)) throw new Error("paging-linear-translate: no memsim frame for the page table");
  s.setRoot(r.ptbr);
  const used = new Uint8Array(r.pages);
  const pageSize = 2 ** s.geometry.pageBits;
  for (let v = 0; v < r.vpages; v++) {
    for (;;) {
      if (r.rnd.random() * 100 > 100 - (r.o.used as number)) {
        const u = Math.floor(r.pages * r.rnd.random());
        if (used[u]) continue;
        used[u] = 1;
        if (!s.map(v * pageSize, u, ONE_LEVEL)) throw new Error("paging-linear-translate: no memsim frame for the page table");
      }
      break;
    }
  }
}

/** map()'s table maker for a one-level table: never called. */
const ONE_LEVEL = (): number => {
  throw new Error("a linear page table has no lower level");
};

/** Python's '%08x': a negative number keeps its sign in front of the zeros. */
function pyHex8(v: number): string {
  return v < 0 ? `-${(-v).toString(16).padStart(7, "0")}` : hex8(v);
}
