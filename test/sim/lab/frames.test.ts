/**
 * The frame-allocator lab end to end: `memsim lab init`, the reference
 * solution and the skeleton graded in workers, and each wrong solution
 * losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const ALL_BUT_BOOT = ["distinct-until-empty", "freed-frame-comes-back", "counts-add-up", "processes-run"];
const WRONG: [string, string[], number][] = [
  ["wrong/leaks_on_free.ts", ALL_BUT_BOOT, 1],
  ["wrong/stale_count.ts", ALL_BUT_BOOT, 1],
  ["wrong/hands_out_twice.ts", ALL_BUT_BOOT, 1],
];

describe("lab frames", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("frames", ["solution.ts", "skeleton/frames.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([7, 7]);
  });

  it("gives the untouched skeleton nothing", () => {
    expect(graded.get("skeleton/frames.ts")!.score).toBe(0);
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("names the allocator and its own checker when the list and the count disagree", () => {
    const out = graded.get("wrong/leaks_on_free.ts")!.checks[1]!.output;
    expect(out.split("\n").at(-1)).toBe(
      "FAILED: the kernel's checkers found a broken invariant: InvariantViolation: FRAMES-2: frames layer 'freelist': its checker failed: free list holds 0 frames, the count says 1999",
    );
  });
});
