/**
 * The public benchmark: the eleven CS:APP malloc-lab traces mdriver runs by
 * default (the -bal traces other than short1/short2), kept next to the
 * repository in ../shared/traces/malloclab.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readTrace } from "./read.ts";
import type { Trace } from "./trace.ts";

/** Where the traces live. */
export const MALLOCLAB_DIR = join(import.meta.dirname, "../../../shared/traces/malloclab");

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

/** The eleven traces, read; null when the directory is missing. Throws TraceError when one is malformed. */
export function readMalloclab(): Trace[] | null {
  if (!existsSync(MALLOCLAB_DIR)) return null;
  return MALLOCLAB_TRACES.map((f) => readTrace(join(MALLOCLAB_DIR, f)));
}
