/**
 * The mmap lab end to end: `memsim lab init`, the reference solution and
 * the skeleton graded in workers, and each wrong solution losing exactly
 * the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  ["wrong/copies_shared.ts", ["reads-map-the-cache", "shared-write-reaches-file", "partial-munmap", "two-mappings", "fork-mapping"], 6],
  ["wrong/private_maps_cache.ts", ["private-write-stays-private", "out-of-memory-kills"], 10],
  ["wrong/leaks_reference.ts", ["frames-come-back"], 12],
  ["wrong/ignores_eof.ts", ["past-eof-sigbus"], 12],
];

describe("lab mmap", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("mmap", ["solution.ts", "skeleton/mmap.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([13, 13]);
  });

  it("gives the untouched skeleton nothing, and says the file mapping faults", () => {
    const r = graded.get("skeleton/mmap.ts")!;
    expect(r.score).toBe(0);
    expect(r.checks[0]!.output).toContain("unexpected SegmentationFault: pid 1: SIGSEGV (SEGV_MAPERR)");
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("tells the student a private write reached the file", () => {
    const c = graded.get("wrong/private_maps_cache.ts")!.checks.find((x) => x.name === "private-write-stays-private")!;
    expect(c.output.split("\n").slice(-2)).toEqual([
      "bytes 'A' in the file: 0x7ff",
      "FAILED: bytes 'A' in the file: expected 0x1800, got 0x7ff",
    ]);
  });
});
