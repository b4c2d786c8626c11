/**
 * Test helpers for the labs: make a student's kit with `memsim lab init` in
 * a fresh temporary folder, put a solution in place of the skeleton file,
 * grade the folder, and name the checks a result lost.
 */
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { type GradeOptions, grade } from "../../../sim/lab/grader.ts";
import { findLab, labDir } from "../../../sim/lab/labs.ts";
import type { GradeResult } from "../../../sim/lab/types.ts";
import { memsim } from "../cli/helpers.ts";

/** `memsim lab init LAB` into a new temporary folder; returns the folder. */
export async function initKit(lab: string): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), `memsim-lab-${lab}-`)), "kit");
  const r = await memsim(["lab", "init", lab, dir]);
  expect(r.status, r.err).toBe(0);
  return dir;
}

/** A kit of `lab` whose student files are the lab's `solution` files (e.g. "solution.ts", "wrong/eager.ts"). */
export async function kitWith(lab: string, ...solutions: string[]): Promise<string> {
  const dir = await initKit(lab);
  const files = findLab(lab)!.studentFiles;
  for (const [i, s] of solutions.entries()) copyFileSync(join(labDir(lab), s), join(dir, files[i]!));
  return dir;
}

/** Grades the kit holding `solutions` of `lab`. */
export async function gradeWith(lab: string, solutions: readonly string[], opts?: GradeOptions): Promise<GradeResult> {
  return grade(lab, await kitWith(lab, ...solutions), opts);
}

/** The names of the checks `r` did not pass. */
export function lost(r: GradeResult): string[] {
  return r.checks.filter((c) => c.status !== "pass").map((c) => c.name);
}

/**
 * Grades every kit of `lab` named in `solutions` at once (each file alone
 * in the lab's only student file), so their workers overlap; by file name.
 */
export async function gradeAll(lab: string, solutions: readonly string[]): Promise<Map<string, GradeResult>> {
  const results = await Promise.all(solutions.map((s) => gradeWith(lab, [s])));
  return new Map(solutions.map((s, i) => [s, results[i]!]));
}
