import { describe, expect, it } from "vitest";
import { MALLOCLAB_TRACES, readMalloclab } from "../../../sim/trace/malloclab.ts";
import { replayTrace } from "../../../sim/trace/replay.ts";
import { ReplayHost } from "../../../sim/trace/spawn.ts";
import { TEACHING_ALLOCATORS } from "../../../userspace/alloc/index.ts";

const traces = readMalloclab();

/** Where an allocator cannot replay a trace, and why (everything else must be valid). */
const EXPECTED_INVALID: Record<string, Record<string, RegExp>> = {
  // A bump allocator never reuses memory: realloc-bal asks for 1.4 GB in all, more than the 256 MiB machine has.
  arena: {
    "realloc-bal.rep":
      /^realloc-bal\.rep line \d+: realloc\(0x[0-9a-f]+, \d+\) of id 0 crashed: ProcessKilled: .*out of memory in a page fault/,
  },
};

/*
 * Every kind of allocator, each in its registry default (the list and
 * coalescing variants of the free list run in the model tests). Without
 * coalescing a free list fragments without bound: it walks lists of
 * thousands of fragments (minutes per trace set) and runs out of memory on
 * realloc-bal, as the arena does.
 */
describe("the eleven CS:APP traces replay validly under every allocator (checked run only, never timed)", () => {
  it("all eleven traces are there", () => expect(traces.map((t) => t.name)).toEqual([...MALLOCLAB_TRACES]));
  for (const name of ["malloc", ...TEACHING_ALLOCATORS]) {
    it(name, () => {
      const host = new ReplayHost();
      for (const t of traces) {
        const r = replayTrace(t, { allocator: name, spawn: host.spawn, release: host.release, timedRuns: 0 });
        const bad = EXPECTED_INVALID[name]?.[t.name];
        if (bad) {
          expect(r.valid, `${name} on ${t.name}`).toBe(false);
          expect(r.errors[0]).toMatch(bad);
        } else {
          expect(r.errors, `${name} on ${t.name}`).toEqual([]);
          expect(r.valid).toBe(true);
        }
      }
      expect(host.machine.processes()).toEqual([]); // every run's process was taken back
      host.machine.check();
    });
  }
});
