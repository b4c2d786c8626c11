/**
 * What meshing saves, measured by the kernel: a trace replayed on the Mesh
 * allocator (userspace/alloc/mesh.ts) with meshing off and on, each in a
 * fresh process, the process's proportional set size (the sum of the Pss
 * lines of /proc/PID/smaps) and VmRSS (/proc/PID/status) read every
 * `interval` operations. Every block is filled when it is handed out (a
 * program writes what it allocates; untouched pages are never resident) and
 * its first and last bytes are checked when it is freed, so a mesh that
 * lost an object's bytes fails the replay. Pss is the figure that shows meshing: a page two
 * virtual spans map counts half to each, while RSS counts it once per
 * mapping (as Linux's does; the Mesh paper measures the same way).
 */
import type { Process } from "../kernel/process.ts";
import { createMesh, type MeshAllocator } from "../userspace/alloc/mesh.ts";
import { OP_ALLOC, OP_FREE, type Trace } from "./trace/trace.ts";

/** Pss and Rss summed over a /proc/PID/smaps text, in kB. */
export function smapsTotals(smaps: string): { pssKb: number; rssKb: number } {
  let pssKb = 0;
  let rssKb = 0;
  for (const m of smaps.matchAll(/^(Pss|Rss):\s+(\d+) kB$/gm)) {
    if (m[1] === "Pss") pssKb += Number(m[2]);
    else rssKb += Number(m[2]);
  }
  return { pssKb, rssKb };
}

/** VmRSS of /proc/PID/status, in kB. */
export function vmRssKb(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m === null ? 0 : Number(m[1]);
}

/** One replay's figures. */
export interface MeshRssRun {
  /** Largest and mean Pss over the samples, kB. */
  peakPssKb: number;
  meanPssKb: number;
  /** Largest VmRSS over the samples, kB. */
  peakRssKb: number;
  /** Pairs meshed during the replay. */
  meshes: number;
  /** Pss at each sample, kB (the same operations in both runs of a row). */
  pssKb: number[];
}

/** One trace with meshing off and on. */
export interface MeshRssRow {
  trace: string;
  off: MeshRssRun;
  on: MeshRssRun;
  /** The sample where meshing saved the most: Pss off and on there, kB (0 and 0 when it never saved). */
  best: { offKb: number; onKb: number };
}

/**
 * Replays `trace` with meshing off, then on (every `meshPeriod` frees),
 * each in a process from `spawn` that `release` ends. Throws Error when the
 * allocator runs out of memory.
 */
export function meshRssRow(
  trace: Trace,
  opts: { interval: number; meshPeriod?: number; seed?: number; spawn: () => Process; release: (p: Process) => void },
): MeshRssRow {
  const run = (meshPeriod: number): MeshRssRun => {
    const p = opts.spawn();
    try {
      return replay(trace, createMesh(p, { meshPeriod, seed: opts.seed ?? 1 }), p, opts.interval);
    } finally {
      opts.release(p);
    }
  };
  const off = run(0);
  const on = run(opts.meshPeriod ?? 256);
  let best = { offKb: 0, onKb: 0 };
  off.pssKb.forEach((kb, i) => {
    const saved = kb - (on.pssKb[i] as number);
    if (saved > best.offKb - best.onKb) best = { offKb: kb, onKb: on.pssKb[i] as number };
  });
  return { trace: trace.name, off, on, best };
}

function replay(trace: Trace, a: MeshAllocator, p: Process, interval: number): MeshRssRun {
  const ptr = new Float64Array(trace.numIds);
  const len = new Float64Array(trace.numIds);
  const r: MeshRssRun = { peakPssKb: 0, meanPssKb: 0, peakRssKb: 0, meshes: 0, pssKb: [] };
  let samples = 0;
  for (let i = 0; i < trace.numOps; i++) {
    step(trace, i, a, p, ptr, len);
    if ((i + 1) % interval !== 0 && i + 1 !== trace.numOps) continue;
    const { pssKb } = smapsTotals(p.proc.smaps());
    r.peakPssKb = Math.max(r.peakPssKb, pssKb);
    r.peakRssKb = Math.max(r.peakRssKb, vmRssKb(p.proc.status()));
    r.meanPssKb += pssKb;
    r.pssKb.push(pssKb);
    samples++;
  }
  r.meanPssKb = Math.round(r.meanPssKb / samples);
  r.meshes = a.meshStats().meshes;
  return r;
}

/** Does op i: a new or resized block is filled with its id's low byte, a freed one checked first. Throws Error on a failed request or lost bytes. */
function step(trace: Trace, i: number, a: MeshAllocator, p: Process, ptr: Float64Array, len: Float64Array): void {
  const k = trace.id[i] as number;
  const op = trace.kind[i] as number;
  const n = trace.size[i] as number;
  const mark = k & 0xff;
  if (op === OP_FREE) {
    if (k < 0) return;
    const at = ptr[k] as number;
    const l = len[k] as number;
    if (l > 0 && (p.mem.read8(at) !== mark || p.mem.read8(at + l - 1) !== mark))
      throw new Error(`${a.name}: ${trace.name} line ${trace.line[i]}: block ${k} lost its bytes`);
    a.free(at, l);
    return;
  }
  const q = op === OP_ALLOC ? a.malloc(n) : a.realloc(ptr[k] as number, len[k] as number, n);
  if (q === 0) throw new Error(`${a.name}: ${trace.name} line ${trace.line[i]}: out of memory`);
  p.mem.fill(q, mark, n);
  ptr[k] = q;
  len[k] = n;
}
