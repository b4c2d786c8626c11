/**
 * The default malloc on the CS:APP malloc-lab traces (issue 7's targets):
 * per trace, Kops/s of the default malloc replaying it inside a process, the
 * same trace replayed by @thi.ng/malloc on its own ArrayBuffer in this
 * process, their ratio, utilisation (peak live payload / peak brk heap plus
 * mmapped bytes) and the syscalls and page faults behind it; then the
 * summary: mean utilisation (target >= 90 %) and the throughput ratio over
 * all traces, total operations over total time as mdriver counts it (target
 * >= 10x). The timed loops write no payloads.
 *
 * Each replay runs in a fresh process of one machine (debugVm 0), so every
 * heap access goes through the MMU and every first touch is a page fault;
 * the process exits after the replay. Until sim/trace lands the traces are
 * read by the small reader below.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MemPool } from "@thi.ng/malloc";
import { createMalloc } from "../../../userspace/malloc/index.ts";
import { Machine } from "../../machine.ts";
import { type BenchCase, timeIt } from "../harness.ts";

const TRACE_DIR = join(import.meta.dirname, "../../../../shared/traces/malloclab");
const OP_ALLOC = 0;
const OP_REALLOC = 1;
const OP_FREE = 2;

/** One trace as typed arrays: kind, block id and size per operation. */
interface Trace {
  name: string;
  kind: Int8Array;
  id: Int32Array;
  size: Int32Array;
  ids: number;
}

/** Reads a CS:APP .rep file (4- or 2-line header, `f -1` = free(NULL)). */
function readRep(path: string, name: string): Trace {
  const lines = readFileSync(path, "utf8").split("\n");
  const nums = lines.slice(0, 4).map((l) => l.trim());
  const header = nums.every((l) => /^\d+$/.test(l)) ? 4 : 2;
  const body = lines.slice(header).filter((l) => l.trim() !== "");
  const t: Trace = { name, kind: new Int8Array(body.length), id: new Int32Array(body.length), size: new Int32Array(body.length), ids: 0 };
  body.forEach((line, i) => {
    const [op, id, size] = line.trim().split(/\s+/);
    t.kind[i] = op === "a" ? OP_ALLOC : op === "r" ? OP_REALLOC : OP_FREE;
    t.id[i] = Number(id);
    t.size[i] = Number(size ?? 0);
    t.ids = Math.max(t.ids, Number(id) + 1);
  });
  return t;
}

function loadTraces(): Trace[] {
  if (!existsSync(TRACE_DIR)) return [];
  return readdirSync(TRACE_DIR)
    .filter((f) => f.endsWith(".rep") && !f.startsWith("short"))
    .sort()
    .map((f) => readRep(join(TRACE_DIR, f), f.replace(/\.rep$/, "")));
}

