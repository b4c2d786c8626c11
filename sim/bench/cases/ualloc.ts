/**
 * The teaching allocators on the CS:APP traces (issue 7): each case replays
 * the eleven traces mdriver's way (the calls alone, no payload writes), one
 * fresh process per trace on one machine, so ns/op includes page faults,
 * syscalls and the spawn/exit of the process. The report line gives the
 * driver's figures (memsim trace run): mean utilisation, the perf index, and
 * per trace utilisation % / Kops/s (the fastest of three timed runs),
 * syscalls and faults.
 */

import { allocatorNames, createAllocator, TEACHING_ALLOCATORS } from "../../../userspace/alloc/index.ts";
import { readMalloclab } from "../../trace/malloclab.ts";
import { replayCalls, replayTraces } from "../../trace/replay.ts";
import { ReplayHost } from "../../trace/spawn.ts";
import type { Trace } from "../../trace/trace.ts";
import type { BenchCase } from "../harness.ts";

const traces = readMalloclab();
const TOTAL_OPS = traces.reduce((s, t) => s + t.numOps, 0);

function traceCase(name: string, set: Trace[]): BenchCase {
  let report = "";
  return {
    name: `ualloc: ${name} on the 11 CS:APP traces (per op)`,
    ops: TOTAL_OPS,
    baseline: "int32-stack push/pop",
    setup() {
      const host = new ReplayHost();
      const r = replayTraces(set, { allocator: name, spawn: host.spawn, release: host.release, timedRuns: 3 });
      const rows = r.traces.map((t) =>
        t.valid
          ? `${t.name.replace("-bal.rep", "")} ${(t.util * 100).toFixed(0)}%/${t.kops.toFixed(0)}`
          : `${t.name.replace("-bal.rep", "")} INVALID`,
      );
      const sys = r.traces.reduce(
        (s, t) => s + t.syscalls.brk + t.syscalls.mmap + t.syscalls.munmap + t.syscalls.mremap + t.syscalls.other,
        0,
      );
      const faults = r.traces.reduce((s, t) => s + (t.faults ?? 0), 0);
      const valid = r.traces.filter((t) => t.valid).length;
      report = `util ${(r.meanUtil * 100).toFixed(1)}%, ${r.kops.toFixed(0)} Kops/s, perf index ${r.perfIndex.toFixed(0)}, ${valid}/11 valid, ${sys} syscalls, ${faults} faults | util%/Kops: ${rows.join(", ")}`;
      const m = host.machine;
      const ptr = new Float64Array(1 << 15);
      const len = new Float64Array(1 << 15);
      // Traces a run cannot complete (the arena on realloc-bal) are left out of the timing.
      const timed = set.filter((_, i) => r.traces[i]?.valid);
      return (ops) => {
        for (let done = 0; done < ops; ) {
          for (const t of timed) {
            const p = m.spawn("bench");
            replayCalls(t, createAllocator(name, p), ptr, len);
            p.exit(0);
            done += t.numOps;
          }
          if (timed.length === 0) break;
        }
      };
    },
    report: () => report,
  };
}

/** One case per teaching allocator. */
export const UALLOC_CASES: readonly BenchCase[] = TEACHING_ALLOCATORS.filter((n) => allocatorNames().includes(n)).map((n) =>
  traceCase(n, traces),
);
