/**
 * OSTEP's malloc.py (vm-freespace): a free-list allocator over a pretend
 * heap of `-S` units at `-b`, with a search policy (BEST, WORST, FIRST),
 * a free-list order (ADDRSORT, SIZESORT+, SIZESORT-, INSERT-FRONT,
 * INSERT-BACK), optional coalescing of list neighbours, headers and
 * alignment; random operations (or `-A +10,-0,...`), and with -c the
 * answers and the list after each. The same arguments and seed print the
 * same text as the original.
 *
 * The heap is the simulator's abstract one (addresses are numbers, nothing
 * is stored in them), so there is nothing for memsim's MMU to do here.
 */
import type { OstepArgs, OstepOption } from "./options.ts";
import { PyRandom } from "./py_random.ts";

export const MALLOC_OPTIONS: readonly OstepOption[] = [
  { short: "s", long: "seed", dest: "seed", kind: "int", default: 0, help: "the random seed" },
  { short: "S", long: "size", dest: "heapSize", kind: "int", default: 100, help: "size of the heap" },
  { short: "b", long: "baseAddr", dest: "baseAddr", kind: "int", default: 1000, help: "base address of heap" },
  { short: "H", long: "headerSize", dest: "headerSize", kind: "int", default: 0, help: "size of the header" },
  { short: "a", long: "alignment", dest: "alignment", kind: "int", default: -1, help: "align allocated units to size; -1->no align" },
  { short: "p", long: "policy", dest: "policy", kind: "string", default: "BEST", help: "list search (BEST, WORST, FIRST)" },
  {
    short: "l",
    long: "listOrder",
    dest: "order",
    kind: "string",
    default: "ADDRSORT",
    help: "list order (ADDRSORT, SIZESORT+, SIZESORT-, INSERT-FRONT, INSERT-BACK)",
  },
  { short: "C", long: "coalesce", dest: "coalesce", kind: "flag", default: false, help: "coalesce the free list?" },
  { short: "n", long: "numOps", dest: "opsNum", kind: "int", default: 10, help: "number of random ops to generate" },
  { short: "r", long: "range", dest: "opsRange", kind: "int", default: 10, help: "max alloc size" },
  { short: "P", long: "percentAlloc", dest: "opsPAlloc", kind: "int", default: 50, help: "percent of ops that are allocs" },
  { short: "A", long: "allocList", dest: "opsList", kind: "string", default: "", help: "instead of random, list of ops (+10,-0,etc)" },
  { short: "c", long: "compute", dest: "solve", kind: "flag", default: false, help: "compute answers for me" },
];

const POLICIES = ["FIRST", "BEST", "WORST"];
const ORDERS = ["ADDRSORT", "SIZESORT+", "SIZESORT-", "INSERT-FRONT", "INSERT-BACK"];

/** [address, size] */
type Extent = [number, number];

/** The simulator's allocator: a free list of extents and the size of each allocated address. */
class FreeList {
  list: Extent[];
  private readonly sizes = new Map<number, number>();

  constructor(
    private readonly o: OstepArgs,
    base: number,
  ) {
    this.list = [[base, o.heapSize as number]];
  }

  /** The address found (-1 when none) and how many entries were looked at. */
  malloc(n: number): [number, number] {
    const align = this.o.alignment as number;
    let size = n;
    if (align !== -1 && size % align !== 0) size += align - (size % align);
    size += this.o.headerSize as number;
    const policy = this.o.policy;
    let best = -1;
    let bestSize = policy === "BEST" ? (this.o.heapSize as number) + 1 : -1;
    let count = 0;
    for (let i = 0; i < this.list.length; i++) {
      const [, esize] = this.list[i]!;
      count++;
      if (esize >= size && ((policy === "BEST" && esize < bestSize) || (policy === "WORST" && esize > bestSize) || policy === "FIRST")) {
        best = i;
        bestSize = esize;
        if (policy === "FIRST") break;
      }
    }
    if (best === -1) return [-1, count];
    const addr = this.list[best]![0];
    if (bestSize > size) this.list[best] = [addr + size, bestSize - size];
    else this.list.splice(best, 1);
    this.sizes.set(addr, size);
    return [addr, count];
  }

  /** 0, or -1 when `addr` is not allocated. */
  free(addr: number): number {
    const size = this.sizes.get(addr);
    if (size === undefined) return -1;
    const order = this.o.order;
    if (order === "INSERT-FRONT") this.list.unshift([addr, size]);
    else this.list.push([addr, size]);
    // Array.prototype.sort is stable, as Python's sorted.
    if (order === "ADDRSORT") this.list.sort((a, b) => a[0] - b[0]);
    else if (order === "SIZESORT+") this.list.sort((a, b) => a[1] - b[1]);
    else if (order === "SIZESORT-") this.list.sort((a, b) => b[1] - a[1]);
    if (this.o.coalesce) this.coalesce();
    this.sizes.delete(addr);
    return 0;
  }

