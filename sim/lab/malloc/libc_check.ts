/**
 * The malloc lab's check on a real machine: the submission booted as the
 * process's libc malloc (`layers.malloc`, mm_layer.ts), one bundled trace
 * replayed through `p.libc.malloc`, `realloc` and `free`, both ends of
 * each block (8 bytes each) stamped with its own byte through the process's
 * MMU and read back before it is freed and after a realloc (the kept part); then /proc/PID/maps's [heap] must span
 * exactly what mem_sbrk grew (mem_heap_lo up to the break, page-rounded).
 */

import type { Process } from "../../../kernel/process.ts";
import { Machine } from "../../machine.ts";
import type { Trace } from "../../trace/trace.ts";
import { OP_ALLOC, OP_FREE, OP_REALLOC } from "../../trace/trace.ts";
import { expectEq, note } from "../trial.ts";
import { CheckFailed } from "../types.ts";
import type { MallocSubmission } from "./mdriver.ts";
import { type MmHeapView, mmMallocLayer } from "./mm_layer.ts";

const PAGE = 4096;

/** Bytes stamped at each end of a block (the whole block when it is shorter than two stamps). */
const STAMP = 8;

/** Writes `byte` into the first and last STAMP bytes of [ptr, ptr + len). */
function stamp(p: Process, ptr: number, len: number, byte: number): void {
  if (len <= 2 * STAMP) p.mem.fill(ptr, byte, len);
  else {
    p.mem.fill(ptr, byte, STAMP);
    p.mem.fill(ptr + len - STAMP, byte, STAMP);
  }
}

/** Fails unless both ends of [ptr, ptr + len) still hold `byte` (what stamp wrote). */
function expectStamp(p: Process, ptr: number, len: number, byte: number, what: string): void {
  const offs = len <= 2 * STAMP ? [0, len] : [0, STAMP, len - STAMP, len];
  for (let k = 0; k < offs.length; k += 2) {
    const got = p.mem.read(ptr + (offs[k] as number), (offs[k + 1] as number) - (offs[k] as number));
    const at = got.findIndex((b) => b !== byte);
    if (at >= 0)
      throw new CheckFailed(
        `${what}: byte +${(offs[k] as number) + at} of 0x${ptr.toString(16)} is ${got[at]}, expected ${byte} (not kept)`,
      );
  }
}

/** Replays `t` through p.libc, checking every block's bytes. Returns the largest heap seen, in bytes. */
function replayLibc(p: Process, t: Trace, heap: () => number): number {
  const ptr = new Float64Array(t.numIds);
  const size = new Float64Array(t.numIds);
  let peak = 0;
  for (let i = 0; i < t.numOps; i++) {
    const id = t.id[i] as number;
    const n = t.size[i] as number;
    const what = `${t.name} line ${t.line[i]}`;
    const kind = t.kind[i];
    if (kind === OP_FREE) {
      if (id < 0) continue;
      expectStamp(p, ptr[id] as number, size[id] as number, (id % 251) + 1, `${what}: before free`);
      p.libc.free(ptr[id] as number);
      continue;
    }
    let q: number;
    if (kind === OP_ALLOC) q = p.libc.malloc(n);
    else {
      q = p.libc.realloc(ptr[id] as number, n);
      if (q !== 0) expectStamp(p, q, Math.min(n, size[id] as number), (id % 251) + 1, `${what}: after realloc`);
    }
    if (q === 0) throw new CheckFailed(`${what}: ${kind === OP_REALLOC ? "realloc" : "malloc"}(${n}) returned NULL`);
    if (q % 16 !== 0) throw new CheckFailed(`${what}: 0x${q.toString(16)} is not 16-byte aligned`);
    stamp(p, q, n, (id % 251) + 1);
    ptr[id] = q;
    size[id] = n;
    peak = Math.max(peak, heap());
  }
  return peak;
}

/** The [heap] line of /proc/PID/maps: [start, end), or null when there is none. */
function heapVma(p: Process): [number, number] | null {
  const line = p.proc
    .maps()
    .split("\n")
    .find((l) => l.endsWith("[heap]"));
  if (line === undefined) return null;
  const [s, e] = (line.split(" ")[0] as string).split("-");
  return [Number.parseInt(s as string, 16), Number.parseInt(e as string, 16)];
}

/** The check: `trace` through p.libc on a 64 MiB machine whose malloc is the submission. */
export function libcMallocCheck(sub: MallocSubmission, trace: Trace, log: string[]): void {
  const heaps: MmHeapView[] = [];
  const m = Machine.boot({ ramBytes: 64 << 20, seed: 1, layers: { malloc: mmMallocLayer(sub, heaps) } });
  const p = m.spawn("mm");
  note(log, `booted 64 MiB with your mm as the libc malloc; pid ${p.pid} replays ${trace.name} through p.libc`);
  const peak = replayLibc(p, trace, () => (heaps[0] ? heaps[0].lib.mem_heapsize() : 0));
  const lib = (heaps[0] as MmHeapView).lib;
  note(log, `every block kept its bytes; the heap grew to ${lib.mem_heapsize()} bytes (peak ${peak}) through mem_sbrk -> brk`);
  const vma = heapVma(p);
  if (vma === null) throw new CheckFailed("/proc/PID/maps has no [heap] line: mem_sbrk never grew the break");
  expectEq(log, "[heap] start in /proc/PID/maps", vma[0], lib.mem_heap_lo());
  // The break is mem_heap_hi + 1; the VMA ends at the page that holds it.
  expectEq(log, "[heap] size in /proc/PID/maps, bytes", vma[1] - vma[0], Math.ceil(lib.mem_heapsize() / PAGE) * PAGE);
  p.exit(0);
  m.check();
}
