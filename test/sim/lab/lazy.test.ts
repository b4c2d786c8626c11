/**
 * The lazy-allocation lab end to end: `memsim lab init`, the reference
 * solution and the skeleton graded in workers, and each wrong solution
 * losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  ["wrong/eager.ts", ["sbrk-takes-no-frames", "shrink-frees-touched-only"], 9],
  ["wrong/no_vma_check.ts", ["above-break-segv"], 9],
  ["wrong/ignores_permissions.ts", ["read-only-refused"], 10],
  ["wrong/always_new_page.ts", ["fork-lazy-memory"], 9],
  ["wrong/ignores_oom.ts", ["out-of-memory-kills"], 10],
];

describe("lab lazy", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("lazy", ["solution.ts", "skeleton/lazy.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([11, 11]);
  });

  it("gives the untouched skeleton nothing, and says the heap faults", () => {
    const r = graded.get("skeleton/lazy.ts")!;
    expect(r.score).toBe(0);
    expect(r.checks[0]!.output).toContain("unexpected SegmentationFault: pid 1: SIGSEGV (SEGV_MAPERR)");
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("tells the student what the handler did against what was expected", () => {
    const fork = graded.get("wrong/always_new_page.ts")!.checks.find((c) => c.name === "fork-lazy-memory")!;
    expect(fork.output.split("\n").slice(-3)).toEqual([
      "  page fault: write at 0x555555559008 -> your handler returned FAULT_OK",
      "child read32 at offset 0 after writing offset 8: 0",
      "FAILED: child read32 at offset 0 after writing offset 8: expected 0xabc, got 0",
    ]);
  });
});
