/**
 * The page-table lab (pgaccess, vmprint, ugetpid) end to end: `memsim lab
 * init`, the reference solution and the skeleton graded in workers, and
 * each wrong solution (graded where it lies: it re-exports the right parts
 * from solution.ts) losing exactly the checks its mistake breaks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { grade } from "../../../sim/lab/grader.ts";
import { labDir } from "../../../sim/lab/labs.ts";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { gradeAll, lost } from "./kit.ts";

const PGACCESS = ["reports-accessed", "clears-the-bits", "unmapped-pages-are-zero", "leaves-pages-intact"];
const VMPRINT = ["vmprint-one-path", "vmprint-every-branch"];
const UGETPID = ["ugetpid", "usyscall-read-only", "usyscall-in-maps", "usyscall-freed-at-exit"];

const WRONG: [string, string[], number][] = [
  ["wrong/never_clears.ts", ["clears-the-bits"], 13],
  ["wrong/clears_wrong_bits.ts", PGACCESS, 9],
  ["wrong/vmprint_first_branch_only.ts", ["vmprint-every-branch"], 13],
  ["wrong/usyscall_writable.ts", ["usyscall-read-only"], 14],
  ["wrong/usyscall_no_vma.ts", UGETPID, 10],
];

describe("lab pgtbl", () => {
  let graded: Map<string, GradeResult>;
  beforeAll(async () => {
    graded = await gradeAll("pgtbl", ["solution.ts", "skeleton/pgtbl.ts"]);
    for (const [file] of WRONG) graded.set(file, await grade("pgtbl", labDir("pgtbl") + file));
  });

  it("gives the reference solution full marks", () => {
    const r = graded.get("solution.ts")!;
    expect(lost(r)).toEqual([]);
    expect([r.score, r.maxScore]).toEqual([15, 15]);
  });

  it("gives the untouched skeleton nothing", () => {
    const r = graded.get("skeleton/pgtbl.ts")!;
    expect(lost(r)).toEqual([...PGACCESS, ...VMPRINT, ...UGETPID]);
    expect(r.score).toBe(0);
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

  it("shows the first line where vmprint differs from the page table", () => {
    const out = graded.get("wrong/vmprint_first_branch_only.ts")!.checks[5]!.output;
    expect(out.split("\n").slice(-4)).toEqual([
      "the kernel's vmprint: 22 lines; yours: 5",
      'expected line 6: " ..1: pte 0x000000000040c067 pa 0x000000000040c000"',
      'your line 6:     ""',
      "FAILED: vmprint differs from the page table at line 6",
    ]);
  });

  it("shows the mprotect that should have been refused", () => {
    const out = graded.get("wrong/usyscall_writable.ts")!.checks[7]!.output;
    expect(out.split("\n").slice(-1)).toEqual(["FAILED: mprotect(USYSCALL, 4096, PROT_READ|PROT_WRITE): expected -13, got 0"]);
  });
});
