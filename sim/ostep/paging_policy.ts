/**
 * OSTEP's paging-policy.py (vm-beyondphys-policy): a reference string of
 * page numbers (given, read from a file, or drawn from Python's generator
 * with the seed), a cache of N pages and a policy; with -c the hit or miss
 * of each access, the resident pages and the victim, then the hit rate.
 * The same arguments print the same text as the original.
 *
 * The answers come from a memsim machine (paging_policy_machine.ts): the
 * string is replayed as stores of a process in a memory cgroup of N frames
 * with swap, in the every-access mode, under the matching
 * `layers.replacement` policy; a hit is an access that did not fault, the
 * victim is the page the kernel swapped out. Only the order the resident
 * pages are printed in is the simulator's convention (arrival order; for
 * LRU, least recently used first).
 */
import { readFileSync } from "node:fs";
import type { OstepArgs, OstepOption } from "./options.ts";
import { type PolicyName, replayOnMachine } from "./paging_policy_machine.ts";
import { PyRandom } from "./py_random.ts";

export const PAGING_POLICY_OPTIONS: readonly OstepOption[] = [
  {
    short: "a",
    long: "addresses",
    dest: "addresses",
    kind: "string",
    default: "-1",
    help: "a set of comma-separated pages to access; -1 means randomly generate",
  },
  { short: "f", long: "addressfile", dest: "addressfile", kind: "string", default: "", help: "a file with a bunch of addresses in it" },
  {
    short: "n",
    long: "numaddrs",
    dest: "numaddrs",
    kind: "string",
    default: "10",
    help: "if -a (--addresses) is -1, this is the number of addrs to generate",
  },
  {
    short: "p",
    long: "policy",
    dest: "policy",
    kind: "string",
    default: "FIFO",
    help: "replacement policy: FIFO, LRU, OPT, UNOPT, RAND, CLOCK",
  },
  { short: "b", long: "clockbits", dest: "clockbits", kind: "int", default: 2, help: "for CLOCK policy, how many clock bits to use" },
  { short: "C", long: "cachesize", dest: "cachesize", kind: "string", default: "3", help: "size of the page cache, in pages" },
  {
    short: "m",
    long: "maxpage",
    dest: "maxpage",
    kind: "string",
    default: "10",
    help: "if randomly generating page accesses, this is the max page number",
  },
  { short: "s", long: "seed", dest: "seed", kind: "string", default: "0", help: "random number seed" },
  { short: "N", long: "notrace", dest: "notrace", kind: "flag", default: false, help: "do not print out a detailed trace" },
  { short: "c", long: "compute", dest: "solve", kind: "flag", default: false, help: "compute answers for me" },
  {
    short: "K",
    long: "show-kernel",
    dest: "showKernel",
    kind: "flag",
    default: false,
    help: "(memsim) with -c, add the kernel's view: faults, swap I/O, LRU lists",
  },
];

const POLICIES: readonly PolicyName[] = ["FIFO", "LRU", "MRU", "OPT", "UNOPT", "RAND", "CLOCK"];

/** The left and right labels of the resident list, by policy. */
const SIDES: Record<PolicyName, readonly [string, string]> = {
  FIFO: ["FirstIn", "Lastin "],
  LRU: ["LRU", "MRU"],
  MRU: ["LRU", "MRU"],
  OPT: ["Left ", "Right"],
  UNOPT: ["Left ", "Right"],
  RAND: ["Left ", "Right"],
  CLOCK: ["Left ", "Right"],
};

const pyBool = (b: unknown): string => (b ? "True" : "False");

/** Python's int() of a command-line string, or NaN. */
function pyInt(s: string): number {
  return /^\s*[-+]?\d+\s*$/.test(s) ? Number.parseInt(s, 10) : Number.NaN;
}

