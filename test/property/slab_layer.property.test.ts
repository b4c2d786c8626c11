/**
 * layers.slab with the slab lab's reference allocator behind CheckedSlab:
 * random kmem_cache_alloc, free and shrink over three caches (sizes and
 * alignments drawn), against a model of the live objects. After every
 * command the layer's checker and the kernel's recounts run (SLABL-1..3:
 * active objects and pages held agree) and the cache's active_objs is the
 * model's; after a shrink no empty slab is left; at the end, everything
 * freed and shrunk, MemFree is what it was.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Machine, type SlabCache } from "../../sim/index.ts";
import { slab as aos } from "../../sim/lab/slab/solution.ts";
import { BUDGET_TIMEOUT, runCommands } from "../support/budget.ts";

/** Commands per run (SLAB_LAYER_COMMANDS for a longer local run): a machine per story, so stories are long and few. */
const COMMANDS = Number(process.env.SLAB_LAYER_COMMANDS ?? 1500);

type Cmd = { op: "alloc"; cache: number; n: number } | { op: "free"; cache: number; pick: number } | { op: "shrink"; cache: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("alloc" as const), cache: fc.nat(2), n: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("free" as const), cache: fc.nat(2), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("shrink" as const), cache: fc.nat(2) }) },
);

interface Story {
  sizes: [number, number, number];
  aligns: [number, number, number];
  cmds: Cmd[];
}

const story: fc.Arbitrary<Story> = fc.record({
  sizes: fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 64 })),
  aligns: fc.tuple(fc.constantFrom(0, 8, 16), fc.constantFrom(0, 32, 64), fc.constantFrom(0, 128, 256)),
  cmds: fc.array(cmd, { minLength: 1, maxLength: 300 }),
});

function run(s: Story): number {
  const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: aos } });
  const k = m.kernel.kmemCaches;
  m.kernel.drainPcp();
  const free0 = m.kernel.meminfoValues().MemFree;
  const caches = s.sizes.map((size, i) => k.create(`p${i}`, size, { align: s.aligns[i] }) as SlabCache);
  const live: number[][] = [[], [], []];
  for (const c of s.cmds) {
    const cache = caches[c.cache] as SlabCache;
    const mine = live[c.cache] as number[];
    if (c.op === "alloc") for (let i = 0; i < c.n; i++) mine.push(cache.alloc());
    else if (c.op === "free" && mine.length > 0) cache.free(mine.splice(c.pick % mine.length, 1)[0] as number);
    else if (c.op === "shrink") {
      k.shrink(cache);
      const r = k.info(cache);
      expect(r.activeSlabs).toBe(r.numSlabs);
    }
    expect(k.info(cache).activeObjs).toBe(mine.length);
    m.check("slab_layer");
  }
  for (const [i, mine] of live.entries()) for (const kva of mine) (caches[i] as SlabCache).free(kva);
  for (const c of caches) expect(k.destroy(c)).toBe(true);
  m.kernel.drainPcp();
  expect(m.kernel.meminfoValues().MemFree).toBe(free0);
  m.check();
  return s.cmds.length;
}

describe("layers.slab: the reference slab allocator behind the kernel's checks", () => {
  it(
    `random alloc, free and shrink keep every recount passing and give every frame back (${COMMANDS} commands)`,
    () => {
      expect(runCommands(story, run, COMMANDS)).toBeGreaterThanOrEqual(COMMANDS);
    },
    BUDGET_TIMEOUT,
  );
});
