/**
 * The per-CPU caches against a model: threads on 2..4 CPUs allocate and
 * free page blocks (orders 0..3) and objects of one kmem_cache from shared
 * pools, so a block or object allocated on one CPU is often freed on
 * another (a remote free), under a random seeded schedule with migration;
 * some steps drain every CPU's page lists or shrink the cache. Every block
 * and object keeps its stamp until it is freed; after every step the buddy
 * checker (every CPU's lists recounted) and the slab checker (every CPU's
 * slab) pass, the cache's active objects are exactly the model's live
 * ones, and its counters add up: fast and slow allocations minus fast and
 * slow frees is the number of live objects.
 */
import fc from "fast-check";
import { activeObjects } from "../../../kernel/mm/slab_stats.ts";
import { type KmemCache, Machine, type Operation } from "../../../sim/index.ts";
import { checkAfterCommand, expectSame, type PropertyModel, type StoryStats } from "../../support/budget.ts";

/** One operation of a thread, as data. */
type Op =
  | { k: "pages"; order: number; v: number }
  | { k: "freePages"; pick: number }
  | { k: "alloc"; v: number }
  | { k: "free"; pick: number }
  | { k: "drain" }
  | { k: "shrink" };

/** A story: the machine's CPUs, its per-CPU batch, the threads' programs and the schedule. */
export interface PercpuStory {
  cpus: number;
  pcpBatch: number;
  seed: number;
  migrate: number;
  programs: Op[][];
}

/** Live blocks [pfn, order, stamp] and objects [kva, stamp], shared by every thread. */
interface Pools {
  pages: Array<[number, number, number]>;
  objs: Array<[number, number]>;
}

const stamp = fc.integer({ min: 1, max: 0xffffff });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant("pages" as const), order: fc.integer({ min: 0, max: 3 }), v: stamp }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("freePages" as const), pick: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("alloc" as const), v: stamp }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("free" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: "drain" as const }) },
  { weight: 1, arbitrary: fc.constant({ k: "shrink" as const }) },
);

function apply(op: Op, m: Machine, c: KmemCache, pools: Pools): string {
  const k = m.kernel;
  switch (op.k) {
    case "pages": {
      const pfn = k.allocPages(op.order);
      if (pfn === null) return "nomem";
      k.mem.write32(k.pfnToKva(pfn), op.v);
      pools.pages.push([pfn, op.order, op.v]);
      return "pages";
    }
    case "freePages": {
      if (pools.pages.length === 0) return "skip";
      const [pfn, order, v] = pools.pages.splice(op.pick % pools.pages.length, 1)[0] as [number, number, number];
      expectSame(k.mem.read32(k.pfnToKva(pfn)), v, "an allocated block keeps its stamp");
      k.freePages(pfn, order);
      return "freePages";
    }
    case "alloc": {
      const kva = c.alloc();
      if (kva === 0) return "nomem";
      k.mem.write32(kva, op.v);
      pools.objs.push([kva, op.v]);
      return "alloc";
    }
    case "free": {
      if (pools.objs.length === 0) return "skip";
      const [kva, v] = pools.objs.splice(op.pick % pools.objs.length, 1)[0] as [number, number];
      expectSame(k.mem.read32(kva), v, "an object keeps its stamp");
      c.free(kva);
      return "free";
    }
    case "drain":
      k.drainPcp();
      expectSame(k.pages.nrPcpPages(), 0, "no page is left on any CPU's list after drain_all_pages");
      return "drain";
    case "shrink":
      c.shrink();
      return "shrink";
  }
}

/** The cache's active objects and counters against the live objects of the model. */
function checkCounts(c: KmemCache, pools: Pools): void {
  expectSame(activeObjects(c), pools.objs.length, "active objects");
  expectSame(c.allocFastpath + c.allocSlowpath - c.freeFastpath - c.freeSlowpath, pools.objs.length, "allocations minus frees");
}

/** Runs a story; throws at the first disagreement or broken invariant. */
export function runPercpuStory(story: PercpuStory): StoryStats {
  const m = Machine.boot({ ramBytes: 8 << 20, cpus: story.cpus, pcpBatch: story.pcpBatch, seed: 1 });
  const c = m.kernel.kmemCacheCreate("percpu", 200) as KmemCache;
  const p = m.spawn("percpu");
  const pools: Pools = { pages: [], objs: [] };
  const threads = [p, ...story.programs.slice(1).map((_, i) => p.spawnThread(`t${i + 1}`, { stackBytes: 4096 }))];
  const programs = story.programs.map((ops, i) => ({
    thread: threads[i] ?? p,
    ops: ops.map(
      (op): Operation =>
        () =>
          apply(op, m, c, pools),
    ),
  }));
  const stats: StoryStats = { commands: 0, checks: 0 };
  m.run(programs, {
    schedule: { kind: "random", seed: story.seed, migrate: story.migrate },
    afterStep: () => {
      stats.commands++;
      checkAfterCommand(m, stats, ["buddy", "slab"]);
      checkCounts(c, pools);
    },
  });
  for (const [kva] of pools.objs) c.free(kva);
  for (const [pfn, order] of pools.pages) m.kernel.freePages(pfn, order);
  pools.objs.length = 0;
  c.shrink();
  expectSame(c.nrSlabs, 0, "every slab freed once every object is");
  checkCounts(c, pools);
  m.check();
  stats.checks++;
  return stats;
}

/** The model the budgeted property (and the soak) drive. */
export const PERCPU_MODEL: PropertyModel<PercpuStory> = {
  name: "percpu",
  budget: Number(process.env.PERCPU_COMMANDS ?? 600),
  storyMax: 60,
  arbitrary: (max) =>
    fc.record({
      cpus: fc.integer({ min: 2, max: 4 }),
      pcpBatch: fc.constantFrom(-1, 0, 1, 4),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      migrate: fc.constantFrom(0, 0.3),
      programs: fc.array(fc.array(opArb, { maxLength: Math.ceil(max / 3) }), { minLength: 2, maxLength: 4 }),
    }),
  run: runPercpuStory,
};
