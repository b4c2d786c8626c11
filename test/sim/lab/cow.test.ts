/**
 * The copy-on-write lab end to end: `memsim lab init`, the reference
 * solution and the skeleton graded in workers, and each wrong solution
 * (graded where it lies: it re-exports the right side from solution.ts)
 * losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { grade } from "../../../sim/lab/grader.ts";
import { labDir } from "../../../sim/lab/labs.ts";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const ALL = [
  "fork-shares-pages",
  "child-write-copies",
  "parent-write-copies",
  "three-generations",
  "last-reference-reuses",
  "copies-free-their-frames",
  "fork-bomb",
  "read-only-refused",
  "out-of-memory-kills",
];

const WRONG: [string, string[], number][] = [
  ["wrong/shares_writable.ts", ["child-write-copies", "parent-write-copies", "three-generations", "fork-bomb", "out-of-memory-kills"], 7],
  ["wrong/always_copies.ts", ["last-reference-reuses"], 12],
  ["wrong/forgets_put.ts", ["child-write-copies", "parent-write-copies", "three-generations", "copies-free-their-frames", "fork-bomb"], 6],
  ["wrong/ignores_oom.ts", ["out-of-memory-kills"], 13],
  ["wrong/ignores_permissions.ts", ["read-only-refused"], 13],
  // Fork's side: a share fork's check refuses fails every fork; a copy costs memory.
  ["wrong/fork_forgets_refcount.ts", ALL, 0],
  ["wrong/fork_parent_writable.ts", ALL, 0],
  ["wrong/fork_keeps_exclusive.ts", ALL, 0],
  ["wrong/fork_copies.ts", ["fork-shares-pages", "fork-bomb", "out-of-memory-kills"], 9],
];

describe("lab cow", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("cow", ["solution.ts", "skeleton/cow.ts"]);
    const wrong = await Promise.all(WRONG.map(([f]) => grade("cow", labDir("cow") + f)));
    for (const [i, [f]] of WRONG.entries()) graded.set(f, wrong[i]!);
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([14, 14]);
  });

  it("gives the untouched skeleton nothing: its fork copies nothing, so the child never sees the parent's pages", () => {
    const r = graded.get("skeleton/cow.ts")!;
    expect(lost(r)).toEqual(ALL);
    expect(r.checks[1]!.output.split("\n").at(-1)).toBe("FAILED: child pid 2 read32 of the first heap page: expected 0x100, got 0");
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("names the checker that caught a leaked reference", () => {
    const out = graded.get("wrong/forgets_put.ts")!.checks[1]!.output;
    expect(out.split("\n").at(-1)).toBe(
      "FAILED: the kernel's checkers found a broken invariant: InvariantViolation: PGTABLE-4: frame 0x31 has mapcount 2, 1 user leaves map it",
    );
  });

  it("names what fork's check refused", () => {
    const last = (f: string): string | undefined => graded.get(f)!.checks[0]!.output.split("\n").at(-1);
    expect([last("wrong/fork_forgets_refcount.ts"), last("wrong/fork_parent_writable.ts"), last("wrong/fork_keeps_exclusive.ts")]).toEqual([
      "FAILED: unexpected LayerFault: forkCopy layer: 555555559000 (frame 0x31) is shared by parent and child but counted refcount 1, mapcount 1 (a share needs k.getPage)",
      "FAILED: unexpected LayerFault: forkCopy layer: 555555559000 (frame 0x31) is shared by parent and child but writable in the parent: a write would reach the other",
      "FAILED: unexpected LayerFault: forkCopy layer: 555555559000 (frame 0x31) is shared by parent and child but still marked exclusive",
    ]);
  });
});