/** Peak live payload bytes of a trace. */
function peakPayload(t: Trace): number {
  const sizes = new Float64Array(t.ids);
  let live = 0;
  let peak = 0;
  for (let i = 0; i < t.kind.length; i++) {
    const id = t.id[i] as number;
    if (t.kind[i] === OP_FREE) {
      if (id >= 0) live -= sizes[id] as number;
      continue;
    }
    live += (t.size[i] as number) - (sizes[id] as number);
    sizes[id] = t.size[i] as number;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** What one replay of the default malloc left behind, for the report. */
interface MallocRun {
  peakHeap: number;
  syscalls: number;
  faults: number;
}

let machine: Machine | undefined;

/** Replays `t` once on a fresh process with the default malloc; the process exits after. */
function replayMalloc(t: Trace, ptrs: Float64Array): MallocRun {
  machine ??= Machine.boot({ ramBytes: 256 << 20, debugVm: 0 });
  const proc = machine.spawn(t.name);
  const heap = createMalloc(proc);
  const { kind, id, size } = t;
  for (let i = 0; i < kind.length; i++) {
    const k = kind[i] as number;
    const b = id[i] as number;
    if (k === OP_ALLOC) ptrs[b] = heap.malloc(size[i] as number);
    else if (k === OP_REALLOC) ptrs[b] = heap.realloc(ptrs[b] as number, 0, size[i] as number);
    else if (b >= 0) heap.free(ptrs[b] as number, 0);
  }
  const st = heap.stats();
  proc.exit(0);
  return { peakHeap: st.peakHeapBytes, syscalls: st.syscalls, faults: proc.minflt };
}

/** Replays `t` once with @thi.ng/malloc on `pool` (reset first). */
function replayThing(t: Trace, pool: MemPool, ptrs: Float64Array): void {
  pool.freeAll();
  const { kind, id, size } = t;
  for (let i = 0; i < kind.length; i++) {
    const k = kind[i] as number;
    const b = id[i] as number;
    if (k === OP_ALLOC) ptrs[b] = pool.malloc(size[i] as number);
    else if (k === OP_REALLOC) ptrs[b] = pool.realloc(ptrs[b] as number, size[i] as number);
    else if (b >= 0) pool.free(ptrs[b] as number);
  }
}

let thingPool: MemPool | undefined;
function pool(): MemPool {
  thingPool ??= new MemPool({ size: 128 << 20, align: 16 });
  return thingPool;
}

const fmtK = (nsPerOp: number) => (1e6 / nsPerOp).toFixed(0);

/** Calls `replay` (one whole trace of `len` operations) until `ops` operations are done. */
function replayN(ops: number, len: number, replay: () => void): void {
  for (let done = 0; done < ops; done += len) replay();
}

/** Per-trace figures shared with the summary case. */
const summary: { util: number; mallocNs: number; thingNs: number; ops: number }[] = [];

function traceCase(t: Trace): BenchCase {
  const ptrs = new Float64Array(t.ids);
  let last: MallocRun | undefined;
  let mallocNs = 0;
  return {
    name: `malloc: ${t.name} replay (per op)`,
    ops: t.kind.length * 4,
    setup() {
      mallocNs = Number.POSITIVE_INFINITY;
      return (ops) => {
        const t0 = process.hrtime.bigint();
        let done = 0;
        for (; done < ops; done += t.kind.length) last = replayMalloc(t, ptrs);
        mallocNs = Math.min(mallocNs, Number(process.hrtime.bigint() - t0) / done);
      };
    },
    report() {
      // Interleaved rounds, fastest of each, so that a change of machine load hits both sides.
      let thingNs = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        mallocNs = Math.min(
          mallocNs,
          timeIt((ops) => replayN(ops, t.kind.length, () => replayMalloc(t, ptrs)), t.kind.length * 2, 1),
        );
        thingNs = Math.min(
          thingNs,
          timeIt((ops) => replayN(ops, t.kind.length, () => replayThing(t, pool(), ptrs)), t.kind.length, 1),
        );
      }
      const run = last ?? replayMalloc(t, ptrs);
      const util = peakPayload(t) / run.peakHeap;
      summary.push({ util, mallocNs, thingNs, ops: t.kind.length });
      return (
        `${fmtK(mallocNs)} Kops/s vs @thi.ng/malloc ${fmtK(thingNs)} Kops/s: ${(thingNs / mallocNs).toFixed(1)}x; ` +
        `util ${(100 * util).toFixed(1)} %; per replay ${run.syscalls} syscalls, ${run.faults} page faults`
      );
    },
  };
}

/** The closing line: mean utilisation and throughput over all traces. */
function summaryCase(traces: Trace[]): BenchCase {
  return {
    name: `malloc: ${traces.length} CS:APP traces (summary, per op)`,
    ops: 1,
    setup: () => () => {},
    report() {
      const n = summary.length;
      if (n === 0) return "no trace cases ran (filtered out)";
      const ops = summary.reduce((s, r) => s + r.ops, 0);
      const mallocSecs = summary.reduce((s, r) => s + r.ops * r.mallocNs, 0);
      const thingSecs = summary.reduce((s, r) => s + r.ops * r.thingNs, 0);
      const util = summary.reduce((s, r) => s + r.util, 0) / n;
      const worst = Math.min(...summary.map((r) => r.thingNs / r.mallocNs));
      const best = Math.max(...summary.map((r) => r.thingNs / r.mallocNs));
      return (
        `mean util ${(100 * util).toFixed(1)} % (target >= 90 %); ${fmtK(mallocSecs / ops)} Kops/s vs @thi.ng/malloc ` +
        `${fmtK(thingSecs / ops)} Kops/s: ${(thingSecs / mallocSecs).toFixed(1)}x (target >= 10x; per trace ${worst.toFixed(1)}x .. ${best.toFixed(1)}x)`
      );
    },
  };
}

const TRACES = loadTraces();

export const MALLOC_CASES: readonly BenchCase[] = TRACES.length === 0 ? [] : [...TRACES.map(traceCase), summaryCase(TRACES)];
