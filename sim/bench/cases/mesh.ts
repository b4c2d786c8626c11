/**
 * Mesh's RSS figures (issue 18): every trace of sim/trace/malloclab and a
 * synthetic fragmenting one replayed on the Mesh allocator with meshing off
 * and on (sim/mesh_rss.ts), the process's Pss from /proc/PID/smaps and VmRSS
 * from /proc/PID/status sampled forty times per replay: peak, mean, and the
 * sample where meshing saved the most. Nothing is timed: the report line is
 * the figures.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { meshRssRow } from "../../mesh_rss.ts";
import { MALLOCLAB_DIR } from "../../trace/malloclab.ts";
import { parseTrace, readTrace } from "../../trace/read.ts";
import { ReplayHost } from "../../trace/spawn.ts";
import type { Trace } from "../../trace/trace.ts";
import type { BenchCase } from "../harness.ts";

/**
 * Mesh's own kind of workload: 8192 objects of 64 bytes, then seven of
 * every eight freed in an order drawn from `seed` (with a few short-lived
 * objects after), the survivors freed last. Unmeshed, every span keeps
 * about an eighth of its objects.
 */
export function fragmentingTrace(seed = 1): Trace {
  const n = 8192;
  const ops: string[] = [];
  for (let i = 0; i < n; i++) ops.push(`a ${i} 64`);
  const order = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  for (let k = n - 1; k > 0; k--) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % (k + 1);
    [order[k], order[j]] = [order[j] as number, order[k] as number];
  }
  for (const i of order.slice(0, (n * 7) / 8)) ops.push(`f ${i}`);
  for (let i = 0; i < n / 16; i++) ops.push(`a ${n + i} 64`, `f ${n + i}`);
  for (const i of order.slice((n * 7) / 8)) ops.push(`f ${i}`);
  return parseTrace(`${n * 64}\n${n + n / 16}\n${ops.length}\n1\n${ops.join("\n")}\n`, "fragment-64");
}

function row(t: Trace, host: ReplayHost): string {
  const r = meshRssRow(t, { interval: Math.max(1, Math.floor(t.numOps / 40)), spawn: host.spawn, release: host.release });
  const pct = (off: number, on: number) => (off === 0 ? "0" : ((100 * (off - on)) / off).toFixed(1));
  return (
    `${t.name.replace(/(-bal)?\.rep$/, "")} Pss peak ${r.off.peakPssKb}->${r.on.peakPssKb} kB (-${pct(r.off.peakPssKb, r.on.peakPssKb)}%), ` +
    `mean ${r.off.meanPssKb}->${r.on.meanPssKb} kB (-${pct(r.off.meanPssKb, r.on.meanPssKb)}%), ` +
    `best sample ${r.best.offKb}->${r.best.onKb} kB (-${pct(r.best.offKb, r.best.onKb)}%), VmRSS peak ${r.off.peakRssKb}->${r.on.peakRssKb} kB, ${r.on.meshes} meshes`
  );
}

export const MESH_CASES: readonly BenchCase[] = [
  {
    name: "mesh: Pss with meshing off -> on, every malloclab trace and a fragmenting one (figures only)",
    ops: 0,
    setup: () => () => {},
    report() {
      const host = new ReplayHost();
      const files = readdirSync(MALLOCLAB_DIR)
        .filter((f) => f.endsWith(".rep"))
        .sort();
      const traces = [...files.map((f) => readTrace(join(MALLOCLAB_DIR, f))), fragmentingTrace()];
      return traces.map((t) => row(t, host)).join("; ");
    },
  },
];
