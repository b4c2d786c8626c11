/**
 * Fragmentation over time (sim/frag*.ts, `memsim frag`): exact measures on
 * small hand-checked workloads, and the command's text and JSON.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fragSample } from "../../sim/frag.ts";
import { buddySample, slabCacheSample } from "../../sim/frag_kernel.ts";
import { traceFragSeries } from "../../sim/frag_user.ts";
import { Machine } from "../../sim/index.ts";
import { parseTrace } from "../../sim/trace/read.ts";
import { expectGolden, GOLDEN, memsim } from "./cli/helpers.ts";

const TINY = join(GOLDEN, "frag", "tiny.rep");
// a 100, a 200, a 40, f (the 200), a 50, f (the 100)
const tiny = parseTrace(readFileSync(TINY, "utf8"), "tiny.rep");

function series(allocator: string) {
  const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 0 });
  const [s] = traceFragSeries(tiny, { allocators: [allocator], interval: 1, spawn: () => m.spawn("frag") });
  return s!;
}

describe("fragSample", () => {
  it("derives overhead, internal, external and utilisation from the census", () => {
    const s = fragSample(7, { heapBytes: 1000, requestedBytes: 300, census: { grantedBytes: 340, freeBytes: 500, largestFreeBytes: 400 } });
    expect(s).toEqual({
      t: 7,
      heapBytes: 1000,
      requestedBytes: 300,
      grantedBytes: 340,
      freeBytes: 500,
      largestFreeBytes: 400,
      overheadBytes: 160,
      internalBytes: 40,
      external: 1 - 400 / 500,
      utilisation: 0.3,
    });
  });

  it("an empty heap has no external fragmentation and no utilisation", () => {
    const s = fragSample(0, { heapBytes: 0, requestedBytes: 0, census: { grantedBytes: 0, freeBytes: 0, largestFreeBytes: 0 } });
    expect([s.external, s.utilisation, s.overheadBytes]).toEqual([0, 0, 0]);
  });
});

describe("userspace allocators on the tiny trace", () => {
  it("first fit: 8-byte headers round 100/200/40 up to 104/200/40, freeing the 200 leaves a hole beside the tail", () => {
    const s = series("firstfit");
    expect(s.samples.map((x) => x.t)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // blocks are max(32, align16(n + 8)): 112, 208, 48; payloads 104, 200, 40
    expect(s.samples.map((x) => x.grantedBytes)).toEqual([0, 104, 304, 344, 144, 200, 96]);
    expect(s.samples.map((x) => x.internalBytes)).toEqual([0, 4, 4, 4, 4, 10, 6]);
    const after = s.samples[4]!; // the 208-byte block is free, the tail is 3728 bytes
    expect([after.freeBytes, after.largestFreeBytes, after.heapBytes]).toEqual([3936, 3728, 4192]);
    expect(after.external).toBeCloseTo(1 - 3728 / 3936, 12);
    expect(after.overheadBytes).toBe(4192 - 144 - 3936);
    expect(after.utilisation).toBeCloseTo(140 / 4192, 12);
  });

  it("pool: 64-byte blocks, each larger request an mmap of a page less its 32-byte header", () => {
    const s = series("pool");
    const t3 = s.samples[3]!; // 100 and 200 mapped (4064 usable each), 40 in a pool block
    expect([t3.grantedBytes, t3.freeBytes, t3.largestFreeBytes, t3.internalBytes]).toEqual([64 + 2 * 4064, 63 * 64, 64, 8192 - 340]);
    expect(t3.external).toBeCloseTo(1 - 64 / 4032, 12);
  });

  it("arena: a freed block that is not the newest stays granted until reset", () => {
    const s = series("arena");
    expect(s.samples.map((x) => x.grantedBytes)).toEqual([0, 100, 312, 360, 360, 418, 418]);
    expect(s.samples.map((x) => x.external)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it("an unknown allocator name throws, naming it", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 0 });
    expect(() => traceFragSeries(tiny, { allocators: ["nope"], interval: 1, spawn: () => m.spawn("x") })).toThrow(/nope/);
  });
});

describe("the other teaching allocators on the tiny trace: granted, internal and external by hand", () => {
  // At t=3 (100, 200, 40 live: 340 requested) and t=6 (40, 50 live: 90 requested).
  const at = (name: string, t: number) => {
    const x = series(name).samples[t]!;
    return [x.requestedBytes, x.grantedBytes, x.internalBytes];
  };
  it("boundary-tag fits (nextfit, worstfit, segregated): 8-byte headers, 16-byte chunks: 104 + 200 + 40, then 40 + 56", () => {
    for (const name of ["nextfit", "worstfit", "segregated"]) {
      expect(at(name, 3)).toEqual([340, 344, 4]);
      expect(at(name, 6)).toEqual([90, 96, 6]);
    }
    // External = 1 - largest / free: the freed 208- and 112-byte chunks lie outside the 3664-byte tail (320 of
    // 3984 free bytes). Segregated fit put the 50 (a 64-byte chunk) in the 208-byte hole, leaving 144 + 112 = 256
    // outside a 3728-byte tail.
    expect(series("nextfit").samples[6]!.external).toBe(1 - 3664 / 3984);
    expect(series("worstfit").samples[6]!.external).toBe(1 - 3664 / 3984);
    expect(series("segregated").samples[6]!.external).toBe(1 - 3728 / 3984);
  });

  it("buddy (user): powers of two, 128 + 256 + 64, then 64 + 64", () => {
    expect(at("buddy", 3)).toEqual([340, 448, 108]);
    expect(at("buddy", 6)).toEqual([90, 128, 38]);
  });

  it("hoard and mesh: size classes 112, 224, 48, 64", () => {
    for (const name of ["hoard", "mesh"]) {
      expect(at(name, 3)).toEqual([340, 384, 44]);
      expect(at(name, 6)).toEqual([90, 112, 22]);
    }
  });
});

describe("kernel allocators", () => {
  it("buddy: an order-2 allocation grants exactly 16 KiB and the unusable index follows the free lists", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, seed: 1 });
    m.kernel.drainPcp();
    const before = buddySample(0, m, 3);
    const pfn = m.kernel.allocPages(2, 0);
    expect(pfn).not.toBeNull();
    const after = buddySample(1, m, 3);
    expect(after.grantedBytes - before.grantedBytes).toBe(16384);
    expect([after.requestedBytes, after.internalBytes]).toEqual([after.grantedBytes, 0]);
    expect(after.heapBytes).toBe(before.heapBytes);
    const unusable = m.proc.unusableIndex().split("\n")[0]!.trim().split(/\s+/);
    expect(after.external.toFixed(3)).toBe(unusable[unusable.length - 11 + 3]);
  });

  it("a slab cache of 128-byte objects: 3 of 32 slots used in one page", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, seed: 1 });
    const c = m.kernel.kmemCacheCreate("frag128", 128)!;
    for (let i = 0; i < 3; i++) expect(c.alloc()).not.toBe(0);
    const s = slabCacheSample(5, c, { bytes: 0, objects: 0 });
    expect(s).toEqual({
      t: 5,
      heapBytes: 4096,
      requestedBytes: 384,
      grantedBytes: 384,
      freeBytes: 29 * 128,
      largestFreeBytes: 128,
      overheadBytes: 0,
      internalBytes: 0,
      external: 29 / 32,
      utilisation: 384 / 4096,
    });
  });
});

describe("memsim frag", () => {
  it("prints a table per allocator for a trace", async () => {
    const r = await memsim(["frag", TINY, "-i", "2", "-a", "firstfit,bestfit,malloc"]);
    expect([r.status, r.err]).toEqual([0, ""]);
    expectGolden("cli/frag-tiny.txt", r.out);
  });

  it("samples the buddy allocator and the slab caches of a script, kmalloc's rounding included", async () => {
    const r = await memsim(["frag", join(GOLDEN, "frag", "slab.msh")]);
    expect([r.status, r.err]).toEqual([0, ""]);
    expectGolden("cli/frag-slab.txt", r.out);
    expect(r.out).toContain("## kmalloc-128 (slab)");
  });

  it("--json gives every series with every sample", async () => {
    const r = await memsim(["frag", TINY, "--json", "-a", "buddy,segregated"]);
    const doc = JSON.parse(r.out) as { series: Array<{ name: string; kind: string; workload: string; samples: Array<{ t: number }> }> };
    expect(doc.series.map((s) => [s.name, s.kind, s.workload, s.samples.length])).toEqual([
      ["buddy", "user", "tiny.rep", 7],
      ["segregated", "user", "tiny.rep", 7],
    ]);
  });

  it("without -a a trace is replayed with malloc, the teaching allocators and mesh, in that order", async () => {
    const r = await memsim(["frag", TINY, "--json"]);
    expect([r.status, r.err]).toEqual([0, ""]);
    const doc = JSON.parse(r.out) as { series: Array<{ name: string }> };
    expect(doc.series.map((s) => s.name)).toEqual([
      "malloc",
      "arena",
      "pool",
      "firstfit",
      "nextfit",
      "bestfit",
      "worstfit",
      "segregated",
      "buddy",
      "hoard",
      "mesh",
    ]);
  });

  it("an unknown allocator is a usage error, a failing script line bad input", async () => {
    expect((await memsim(["frag", TINY, "-a", "nosuch"])).status).toBe(2);
    const r = await memsim(["frag", join(GOLDEN, "frag", "missing.msh")]);
    expect(r.status).toBe(1);
  });
});
