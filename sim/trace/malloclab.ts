/**
 * The public benchmark: the eleven CS:APP malloc-lab traces mdriver runs by
 * default (the -bal traces other than short1/short2). They ship with memsim in
 * sim/trace/malloclab/ (see its README.md for where they come from and their
 * format), so a clone replays them with nothing beside it.
 */
import { join } from "node:path";
import { readTrace } from "./read.ts";
import type { Trace } from "./trace.ts";

/** Where the bundled traces live. */
export const MALLOCLAB_DIR = join(import.meta.dirname, "malloclab");

/** mdriver's default trace set, in mdriver's order. */
export const MALLOCLAB_TRACES: readonly string[] = [
  "amptjp-bal.rep",
  "cccp-bal.rep",
  "cp-decl-bal.rep",
  "expr-bal.rep",
  "coalescing-bal.rep",
  "random-bal.rep",
  "random2-bal.rep",
  "binary-bal.rep",
  "binary2-bal.rep",
  "realloc-bal.rep",
  "realloc2-bal.rep",
];

/** The paths of the eleven bundled traces, in mdriver's order. */
export function malloclabFiles(): string[] {
  return MALLOCLAB_TRACES.map((f) => join(MALLOCLAB_DIR, f));
}

/** The eleven bundled traces, read. Throws TraceError when one is missing or malformed. */
export function readMalloclab(): Trace[] {
  return malloclabFiles().map(readTrace);
}
