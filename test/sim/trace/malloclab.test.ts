import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTrace } from "../../../sim/trace/read.ts";
import { replayTrace } from "../../../sim/trace/replay.ts";
import { spawnReplayProcess } from "../../../sim/trace/spawn.ts";
import { TEACHING_ALLOCATORS } from "../../../userspace/alloc/index.ts";

const DIR = join(import.meta.dirname, "../../../../shared/traces/malloclab");
/** mdriver's default trace set: the eleven -bal traces other than short1/short2. */
export const MALLOCLAB_TRACES = [
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

const traces = MALLOCLAB_TRACES.map((f) => readTrace(join(DIR, f)));

/** Where an allocator cannot replay a trace, and why (everything else must be valid). */
const EXPECTED_INVALID: Record<string, Record<string, RegExp>> = {
  // A bump allocator never reuses memory: realloc-bal asks for 1.4 GB in all, more than the 256 MiB machine has.
  arena: { "realloc-bal.rep": /out of memory|returned NULL/ },
};

/*
 * Every kind of allocator, each in its registry default (the list and
 * coalescing variants of the free list run in the model tests). Without
 * coalescing a free list fragments without bound: it walks lists of
 * thousands of fragments (minutes per trace set) and runs out of memory on
 * realloc-bal, as the arena does.
 */
describe("the eleven CS:APP traces replay validly under every allocator (checked run only, never timed)", () => {
  for (const name of TEACHING_ALLOCATORS) {
    it(name, () => {
      for (const t of traces) {
        const r = replayTrace(t, { allocator: name, spawn: spawnReplayProcess, timedRuns: 0 });
        const bad = EXPECTED_INVALID[name]?.[t.name];
        if (bad) {
          expect(r.valid, `${name} on ${t.name}`).toBe(false);
          expect(r.errors[0]).toMatch(bad);
        } else {
          expect(r.errors, `${name} on ${t.name}`).toEqual([]);
          expect(r.valid).toBe(true);
        }
      }
    });
  }
});
