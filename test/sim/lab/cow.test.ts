/**
 * The copy-on-write lab end to end: `memsim lab init`, the reference
 * solution and the skeleton graded in workers, and each wrong solution
 * losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  ["wrong/shares_writable.ts", ["child-write-copies", "parent-write-copies", "three-generations", "out-of-memory-kills"], 7],
  ["wrong/always_copies.ts", ["last-reference-reuses"], 10],
  ["wrong/forgets_put.ts", ["child-write-copies", "parent-write-copies", "three-generations", "copies-free-their-frames", "fork-bomb"], 4],
  ["wrong/ignores_oom.ts", ["out-of-memory-kills"], 11],
  ["wrong/ignores_permissions.ts", ["read-only-refused"], 11],
];

describe("lab cow", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("cow", ["solution.ts", "skeleton/cow.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([12, 12]);
  });

  it("gives the untouched skeleton only the check of a refused write", () => {
    const r = graded.get("skeleton/cow.ts")!;
    expect(lost(r)).toEqual(r.checks.map((c) => c.name).filter((n) => n !== "read-only-refused"));
    expect(r.checks[0]!.output).toContain("unexpected SegmentationFault: pid 2: SIGSEGV (SEGV_ACCERR) at 555555559004 on write");
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("names the checker that caught a leaked reference", () => {
    const out = graded.get("wrong/forgets_put.ts")!.checks[0]!.output;
    expect(out.split("\n").at(-1)).toBe(
      "FAILED: the kernel's checkers found a broken invariant: InvariantViolation: PGTABLE-4: frame 0x36 has mapcount 2, 1 user leaves map it",
    );
  });
});
