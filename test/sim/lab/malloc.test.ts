/**
 * The malloc lab (CS:APP) end to end: `memsim lab init`, the reference
 * solution (full marks) and CS:APP's naive skeleton graded in workers, each
 * wrong solution losing exactly the checks its mistake breaks, and
 * mdriver's table computed on the cost clock (the same figures on every
 * computer).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { grade } from "../../../sim/lab/grader.ts";
import { labDir } from "../../../sim/lab/labs.ts";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const TRACES = ["amptjp", "cccp", "cp-decl", "expr", "coalescing", "random", "random2", "binary", "binary2", "realloc", "realloc2"].map(
  (t) => `trace-${t}`,
);

const WRONG: [string, string[], number][] = [
  ["wrong/no_coalescing.ts", ["trace-random", "utilization", "throughput"], 12],
  ["wrong/forgets_overhead.ts", [...TRACES, "utilization", "throughput", "libc-malloc"], 0],
  ["wrong/realloc_loses_data.ts", ["trace-realloc", "trace-realloc2", "utilization", "throughput", "libc-malloc"], 9],
];

describe("lab malloc", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("malloc", ["solution.ts", "skeleton/mm.ts"]);
    const wrong = await Promise.all(WRONG.map(([f]) => grade("malloc", labDir("malloc") + f)));
    for (const [i, [f]] of WRONG.entries()) graded.set(f, wrong[i]!);
  }, 600_000);

  it("gives the reference solution (an explicit free list) full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([21, 21]);
  });

  it("prints mdriver's table with throughput from the cost clock and the performance index", () => {
    const out = graded.get("solution.ts")!.checks[11]!.output.split("\n");
    expect(out.slice(-3)).toEqual([
      "10      yes    87%   14401  0.000212   67948  realloc2-bal.rep",
      "Total           85%  112372  0.086080    1305",
      "Perf index = 51 (util) + 40 (thru) = 91/100",
    ]);
  });

  it("gives CS:APP's naive skeleton the traces it survives, and no utilisation or throughput", () => {
    const r = graded.get("skeleton/mm.ts")!;
    expect(lost(r)).toEqual([
      "trace-coalescing",
      "trace-random",
      "trace-random2",
      "trace-realloc",
      "trace-realloc2",
      "utilization",
      "throughput",
      "libc-malloc",
    ]);
    expect(r.score).toBe(6);
  });

  it.each(WRONG)("%s loses exactly %j", (file, checks, score) => {
    const r = graded.get(file)!;
    expect(lost(r)).toEqual(checks);
    expect(r.score).toBe(score);
  });

  it("runs the reference as p.libc's malloc: [heap] in /proc/PID/maps is the break mem_sbrk set, page-rounded", () => {
    const out = graded
      .get("solution.ts")!
      .checks.find((c) => c.name === "libc-malloc")!
      .output.split("\n");
    // 615,504 bytes of heap round up to 151 pages: 618,496 = 0x97000.
    expect(out.slice(1, 4)).toEqual([
      "every block kept its bytes; the heap grew to 615504 bytes (peak 615504) through mem_sbrk -> brk",
      "[heap] start in /proc/PID/maps: 0x555555559000",
      "[heap] size in /proc/PID/maps, bytes: 0x97000",
    ]);
  });

  it("names the realloc that lost its bytes when the mm is the libc malloc too", () => {
    const out = graded
      .get("wrong/realloc_loses_data.ts")!
      .checks.find((c) => c.name === "libc-malloc")!
      .output.split("\n");
    expect(out.at(-1)).toBe("FAILED: realloc-bal.rep line 7: after realloc: byte +0 of 0x5555555592c0 is 0, expected 1 (not kept)");
  });

  it("names the operation whose payload lost its bytes", () => {
    const out = graded.get("wrong/realloc_loses_data.ts")!.checks[9]!.output.split("\n");
    expect(out.at(-1)).toBe(
      "FAILED: realloc-bal.rep line 7: realloc(0x555555559020, 640) of id 0 to 0x5555555592c0: payload byte +0 differs (not kept by realloc, or overwritten earlier)",
    );
  });
});
