/** Every lab `memsim lab` and `memsim grade` know, by name. */
import { cowLab } from "./cow/lab.ts";
import { framesLab } from "./frames/lab.ts";
import { kallocLab } from "./kalloc/lab.ts";
import { lazyLab } from "./lazy/lab.ts";
import { mallocLab } from "./malloc/lab.ts";
import { mmapLab } from "./mmap/lab.ts";
import { pgtblLab } from "./pgtbl/lab.ts";
import { replacementLab } from "./replacement/lab.ts";
import { slabLab } from "./slab/lab.ts";
import type { Lab } from "./types.ts";

/** The labs, in the order `memsim lab list` prints them. */
// biome-ignore lint/suspicious/noExplicitAny: each lab has its own submission type
export const LABS: readonly Lab<any>[] = [pgtblLab, lazyLab, cowLab, mmapLab, framesLab, kallocLab, slabLab, replacementLab, mallocLab];

/** The lab named `name`, or null when there is none. */
// biome-ignore lint/suspicious/noExplicitAny: each lab has its own submission type
export function findLab(name: string): Lab<any> | null {
  return LABS.find((l) => l.name === name) ?? null;
}

/** The folder of lab `name`'s files (statement.md, skeleton/, solution.ts, wrong/). */
export function labDir(name: string): string {
  return new URL(`./${name}/`, import.meta.url).pathname;
}
