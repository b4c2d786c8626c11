/**
 * The grader itself: a submission that loops forever or exhausts its heap
 * costs the one check it broke, not the grade; one that does not load fails
 * every check saying why; the five output formats on a fixed run (golden
 * files); the `memsim lab` and `memsim grade` commands.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FORMATS, formatResult } from "../../../sim/lab/formats.ts";
import { grade } from "../../../sim/lab/grader.ts";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { expectGolden, memsim, shellRun } from "../cli/helpers.ts";
import { gradeWith, lost } from "./kit.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");

describe("grader", () => {
  let misbehaves: GradeResult;
  let noExport: GradeResult;
  let throws: GradeResult;
  let wrong: GradeResult;
  beforeAll(async () => {
    [misbehaves, noExport, throws, wrong] = await Promise.all([
      grade("lazy", join(FIXTURES, "misbehaves.ts"), { timeLimitMs: 4000, memoryMb: 64 }),
      grade("lazy", join(FIXTURES, "no_export.ts")),
      grade("lazy", join(FIXTURES, "throws_on_import.ts")),
      gradeWith("lazy", ["wrong/always_new_page.ts"]),
    ]);
  });

  it("stops an endless loop at the time limit and a heap blow-up at the memory limit, costing one check each", () => {
    expect(misbehaves.checks.map((c) => c.status)).toEqual(["pass", "crash", "pass", "pass", "pass", "pass", "timeout", "pass"]);
    expect(misbehaves.checks[1]!.output).toBe("FAILED: the check crashed the worker: it ran out of memory (the worker's heap limit)");
    expect(misbehaves.checks[6]!.output).toBe("FAILED: the check was still running after 4000 ms (the time limit): an endless loop?");
    expect(misbehaves.score).toBe(8);
  });

  it("fails every check of a submission without the lab's exports, saying which", () => {
    expect(noExport.score).toBe(0);
    expect(new Set(noExport.checks.map((c) => c.output))).toEqual(
      new Set(["FAILED: the submission does not export pageFault (as functions)"]),
    );
  });

  it("fails every check of a submission that throws while loading, with its error", () => {
    expect(throws.score).toBe(0);
    expect(new Set(throws.checks.map((c) => c.output))).toEqual(
      new Set(["FAILED: the submission does not load: Error: half-finished submission"]),
    );
  });

  it.each(FORMATS)("writes the %s format byte for byte (golden)", (format) => {
    const ext = { text: "txt", json: "json", gradescope: "gradescope.json", tap: "tap", junit: "xml" }[format];
    expectGolden(`lab/lazy_always_new_page.${ext}`, formatResult(wrong, format));
  });

  it("writes Gradescope's results.json: the total and per test name, score, max_score, status, output", () => {
    const gs = JSON.parse(formatResult(wrong, "gradescope"));
    expect(gs.score).toBe(9);
    expect(gs.tests).toHaveLength(8);
    expect(Object.keys(gs.tests[6])).toEqual(["name", "number", "score", "max_score", "status", "output"]);
    expect(gs.tests[6]).toMatchObject({ name: "fork-lazy-memory", score: 0, max_score: 2, status: "failed" });
  });

  it("ends the text with the score", () => {
    expect(formatResult(wrong, "text").endsWith("\nScore: 9/11\n")).toBe(true);
    expect(lost(wrong)).toEqual(["fork-lazy-memory"]);
  });
});

describe("memsim lab and memsim grade", () => {
  it("lists the labs with their points", async () => {
    const r = await memsim(["lab", "list"]);
    expect(r.status).toBe(0);
    expect(r.out).toContain(
      "lazy     Lazy allocation: sbrk grows the break, the page-fault handler allocates (8 checks, 11 points; you write lazy.ts)\n",
    );
    const json = JSON.parse((await memsim(["lab", "list", "--json"])).out);
    expect(json.map((l: { name: string }) => l.name)).toEqual([
      "pgtbl",
      "lazy",
      "cow",
      "mmap",
      "frames",
      "kalloc",
      "slab",
      "replacement",
      "malloc",
    ]);
    expect(json[0].checks[0]).toEqual({
      name: "reports-accessed",
      weight: 2,
      explain: "Of 8 pages, 1, 3 and 6 were written: pgaccess reports bits 1, 3 and 6 (0x4a).",
    });
  });

  it("grades from the real executable, whose workers load TypeScript on their own", () => {
    const r = shellRun("MEMSIM grade pgtbl sim/lab/pgtbl/solution.ts | tail -1");
    expect([r.status, r.out, r.err]).toEqual([0, "Score: 15/15\n", ""]);
  });

  it("inits a kit and grades it into a file in Gradescope's format", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "memsim-grade-")), "kit");
    const init = await memsim(["lab", "init", "lazy", dir]);
    expect(init.out.split("\n").slice(0, 2)).toEqual([`wrote ${join(dir, "lazy.ts")}`, `wrote ${join(dir, "statement.md")}`]);
    expect((await memsim(["lab", "init", "lazy", dir])).status).toBe(1);
    const results = join(dir, "results.json");
    const r = await memsim(["grade", "lazy", dir, "--format", "gradescope", "-o", results]);
    expect([r.status, r.out, r.err]).toEqual([0, "", ""]);
    expect(JSON.parse(readFileSync(results, "utf8")).score).toBe(0);
  });

  it("refuses an unknown lab (2) and a missing submission (1)", async () => {
    const unknown = await memsim(["grade", "nolab", "x.ts"]);
    expect([unknown.status, unknown.err.split("\n")[0]]).toEqual([
      2,
      "memsim grade: unknown lab 'nolab' (labs: pgtbl, lazy, cow, mmap, frames, kalloc, slab, replacement, malloc)",
    ]);
    const missing = await memsim(["grade", "lazy", "/nonexistent/sub.ts"]);
    expect([missing.status, missing.err]).toEqual([1, "memsim grade: no such file or folder: /nonexistent/sub.ts\n"]);
  });
});
