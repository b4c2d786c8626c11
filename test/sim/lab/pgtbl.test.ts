/**
 * The page-table (pgaccess) lab end to end: `memsim lab init`, the
 * reference solution and the skeleton graded in workers, and each wrong
 * solution losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  ["wrong/never_clears.ts", ["clears-the-bits"], 4],
  ["wrong/clears_wrong_bits.ts", ["reports-accessed", "clears-the-bits", "unmapped-pages-are-zero", "leaves-pages-intact"], 0],
];

describe("lab pgtbl", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("pgtbl", ["solution.ts", "skeleton/pgaccess.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([6, 6]);
  });

  it("gives the untouched skeleton nothing", () => {
    expect(graded.get("skeleton/pgaccess.ts")!.score).toBe(0);
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("shows the masks pgaccess returned against the one expected", () => {
    const out = graded.get("wrong/never_clears.ts")!.checks[1]!.output;
    expect(out.split("\n").slice(-3)).toEqual([
      "pgaccess(0x7ffff7ff7000, 8) = 0x4a",
      "second pgaccess mask: 0x4a",
      "FAILED: second pgaccess mask: expected 0x0, got 0x4a",
    ]);
  });
});
