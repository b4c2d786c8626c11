/**
 * Threads on several CPUs against a model: one process and its threads
 * share a window of private anonymous pages; each thread runs its own list
 * of operations (map, unmap, protect, write, read, DONTNEED, fork with a
 * child that writes and exits, and kernel allocations on the thread's CPU:
 * kmalloc/kfree and alloc_pages/free_pages, each block stamped and checked
 * when freed), interleaved by a random seeded schedule that
 * also migrates threads between CPUs. Every read returns what the model
 * says the last write left (a CPU using a stale translation after munmap,
 * mprotect, DONTNEED or a COW write-protect would read another frame, or
 * write where it may not), and after every step the TLB checker of every
 * CPU, the page tables and the address spaces pass.
 */
import fc from "fast-check";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  type Operation,
  PROT_READ,
  PROT_WRITE,
  type Process,
} from "../../../sim/index.ts";
import { checkAfterCommand, expectSame, type PropertyModel, type StoryStats } from "../../support/budget.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const WINDOW = 8;
const RW = PROT_READ | PROT_WRITE;

/** One operation of a thread, as data. */
type Op =
  | { k: "map"; i: number; n: number }
  | { k: "unmap"; i: number; n: number }
  | { k: "protect"; i: number; n: number; prot: number }
  | { k: "write"; i: number; v: number }
  | { k: "read"; i: number }
  | { k: "dontneed"; i: number; n: number }
  | { k: "fork"; i: number; v: number }
  | { k: "kmalloc"; size: number; v: number }
  | { k: "kfree"; pick: number }
  | { k: "pages"; order: number; v: number }
  | { k: "freePages"; pick: number };

/** A story: the machine's CPUs, the threads' programs and the schedule. */
export interface SmpStory {
  cpus: number;
  seed: number;
  migrate: number;
  programs: Op[][];
}

/** Window page -> [prot, value]; absent = unmapped. */
type Model = Map<number, [number, number]>;

/** Kernel blocks live: kmalloc'd [kva, stamp] and allocated [pfn, order, stamp]. */
interface KernelBlocks {
  objs: Array<[number, number]>;
  pages: Array<[number, number, number]>;
}

const page = fc.integer({ min: 0, max: WINDOW - 1 });
const span = fc.integer({ min: 1, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("map" as const), i: page, n: span }),
  fc.record({ k: fc.constant("unmap" as const), i: page, n: span }),
  fc.record({ k: fc.constant("protect" as const), i: page, n: span, prot: fc.constantFrom(PROT_READ, RW) }),
  fc.record({ k: fc.constant("write" as const), i: page, v: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ k: fc.constant("write" as const), i: page, v: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ k: fc.constant("read" as const), i: page }),
  fc.record({ k: fc.constant("read" as const), i: page }),
  fc.record({ k: fc.constant("dontneed" as const), i: page, n: span }),
  fc.record({ k: fc.constant("fork" as const), i: page, v: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ k: fc.constant("kmalloc" as const), size: fc.integer({ min: 4, max: 3000 }), v: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ k: fc.constant("kfree" as const), pick: fc.nat() }),
  fc.record({ k: fc.constant("pages" as const), order: fc.integer({ min: 0, max: 3 }), v: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ k: fc.constant("freePages" as const), pick: fc.nat() }),
);

function pages(o: { i: number; n: number }): number[] {
  const out: number[] = [];
  for (let j = o.i; j < Math.min(WINDOW, o.i + o.n); j++) out.push(j);
  return out;
}

/** Runs a kernel allocation op on the machine, stamping and checking each block. */
function applyKernel(op: Op, m: Machine, kb: KernelBlocks): string {
  const k = m.kernel;
  switch (op.k) {
    case "kmalloc": {
      const kva = k.kmalloc(op.size);
      if (kva === 0) return "nomem";
      k.mem.write32(kva, op.v);
      kb.objs.push([kva, op.v]);
      return "kmalloc";
    }
    case "kfree": {
      if (kb.objs.length === 0) return "skip";
      const [kva, v] = kb.objs.splice(op.pick % kb.objs.length, 1)[0] as [number, number];
      expectSame(k.mem.read32(kva), v, "a kmalloc'd object keeps its stamp");
      k.kfree(kva);
      return "kfree";
    }
    case "pages": {
      const pfn = k.allocPages(op.order);
      if (pfn === null) return "nomem";
      k.mem.write32(k.pfnToKva(pfn), op.v);
      kb.pages.push([pfn, op.order, op.v]);
      return "pages";
    }
    case "freePages": {
      if (kb.pages.length === 0) return "skip";
      const [pfn, order, v] = kb.pages.splice(op.pick % kb.pages.length, 1)[0] as [number, number, number];
      expectSame(k.mem.read32(k.pfnToKva(pfn)), v, "an allocated block keeps its stamp");
      k.freePages(pfn, order);
      return "freePages";
    }
    default:
      return "skip";
  }
}

