/**
 * The page-replacement lab end to end: `memsim lab init`, the reference
 * solution and the skeleton graded in workers, each wrong solution losing
 * exactly the checks its mistake breaks, and the lab's expected fault count
 * agreeing with memsim's own CLOCK.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  // Never harvests: pages 0 and 1, used through TLB hits only, look unused and go as in FIFO (18 faults, not 14).
  ["wrong/no_harvest.ts", ["second-chance-hits"], 7],
  // Keeps evicted and freed pages in its circle: when a frame comes back its links are rewritten over the stale ones,
  // the circle breaks, and with the children's copies in the group no victim it names can go (the child is OOM-killed).
  ["wrong/forgets_removed.ts", ["page-parallel", "second-chance-hits"], 5],
  // Unlinks the hand's page for every removal: after an munmap it names a frame the kernel took.
  ["wrong/removes_hand.ts", ["munmap-under-pressure"], 9],
];

describe("lab replacement", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("replacement", ["solution.ts", "skeleton/replacement.ts", ...WRONG.map(([f]) => f)]);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([10, 10]);
  });

  it("gives the untouched skeleton nothing (no victim: the group's process is OOM-killed)", () => {
    expect(graded.get("skeleton/replacement.ts")!.score).toBe(0);
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("shows the fault count against the expected one when second chance is missing", () => {
    const out = graded.get("wrong/no_harvest.ts")!.checks[4]!.output;
    expect(out.split("\n").at(-1)).toBe("FAILED: faults in the 28 accesses (the other accesses hit): expected 14, got 18");
  });

  it("names the policy and the frame when a victim is not a resident page", () => {
    const out = graded.get("wrong/removes_hand.ts")!.checks[3]!.output;
    expect(out.split("\n").at(-1)).toMatch(
      /^FAILED: unexpected LayerFault: .*'clock' victim\(\) returned pfn 0x[0-9a-f]+, which is not a resident evictable anonymous page$/,
    );
  });
});
