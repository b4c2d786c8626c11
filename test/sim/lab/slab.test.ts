/**
 * The slab lab end to end: `memsim lab init`, the reference solution and the
 * skeleton graded in workers, each wrong solution losing exactly the checks
 * its mistake breaks, and the kernel naming the layer's mistake.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

// off_by_one: ceil(4096 / 104) = 40 objects of 104 bytes, the 40th past the page (1000 and 3000 bytes too);
// 4096 / 64 divides, so alignment's 64-byte stride is right.
// kmalloc-128's and kmalloc-8k's strides divide their slabs, so off_by_one keeps the kmalloc check; uncapped_order
// gives kmalloc-8k 16-page slabs of 8 and loses it alone (every other cache of the checks fits order 3 with 8 objects).
const WRONG: [string, string[], number][] = [
  ["wrong/off_by_one.ts", ["slabinfo-counts", "objects-disjoint", "partial-first", "shrink-returns-frames", "destroy-returns-frames"], 4],
  ["wrong/keeps_empty_slabs.ts", ["shrink-returns-frames", "destroy-returns-frames"], 9],
  ["wrong/ignores_alignment.ts", ["alignment"], 11],
  ["wrong/uncapped_order.ts", ["kmalloc"], 10],
];

describe("lab slab", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("slab", ["solution.ts", "skeleton/slab.ts", ...WRONG.map(([f]) => f)]);
  }, 120_000);

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([12, 12]);
  });

  it("gives the untouched skeleton nothing: kmalloc's caches, the first the kernel makes, cannot be made", () => {
    const r = graded.get("skeleton/slab.ts")!;
    expect(r.score).toBe(0);
    expect(r.checks[0]!.output.split("\n").at(-1)).toBe(
      "FAILED: unexpected LayerFault: slab layer: 'mine' cannot make kmalloc-8, a kmalloc cache",
    );
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("names the object that runs past its slab (39 objects of 104 bytes end at 0xfd8 = 4056; the 40th would end at 4160)", () => {
    const out = graded.get("wrong/off_by_one.ts")!.checks[1]!.output.split("\n").at(-1);
    expect(out).toBe(
      // The slab page is pfn 0x400: the first Unmovable request claimed a Movable page block for Unmovable (the fallback).
      "FAILED: unexpected LayerFault: slab layer: 'aos' alloc(lab-100) returned ffff888000400fd8: its 100 bytes run past the end of its slab at ffff888000401000",
    );
  });

  it("says the destroyed cache kept its two slabs' frames", () => {
    const out = graded.get("wrong/keeps_empty_slabs.ts")!.checks[6]!.output.split("\n").at(-1);
    expect(out).toBe("FAILED: unexpected LayerFault: slab layer: 'aos' destroyed lab-1000 but kept 2 of its slabs' frame runs");
  });

  it("shows kmalloc-8k's uncapped slabs in the log", () => {
    const out = graded.get("wrong/uncapped_order.ts")!.checks[7]!.output.split("\n").at(-1);
    expect(out).toBe("FAILED: kmalloc-8k objPerSlab: expected 4, got 8");
  });

  it("shows the expected slabinfo counts in the log", () => {
    const out = graded.get("solution.ts")!.checks[1]!.output;
    expect(out).toContain(
      "slabinfo lab-1000: activeObjs 20, numObjs 24, objSize 1000, objPerSlab 8, pagesPerSlab 2, activeSlabs 3, numSlabs 3",
    );
  });
});
