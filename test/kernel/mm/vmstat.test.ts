import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { Zone } from "../../../kernel/mm/mmzone.ts";
import { fls, statThreshold, ZoneVmStat } from "../../../kernel/mm/vmstat.ts";
import { VIEWS } from "../../../sim/cli/views.ts";
import { Machine } from "../../../sim/index.ts";

/**
 * 32 MiB on two CPUs: DMA (3951 managed pages) and Normal (4096), both under
 * 128 MiB, so each zone's threshold is 2 x fls(2) x (1 + fls(0)) = 4. Their
 * per-CPU lists move one page per refill (zone_batchsize of a 16 MiB zone),
 * so every order-0 allocation on an empty list takes one page off the buddy
 * lists: a change of -1 on the running CPU. The state starts clean: every
 * list drained and every diff folded.
 */
function twoCpus() {
  const m = Machine.boot({ ramBytes: 32 << 20, cpus: 2 });
  const p = m.spawn("a");
  const t = p.spawnThread("t", { stackBytes: 16384 });
  if (t === null) throw new Error("no thread");
  const v = m.kernel.smp.vmstat;
  if (v === null) throw new Error("two CPUs and no vmstat diffs");
  m.kernel.pages.drainPcp();
  v.refresh();
  const normal = m.kernel.buddy.zones[1] as Zone;
  const alloc = () => {
    m.kernel.pages.allocPages(0, GFP_KERNEL);
  };
  return { m, p, t, v, normal, alloc };
}

/** nr_free_pages of /proc/vmstat. */
function nrFreePages(m: Machine): number {
  return Number(/^nr_free_pages (\d+)$/m.exec(m.proc.vmstat())?.[1]);
}