/** Runs one op against the real process and the model; returns what it saw. */
function apply(op: Op, p: Process, model: Model): string {
  if (op.k === "kmalloc" || op.k === "kfree" || op.k === "pages" || op.k === "freePages") return "kernel";
  const at = BASE + op.i * PAGE;
  switch (op.k) {
    case "map": {
      const ps = pages(op);
      expectSame(p.sys.mmap(at, ps.length * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), at, "mmap");
      for (const j of ps) model.set(j, [RW, 0]);
      return "mapped";
    }
    case "unmap": {
      const ps = pages(op);
      expectSame(p.sys.munmap(at, ps.length * PAGE), 0, "munmap");
      for (const j of ps) model.delete(j);
      return "unmapped";
    }
    case "protect": {
      const ps = pages(op);
      if (!ps.every((j) => model.has(j))) return "skip";
      expectSame(p.sys.mprotect(at, ps.length * PAGE, op.prot), 0, "mprotect");
      for (const j of ps) (model.get(j) as [number, number])[0] = op.prot;
      return "protected";
    }
    case "dontneed": {
      const ps = pages(op);
      if (!ps.every((j) => model.has(j))) return "skip";
      expectSame(p.sys.madvise(at, ps.length * PAGE, MADV_DONTNEED), 0, "madvise");
      for (const j of ps) (model.get(j) as [number, number])[1] = 0;
      return "dropped";
    }
    case "write": {
      const s = model.get(op.i);
      if (s === undefined || s[0] !== RW) return "skip";
      p.mem.write32(at, op.v);
      s[1] = op.v;
      return "wrote";
    }
    case "read": {
      const s = model.get(op.i);
      if (s === undefined) return "skip";
      expectSame(p.mem.read32(at), s[1], `read of window page ${op.i}`);
      return String(s[1]);
    }
    case "fork": {
      const child = p.fork();
      if (child === null) return "nomem";
      const s = model.get(op.i);
      if (s !== undefined && s[0] === RW) {
        child.mem.write32(at, op.v);
        expectSame(child.mem.read32(at), op.v, "the child's own copy");
      }
      child.exit(0);
      return "forked";
    }
  }
}

/** One op: a process op against the model, or a kernel allocation. */
function runOp(op: Op, m: Machine, p: Process, model: Model, kb: KernelBlocks): string {
  const r = apply(op, p, model);
  return r === "kernel" ? applyKernel(op, m, kb) : r;
}

/** Runs a story; throws at the first disagreement or broken invariant. */
export function runSmpStory(story: SmpStory): StoryStats {
  const m = Machine.boot({ ramBytes: 8 << 20, cpus: story.cpus, seed: 1 });
  const p = m.spawn("smp");
  const model: Model = new Map();
  const kb: KernelBlocks = { objs: [], pages: [] };
  const threads = [p, ...story.programs.slice(1).map((_, k) => p.spawnThread(`t${k + 1}`, { stackBytes: 4 * PAGE }))];
  const programs = story.programs.map((ops, k) => ({
    thread: threads[k] ?? p,
    ops: ops.map(
      (op): Operation =>
        () =>
          runOp(op, m, p, model, kb),
    ),
  }));
  const stats: StoryStats = { commands: 0, checks: 0 };
  const own = [story.cpus > 1 ? "smp-tlb" : "tlb", "pgtable", "mm", "slab"];
  m.run(programs, {
    schedule: { kind: "random", seed: story.seed, migrate: story.migrate },
    afterStep: () => {
      stats.commands++;
      checkAfterCommand(m, stats, own);
    },
  });
  for (const [kva] of kb.objs) m.kernel.kfree(kva);
  for (const [pfn, order] of kb.pages) m.kernel.freePages(pfn, order);
  p.exit(0);
  m.check();
  stats.checks++;
  return stats;
}

/** The model the budgeted property (and the soak) drive. */
export const SMP_MODEL: PropertyModel<SmpStory> = {
  name: "smp",
  budget: Number(process.env.SMP_COMMANDS ?? 2000),
  storyMax: 40,
  arbitrary: (max) =>
    fc.record({
      cpus: fc.integer({ min: 1, max: 4 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      migrate: fc.constantFrom(0, 0.2, 0.5),
      programs: fc.array(fc.array(opArb, { maxLength: Math.ceil(max / 3) }), { minLength: 1, maxLength: 3 }),
    }),
  run: runSmpStory,
};
