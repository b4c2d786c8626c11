/**
 * `memsim lab init LAB DIR`: the kit a student receives. The lab's skeleton
 * files (the parts to write marked TODO) and its statement.md are copied
 * into DIR; nothing already there is overwritten.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { labDir } from "./labs.ts";
import type { Lab } from "./types.ts";

/** Copies lab `lab`'s kit into `dir`; returns the files written. Returns a string (why not) when one exists already. */
export function initLab(lab: Lab<unknown>, dir: string): string[] | string {
  const from = labDir(lab.name);
  const files = [...readdirSync(join(from, "skeleton")).map((f) => ["skeleton", f] as const), [".", "statement.md"] as const];
  const clash = files.find(([, f]) => existsSync(join(dir, f)));
  if (clash) return `${join(dir, clash[1])} exists already; choose an empty folder`;
  mkdirSync(dir, { recursive: true });
  for (const [sub, f] of files) copyFileSync(join(from, sub, f), join(dir, f));
  return files.map(([, f]) => join(dir, f));
}
