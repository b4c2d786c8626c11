/**
 * The per-CPU kalloc lab (xv6 kalloctest) end to end: the reference
 * solution (full marks) and the skeleton graded in workers, each wrong
 * solution losing exactly the checks its mistake breaks, and the
 * contention figures the last check prints.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const WRONG: [string, string[], number][] = [
  // No stealing: CPU 1 gets nothing from CPU 0's list; processes-run survives because the
  // shrinkers free slab pages on the faulting CPU, whose list then has frames.
  ["wrong/no_stealing.ts", ["steals-every-frame", "counts-add-up", "kalloctest-contention"], 2],
  ["wrong/shared_list.ts", ["kalloctest-contention"], 5],
];

describe("lab kalloc", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("kalloc", ["solution.ts", "skeleton/kalloc.ts", ...WRONG.map(([f]) => f)]);
  }, 120_000);

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([8, 8]);
  });

  it("gives the untouched skeleton nothing", () => {
    expect(graded.get("skeleton/kalloc.ts")!.score).toBe(0);
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  // One list: 4 CPUs x 80 operations each take the lock, and round-robin puts every one after the first
  // inside another CPU's hold. Per-CPU: the same 320 on each CPU's own lock, plus one steal of 64 frames
  // from CPU 0's list by each of CPUs 1-3 (323); only acquisitions of CPU 0's lock can meet another CPU.
  it("prints both contention figures", () => {
    const out = graded.get("solution.ts")!.checks[4]!.output.split("\n");
    expect(out.slice(0, 3)).toEqual([
      "booted 8 MiB, 4 CPUs, on your allocator: 1999 frames free",
      "one global list (xv6 kalloc): 320 lock acquisitions, 319 contended",
      "yours: 323 lock acquisitions, 4 contended",
    ]);
  });

  it("fails a shared list with both figures in the message", () => {
    const out = graded.get("wrong/shared_list.ts")!.checks[4]!.output.split("\n").at(-1);
    expect(out).toBe("FAILED: 319 contended acquisitions, more than 1/10 of one global list's 319: are the lists really per CPU?");
  });
});
