/**
 * OSTEP's paging-linear-translate.py (vm-paging): a random linear page
 * table for a small address space, a trace of virtual addresses, and with
 * -c each translation. The same arguments and seed print the same text as
 * the original (the numbers come from py_random.ts, Python's generator).
 *
 * Computed with a model of the simulator's machine, not on memsim's MMU: its
 * geometry (address spaces of a few KiB to under 1 GiB, pages of any power
 * of two, 32-bit entries with the valid bit on top, a physical memory of
 * its own size) is not an x86-64 machine's, and memsim's MMU has one
 * geometry (4 KiB pages, four levels); see sim/README.md.
 */
import { convertSize, hex8, type OstepArgs, type OstepOption, pad } from "./options.ts";
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
];

const pyBool = (b: unknown): string => (b ? "True" : "False");

/** Runs the simulator; returns its output and exit status. */
export function pagingLinearTranslate(o: OstepArgs): { out: string; status: number } {
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
  out.push("", "The format of the page table is simple:", "The high-order (left-most) bit is the VALID bit.");
  out.push("  If the bit is 1, the rest of the entry is the PFN.", "  If the bit is 0, the page is not valid.");
  out.push("Use verbose mode (-v) if you want to print the VPN # by", "each entry of the page table.", "");
  out.push("Page Table (from entry 0 down to the max size)");
  const pt = buildTable(rnd, o, pages, vpages, out);
  out.push("");
  const addrs: number[] = [];
  if (o.addresses === "-1") for (let i = 0; i < (o.num as number); i++) addrs.push(Math.floor(asize * rnd.random()));
  else for (const s of (o.addresses as string).split(",")) addrs.push(Number.parseInt(s, 10));
  out.push("Virtual Address Trace");
  for (const va of addrs) out.push(translateLine(va, pt, pagebits, o.solve === true));
  out.push("");
  if (!o.solve) {
    out.push("For each virtual address, write down the physical address it translates to");
    out.push("OR write down that it is an out-of-bounds address (e.g., segfault).", "");
  }
  return done(0);
}

/** The page table: each VPN valid with probability `used`%, at a random free PFN (retrying a taken one); -1 when invalid. */
function buildTable(rnd: PyRandom, o: OstepArgs, pages: number, vpages: number, out: string[]): Int32Array {
  const used = new Uint8Array(pages);
  const pt = new Int32Array(vpages);
  for (let v = 0; v < vpages; v++) {
    const lead = o.verbose ? `  [${pad(v, 8)}]  ` : "  ";
    for (;;) {
      if (rnd.random() * 100 > 100 - (o.used as number)) {
        const u = Math.floor(pages * rnd.random());
        if (used[u]) continue;
        used[u] = 1;
        out.push(`${lead}0x${hex8((0x80000000 | u) >>> 0)}`);
        pt[v] = u;
      } else {
        out.push(`${lead}0x${hex8(0)}`);
        pt[v] = -1;
      }
      break;
    }
  }
  return pt;
}

function translateLine(va: number, pt: Int32Array, pagebits: number, solve: boolean): string {
  const head = `  VA 0x${hex8(va)} (decimal: ${pad(va, 8)}) -->`;
  if (!solve) return `${head} PA or invalid address?`;
  const vpn = Math.floor(va / 2 ** pagebits) % 2 ** (32 - pagebits);
  const pfn = pt[vpn]!;
  if (pfn < 0) return `${head}  Invalid (VPN ${vpn} not valid)`;
  const pa = pfn * 2 ** pagebits + (va % 2 ** pagebits);
  return `${head} ${hex8(pa)} (decimal ${pad(pa, 8)}) [VPN ${vpn}]`;
}