/** Runs the simulator; returns its output and exit status. */
export function pagingPolicy(o: OstepArgs): { out: string; status: number; err?: string } {
  const out: string[] = [];
  for (const [label, key] of [
    ["addresses", "addresses"],
    ["addressfile", "addressfile"],
    ["numaddrs", "numaddrs"],
    ["policy", "policy"],
    ["clockbits", "clockbits"],
    ["cachesize", "cachesize"],
    ["maxpage", "maxpage"],
    ["seed", "seed"],
  ] as const)
    out.push(`ARG ${label} ${o[key]}`);
  out.push(`ARG notrace ${pyBool(o.notrace)}`, "");
  const ints = { numaddrs: pyInt(o.numaddrs as string), cachesize: pyInt(o.cachesize as string), seed: pyInt(o.seed as string) };
  const maxpage = pyInt(o.maxpage as string);
  const bad = Object.entries({ ...ints, maxpage }).find(([, v]) => Number.isNaN(v));
  if (bad) return { out: `${out.join("\n")}\n`, status: 1, err: `ValueError: invalid literal for int(): ${o[bad[0]]}\n` };
  const rng = new PyRandom(ints.seed);
  const addrs = addressList(o, rng, ints.numaddrs, maxpage);
  if (typeof addrs === "string") return { out: `${out.join("\n")}\n`, status: 1, err: addrs };
  const policy = o.policy as string;
  if (!o.solve) {
    out.push(`Assuming a replacement policy of ${policy}, and a cache of size ${ints.cachesize} pages,`);
    out.push("figure out whether each of the following page references hit or miss", "in the page cache.", "");
    for (const n of addrs) out.push(`Access: ${n}  Hit/Miss?  State of Memory?`);
    out.push("");
    return { out: `${out.join("\n")}\n`, status: 0 };
  }
  if (!o.notrace) out.push("Solving...", "");
  if (!(POLICIES as readonly string[]).includes(policy)) {
    out.push(`Policy ${policy} is not yet implemented`);
    return { out: `${out.join("\n")}\n`, status: 1 };
  }
  if (addrs.some((n) => n < 0)) return { out: `${out.join("\n")}\n`, status: 1, err: "memsim replays pages 0 and up only\n" };
  const name = policy as PolicyName;
  const run = replayOnMachine(name, addrs, Math.max(ints.cachesize, 0), rng, o.clockbits as number);
  const [left, right] = SIDES[name];
  const memory: number[] = [];
  let hits = 0;
  let misses = 0;
  for (const [i, n] of addrs.entries()) {
    const step = run.steps[i]!;
    if (step.hit) {
      hits++;
      if (name === "LRU" || name === "MRU") memory.splice(memory.indexOf(n), 1);
    } else misses++;
    if (step.victim >= 0) memory.splice(memory.indexOf(step.victim), 1);
    if (!step.hit || name === "LRU" || name === "MRU") memory.push(n);
    if (!o.notrace) {
      const mem = `[${memory.join(", ")}]`.padStart(12);
      const v = step.victim < 0 ? "-" : String(step.victim);
      out.push(`Access: ${n}  ${step.hit ? "HIT " : "MISS"} ${left} -> ${mem} <- ${right} Replaced:${v} [Hits:${hits} Misses:${misses}]`);
    }
  }
  if (hits + misses === 0) return { out: `${out.join("\n")}\n\n`, status: 1, err: "ZeroDivisionError: float division by zero\n" };
  out.push("", `FINALSTATS hits ${hits}   misses ${misses}   hitrate ${pyFixed2((100 * hits) / (hits + misses))}`, "");
  if (o.showKernel) out.push(...run.kernel);
  return { out: `${out.join("\n")}\n`, status: 0 };
}

/** The reference string: the file's lines, the -a list, or -n pages drawn as int(maxpage * random.random()). Returns an error message when the file cannot be read. */
function addressList(o: OstepArgs, rng: PyRandom, numaddrs: number, maxpage: number): number[] | string {
  const file = o.addressfile as string;
  if (file !== "") {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return `IOError: [Errno 2] No such file or directory: '${file}'\n`;
    }
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const nums = lines.map(pyInt);
    return nums.some(Number.isNaN) ? `ValueError: invalid literal for int() in ${file}\n` : nums;
  }
  const a = o.addresses as string;
  if (a === "-1") {
    const out: number[] = [];
    for (let i = 0; i < numaddrs; i++) out.push(Math.floor(maxpage * rng.random()));
    return out;
  }
  const nums = a.split(",").map(pyInt);
  return nums.some(Number.isNaN) ? `ValueError: invalid literal for int() with base 10: '${a}'\n` : nums;
}

/** Python's '%.2f': the exact binary value rounded, an exact tie to even (toFixed rounds a tie up). */
export function pyFixed2(x: number): string {
  // A tie at two decimals that a double holds exactly is some integer plus 1/8, 3/8, 5/8 or 7/8.
  if (Number.isInteger(x * 8) && !Number.isInteger(x * 4)) {
    const down = Math.floor(x * 100);
    return ((down % 2 === 0 ? down : down + 1) / 100).toFixed(2);
  }
  return x.toFixed(2);
}