  /** Merges each entry with the next one in the list when they touch. */
  private coalesce(): void {
    const out: Extent[] = [];
    let cur = this.list[0]!;
    for (let i = 1; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e[0] === cur[0] + cur[1]) cur = [cur[0], cur[1] + e[1]];
      else {
        out.push(cur);
        cur = e;
      }
    }
    out.push(cur);
    this.list = out;
  }

  dump(): string {
    return `Free List [ Size ${this.list.length} ]: ${this.list.map(([a, s]) => `[ addr:${a} sz:${s} ]`).join("")}`;
  }
}

const pyBool = (b: unknown): string => (b ? "True" : "False");

/** Runs the simulator; returns its output and exit status. */
export function mallocSim(o: OstepArgs): { out: string; status: number; err?: string } {
  if (!POLICIES.includes(o.policy as string))
    return { out: "", status: 1, err: `AssertionError: policy ${o.policy} is not FIRST, BEST or WORST\n` };
  if (!ORDERS.includes(o.order as string))
    return { out: "", status: 1, err: `AssertionError: list order ${o.order} is not one of ${ORDERS.join(", ")}\n` };
  if (!((o.alignment as number) === -1 || (o.alignment as number) > 0))
    return { out: "", status: 1, err: "AssertionError: alignment must be -1 or above 0\n" };
  const m = new FreeList(o, o.baseAddr as number);
  const out: string[] = [];
  for (const [k, v] of [
    ["seed", o.seed],
    ["size", o.heapSize],
    ["baseAddr", o.baseAddr],
    ["headerSize", o.headerSize],
    ["alignment", o.alignment],
    ["policy", o.policy],
    ["listOrder", o.order],
    ["coalesce", pyBool(o.coalesce)],
    ["numOps", o.opsNum],
    ["range", o.opsRange],
    ["percentAlloc", o.opsPAlloc],
    ["allocList", o.opsList],
    ["compute", pyBool(o.solve)],
  ] as const)
    out.push(`${k} ${v}`);
  out.push("");
  const percent = (o.opsPAlloc as number) / 100;
  if (!(percent > 0)) return { out: `${out.join("\n")}\n`, status: 1, err: "AssertionError: percentAlloc must be above 0\n" };
  if (o.opsList === "") randomOps(o, m, percent, out);
  else listedOps(o, m, out);
  return { out: `${out.join("\n")}\n`, status: 0 };
}

function randomOps(o: OstepArgs, m: FreeList, percent: number, out: string[]): void {
  const rnd = new PyRandom(o.seed as number);
  const ptr = new Map<number, number>();
  const live: number[] = [];
  let c = 0;
  for (let j = 0; j < (o.opsNum as number); ) {
    if (rnd.random() < percent) {
      const size = Math.floor(rnd.random() * (o.opsRange as number)) + 1;
      const [p, cnt] = m.malloc(size);
      if (p !== -1) {
        ptr.set(c, p);
        live.push(c);
      }
      out.push(
        `ptr[${c}] = Alloc(${size})${o.solve ? ` returned ${p + (o.headerSize as number)} (searched ${cnt} elements)` : " returned ?"}`,
      );
      c++;
    } else {
      if (ptr.size === 0) continue;
      const d = Math.floor(rnd.random() * live.length);
      const id = live[d]!;
      const rc = m.free(ptr.get(id)!);
      out.push(`Free(ptr[${id}])`, o.solve ? `returned ${rc}` : "returned ?");
      ptr.delete(id);
      live.splice(d, 1);
    }
    j++;
    out.push(o.solve ? m.dump() : "List? ", "");
  }
}

function listedOps(o: OstepArgs, m: FreeList, out: string[]): void {
  const ptr = new Map<number, number>();
  let c = 0;
  for (const op of (o.opsList as string).split(",")) {
    if (op[0] === "+") {
      const size = Number.parseInt(op.slice(1), 10);
      const [p, cnt] = m.malloc(size);
      if (p !== -1) ptr.set(c, p);
      out.push(`ptr[${c}] = Alloc(${size})${o.solve ? ` returned ${p} (searched ${cnt} elements)` : " returned ?"}`);
      c++;
    } else if (op[0] === "-") {
      const index = Number.parseInt(op.slice(1), 10);
      if (index >= ptr.size) {
        out.push("Invalid Free: Skipping");
        continue;
      }
      const rc = m.free(ptr.get(index) ?? Number.NaN);
      out.push(`Free(ptr[${index}])`, o.solve ? `returned ${rc}` : "returned ?");
    } else {
      out.push("badly specified operand: must be +Size or -Index");
      return;
    }
    out.push(o.solve ? m.dump() : "List?", "");
  }
}