describe("per-CPU vmstat diffs", () => {
  it("the threshold is calculate_normal_threshold's: 2 x fls(CPUs) x (1 + fls(managed >> 15)), at most 125", () => {
    expect([fls(0), fls(1), fls(2), fls(3), fls(16), fls(64)]).toEqual([0, 1, 2, 2, 5, 7]);
    // 4096 pages (16 MiB): mem 0. Two CPUs: 2 x 2 x 1 = 4; one: 2 x 1 x 1 = 2; sixteen: 2 x 5 x 1 = 10.
    expect([statThreshold(4096, 2), statThreshold(4096, 1), statThreshold(4096, 16)]).toEqual([4, 2, 10]);
    // 65536 pages (256 MiB): mem 2, fls 2. Four CPUs: 2 x 3 x 3 = 18.
    expect(statThreshold(65536, 4)).toBe(18);
    // 16 GiB on 64 CPUs: mem 128, fls 8: 2 x 7 x 9 = 126, capped at 125.
    expect(statThreshold(1 << 22, 64)).toBe(125);
  });

  it("two CPUs allocate: each change waits in its CPU's diff and folds whole once past 4; the lag stays within 4 x 2", () => {
    const { m, p, t, v, normal, alloc } = twoCpus();
    const g0 = v.global[1] as number;
    expect(g0).toBe(normal.freePages);
    const seen: Array<[number, number, number]> = [];
    m.run(
      [
        { thread: p, ops: [alloc, alloc, alloc] },
        { thread: t, ops: [alloc, alloc, alloc, alloc, alloc] },
      ],
      {
        schedule: { kind: "explicit", steps: [1, 1, 1, 0, 0, 0, 1, 1] },
        afterStep: () => seen.push([v.diffOf(0, 1), v.diffOf(1, 1), g0 - (v.global[1] as number)]),
      },
    );
    // [CPU 0's diff, CPU 1's diff, pages folded into the global counter] after each step: CPU 1 takes three
    // (-3), CPU 0 three (-3, the largest lag: 6), CPU 1 a fourth (-4, not past 4) and a fifth: -5 folds.
    expect(seen).toEqual([
      [0, -1, 0],
      [0, -2, 0],
      [0, -3, 0],
      [-1, -3, 0],
      [-2, -3, 0],
      [-3, -3, 0],
      [-3, -4, 0],
      [-3, 0, 5],
    ]);
    expect(normal.freePages).toBe(g0 - 8);
    // CPU 1's diff was already 0 when the run ended: going idle folded nothing.
    expect([v.thresholdFolds, v.idleFolds]).toEqual([1, 0]);
    // /proc/vmstat shows the global counters: 3 pages more than are free (CPU 0's diff not yet folded).
    const exact = m.kernel.buddy.nrFreePages();
    expect(nrFreePages(m)).toBe(exact + 3);
    m.check();
    // stat_refresh folds every CPU: no lag.
    v.refresh();
    expect(nrFreePages(m)).toBe(exact);
    expect(v.global[1]).toBe(g0 - 8);
  });

  it("vmstat_update folds a CPU's diffs when its timeline passes the interval, at the next switch to it", () => {
    const { m, p, t, v, alloc } = twoCpus();
    v.setIntervalNs(500);
    const seen: number[] = [];
    const r = m.run(
      [
        { thread: p, ops: [alloc] },
        { thread: t, ops: [alloc, alloc, alloc, alloc, alloc] },
      ],
      { schedule: { kind: "explicit", steps: [1, 1, 1, 0, 1, 1] }, afterStep: () => seen.push(v.diffOf(1, 1)) },
    );
    // Each operation lasts 100 ns; CPU 1's fourth waits 100 ns for the zone lock CPU 0 held and ends at 500.
    expect(r.steps.map((s) => s.endNs)).toEqual([100, 200, 300, 400, 500, 600]);
    // Its diff is -4 then; the switch to CPU 1 for the fifth runs vmstat_update first (500 >= 500): -4 folds, the fifth makes -1.
    expect(seen).toEqual([-1, -2, -3, -3, -4, -1]);
    expect([v.periodicFolds, v.thresholdFolds]).toEqual([1, 0]);
    expect(v.nextUpdateNs[1]).toBe(1000);
    // The run over, CPU 1 goes idle and quiet_vmstat folds its -1; CPU 0 keeps its -1 (it runs the host's calls).
    expect([v.diffOf(0, 1), v.diffOf(1, 1), v.idleFolds]).toEqual([-1, 0, 1]);
    m.check();
  });

  it("the zoneinfo view adds each zone's pagesets with every CPU's vm stats threshold; one CPU has none", () => {
    const { m, v, alloc } = twoCpus();
    alloc();
    alloc();
    const view = VIEWS.find((x) => x.name === "zoneinfo");
    const text = view?.render(m) ?? "";
    // Two allocations on CPU 0: the Normal zone's global counter lags by 2 (its diff is -2); the lists are empty (each page went out).
    const g = v.global[1] as number;
    expect(text.slice(text.indexOf("Node 0, zone   Normal"))).toBe(
      `Node 0, zone   Normal\n  pages free     ${g}\n  pagesets\n` +
        "    cpu: 0\n              count: 0\n              high:  113\n              batch: 1\n  vm stats threshold: 4\n" +
        "    cpu: 1\n              count: 0\n              high:  113\n              batch: 1\n  vm stats threshold: 4\n",
    );
    expect(m.kernel.buddy.zones[1]?.freePages).toBe(g - 2);
    const one = Machine.boot({ ramBytes: 32 << 20 });
    expect(one.kernel.smp.vmstat).toBeNull();
    expect(view?.render(one)).not.toContain("pagesets");
  });

  it("two NUMA nodes: CPU 1's pages come from node 1's Normal zone (index 2) and its diff there folds at -5; zoneinfo names each zone's node", () => {
    // 64 MiB in two nodes of 32 MiB (CPU 0 on node 0, CPU 1 on node 1): zones DMA and Normal on node 0, Normal
    // [8192, 16384) on node 1, the machine's third zone. Every zone is under 128 MiB: threshold 4, batch 1.
    const m = Machine.boot({ ramBytes: 64 << 20, numaNodes: 2, cpus: 2 });
    const p = m.spawn("a");
    const t = p.spawnThread("t", { stackBytes: 16384 });
    const v = m.kernel.smp.vmstat;
    if (t === null || v === null) throw new Error("no thread or no vmstat diffs");
    m.kernel.pages.drainPcp();
    v.refresh();
    const node1 = m.kernel.buddy.zones[2] as Zone;
    expect([node1.nid, node1.index, node1.startPfn, v.threshold[2]]).toEqual([1, 2, 8192, 4]);
    const got: number[] = [];
    const alloc = () => {
      got.push(m.kernel.pages.allocPages(0, GFP_KERNEL));
    };
    const seen: number[][] = [];
    m.run(
      [
        { thread: p, ops: [] },
        { thread: t, ops: [alloc, alloc, alloc, alloc, alloc] },
      ],
      {
        schedule: { kind: "explicit", steps: [1, 1, 1, 1, 1] },
        afterStep: () => seen.push([v.diffOf(1, 2), 8192 - (v.global[2] as number)]),
      },
    );
    // Boot freed node 1's 1024-page blocks in pfn order, so the last, [15360, 16384), heads the order-10 list; splits hand
    // out its lowest pages one by one.
    expect(got).toEqual([15360, 15361, 15362, 15363, 15364]);
    expect(seen).toEqual([
      [-1, 0],
      [-2, 0],
      [-3, 0],
      [-4, 0],
      [0, 5],
    ]);
    const view = VIEWS.find((x) => x.name === "zoneinfo");
    const text = view?.render(m) ?? "";
    expect(text).toContain("Node 0, zone      DMA\n");
    expect(text).toContain("Node 0, zone   Normal\n");
    expect(text).toContain("Node 1, zone   Normal\n  pages free     8187\n");
    m.check();
  });

  it("four CPUs under random allocations and frees of orders 0..3: the checkers hold and the lag stays within threshold x CPUs", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, cpus: 4, seed: 3 });
    const p = m.spawn("a");
    const threads = [p, ...[1, 2, 3].map((i) => p.spawnThread(`t${i}`, { stackBytes: 16384 }) ?? p)];
    const v = m.kernel.smp.vmstat as ZoneVmStat;
    const held: Array<[number, number]> = [];
    let x = 12345;
    const next = () => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x >>> 8;
    };
    const op = () => {
      const order = next() & 3;
      if (held.length > 0 && next() % 3 === 0) {
        const [pfn, o] = held.splice(next() % held.length, 1)[0] as [number, number];
        m.kernel.pages.freePages(pfn, o);
      } else {
        const pfn = m.kernel.pages.allocPages(order, GFP_KERNEL);
        if (pfn >= 0) held.push([pfn, order]);
      }
    };
    let worst = 0;
    m.run(
      threads.map((t) => ({ thread: t, ops: Array.from({ length: 150 }, () => op) })),
      {
        schedule: { kind: "random", seed: 7 },
        afterStep: () => {
          m.check("vmstat");
          for (const z of m.kernel.buddy.zones) worst = Math.max(worst, Math.abs(z.freePages - (v.global[z.id] as number)));
        },
      },
    );
    // Threshold 2 x fls(4) x 1 = 6 on both zones: at most 6 x 4 = 24 pages behind.
    expect([...v.threshold]).toEqual([6, 6]);
    expect(worst).toBeLessThanOrEqual(24);
    expect(worst).toBeGreaterThan(0);
    m.check();
  });

  it("property: the diffs fold like a plain sum: global + diffs is the exact count, each diff within the threshold, refresh leaves no lag", () => {
    // Two fake zones (ids 0 and 1), three CPUs, threshold 2 x fls(3) x 1 = 4; the zones' free pages are the model's exact sums.
    const step = fc.oneof(
      fc.record({ kind: fc.constant("mod" as const), cpu: fc.nat(2), zone: fc.nat(1), delta: fc.integer({ min: -9, max: 9 }) }),
      fc.record({ kind: fc.constant("fold" as const), cpu: fc.nat(2), zone: fc.constant(0), delta: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const zones = [new Zone(0, "DMA", 0, 4096, 10, 9), new Zone(1, "Normal", 4096, 8192, 10, 9)];
        zones.forEach((z, i) => {
          z.index = i;
          z.managed = 4096;
          z.freePages = 1000;
        });
        const v = new ZoneVmStat(zones, 3, [0, 0, 0]);
        for (const s of steps) {
          if (s.kind === "mod") {
            (zones[s.zone] as Zone).freePages += s.delta;
            v.mod(s.cpu, s.zone, s.delta);
          } else v.fold(s.cpu);
          v.check();
          for (const z of zones) expect(Math.abs(z.freePages - (v.global[z.id] as number))).toBeLessThanOrEqual(4 * 3);
        }
        v.refresh();
        expect([...v.global]).toEqual(zones.map((z) => z.freePages));
      }),
      { numRuns: 100, seed: 17 },
    );
  });
});
