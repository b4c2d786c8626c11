/**
 * Scenarios: short stories run on a machine, shared by `memsim run` (which
 * prints them) and `memsim report` (which draws them). A scenario narrates its
 * steps and samples the machine's counters after each one, so the report can
 * plot free pages, RSS, Committed_AS and faults over the run.
 *
 * Adding a scenario: push a {@link Scenario} onto SCENARIOS (a layer's file
 * may do it). Randomness comes from `rec.rng`, seeded from the boot seed.
 */
import { Prandom } from "../../kernel/lib/random.ts";
import { __GFP_NOFAIL, __GFP_NOWARN } from "../../kernel/mm/gfp.ts";
import { formatVa, PAGE_SIZE } from "../../kernel/mm/types.ts";
import type { MeminfoValues } from "../../kernel/proc/meminfo.ts";
import type { Process } from "../../kernel/process.ts";
import { ProcessKilled } from "../../kernel/signal.ts";
import { MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../kernel/uapi/mman.ts";
import type { Machine } from "../machine.ts";
import { type EventCounts, EventTally } from "./event_tally.ts";
import { type Block, ramBlocks } from "./pageinfo.ts";
import { compactionScenario } from "./scenario_compaction.ts";
import { type EatPoint, THRASH_SWAP_BYTES, thrashScenario } from "./scenario_thrash.ts";
import { humanBytes } from "./views.ts";

/** The machine's counters at one point of the run. */
export interface Sample {
  readonly step: number;
  readonly label: string;
  /** /proc/meminfo values in kB. */
  readonly meminfo: MeminfoValues;
  /** /proc/vmstat counters by name. */
  readonly vmstat: Readonly<Record<string, number>>;
  /** The event stream's counts since boot. */
  readonly events: EventCounts;
}

/** The RAM map at one point of the run. */
export interface Snapshot {
  readonly step: number;
  readonly label: string;
  readonly blocks: readonly Block[];
}

/** Collects a scenario's narration, samples and RAM snapshots. */
export class Recorder {
  readonly steps: string[] = [];
  readonly samples: Sample[] = [];
  readonly snapshots: Snapshot[] = [];
  /** What each step did, counted from the event stream (index i is step i + 1). */
  readonly happened: EventCounts[] = [];
  /** Effective access time per step, for a scenario that measures it (thrash); the report charts it. */
  readonly eat: EatPoint[] = [];
  private readonly tally: EventTally;
  /** The scenario's own random stream (the kernel's stays untouched). */
  readonly rng: Prandom;

  constructor(readonly m: Machine) {
    this.rng = new Prandom((m.config.seed ^ 0x5ce7a410) >>> 0);
    this.tally = new EventTally(m);
  }

  /** Records one step's narration and samples the counters after it. */
  step(text: string): void {
    this.steps.push(text);
    this.happened.push(this.tally.take());
    this.sample(text);
  }

  /** Keeps the RAM map as it is now; the report draws it beside the final one. */
  snapshot(label: string): void {
    this.snapshots.push({ step: this.steps.length, label, blocks: ramBlocks(this.m) });
  }

  /** Samples the counters without narrating (for a loop's intermediate points). */
  sample(label: string): void {
    const rows: Array<[string, number]> = [];
    for (const src of this.m.kernel.vmstatSources) src(rows);
    this.samples.push({
      step: this.steps.length,
      label,
      meminfo: this.m.kernel.meminfoValues(),
      vmstat: Object.fromEntries(rows),
      events: this.tally.total(),
    });
  }
}

/** One story. `ramBytes` is its default RAM size. */
export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** The swap device the machine boots with, in bytes (default: none). */
  readonly swapBytes?: number;
  run(rec: Recorder): void;
}

/** A block held by a scenario. */
interface Held {
  pfn: number;
  order: number;
}

function allocMany(rec: Recorder, count: number, maxOrder: number, held: Held[]): number {
  let failed = 0;
  for (let i = 0; i < count; i++) {
    const order = rec.rng.below(maxOrder + 1);
    const pfn = rec.m.kernel.allocPages(order);
    if (pfn === null) failed++;
    else held.push({ pfn, order });
    if (i % 16 === 15) rec.sample(`allocated ${i + 1}`);
  }
  return failed;
}

function pages(held: readonly Held[]): number {
  return held.reduce((n, h) => n + (1 << h.order), 0);
}

/** `bytes` scaled to the machine: as given at 64 MiB of RAM, proportionally less below, page-aligned, at least a page. */
function scaled(rec: Recorder, bytes: number): number {
  const f = Math.min(1, rec.m.config.ramBytes / (64 << 20));
  return Math.max(PAGE_SIZE, Math.floor((bytes * f) / PAGE_SIZE) * PAGE_SIZE);
}

/** m.spawn, narrated as the end of the story when the machine has no memory left for a process. */
function spawn(rec: Recorder, name: string): Process | null {
  try {
    return rec.m.spawn(name);
  } catch (e) {
    rec.step(`spawning ${name} fails (${(e as Error).message}): the machine is too small for the rest of the story`);
    return null;
  }
}

/** Writes one byte in every page of [start, start + len): each first touch is a page fault. */
function touch(p: Process, start: number, len: number): void {
  for (let off = 0; off < len; off += PAGE_SIZE) p.mem.write8(start + off, 1);
}

const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const RW = PROT_READ | PROT_WRITE;

/** The page allocator and the slab layer at work for the kernel. */
function kernelSteps(rec: Recorder): void {
  const k = rec.m.kernel;
  const held: Held[] = [];
  const failed = allocMany(rec, 48, 3, held);
  for (let i = held.length - 1; i >= 0; i -= 2) {
    const h = held.splice(i, 1)[0] as Held;
    k.freePages(h.pfn, h.order);
  }
  k.drainPcp();
  rec.step(
    `a driver allocates 48 blocks of order 0..3 (${failed} failed), frees every other one and drains the per-CPU lists: ${pages(held)} pages stay allocated`,
  );
  const objs: number[] = [];
  for (let i = 0; i < 300; i++) {
    const kva = k.kmalloc(8 << rec.rng.below(9));
    if (kva !== 0) objs.push(kva);
  }
  for (let i = 0; i < objs.length; i += 3) k.kfree(objs[i] as number);
  rec.step(
    `the kernel kmallocs 300 objects of 8 B to 2 KiB and frees a third: ${objs.length - Math.ceil(objs.length / 3)} live objects in the kmalloc caches`,
  );
  const vsize = Math.min(1 << 20, scaled(rec, 1 << 20));
  const buf = k.vmalloc(vsize);
  rec.step(
    buf === 0
      ? `a driver's vmalloc of ${humanBytes(vsize)} fails`
      : `a driver vmallocs ${humanBytes(vsize)} at 0x${formatVa(buf)}: ${vsize / PAGE_SIZE} frames wherever the buddy allocator has them, contiguous only in virtual memory`,
  );
}

/** The default story: kernel allocations, then processes mapping, faulting, forking and exiting. */
function defaultScenario(rec: Recorder): void {
  const m = rec.m;
  rec.step(`boot: ${m.kernel.buddy.nrManagedPages()} pages managed, ${m.kernel.buddy.nrFreePages()} free`);
  kernelSteps(rec);
  const init = spawn(rec, "init");
  if (init === null) return;
  const buf = init.sys.mmap(0, 256 << 10, RW, ANON);
  touch(init, buf, 128 << 10);
  rec.step(
    `init (pid ${init.pid}) maps 256 KiB of anonymous memory at 0x${buf.toString(16)} and touches half of it: ${init.minflt} page faults`,
  );
  const brk0 = init.sys.brk(0);
  const ptrs: number[] = [];
  for (let i = 0; i < 120; i++) ptrs.push(init.libc.malloc(16 << rec.rng.below(8)));
  for (let i = 0; i < ptrs.length; i += 3) init.libc.free(ptrs[i] as number);
  const large = init.libc.malloc(256 << 10);
  rec.step(
    `init mallocs 120 blocks of 16 B to 2 KiB and frees every third: malloc grows the heap with brk from 0x${brk0.toString(16)} to 0x${init.sys.brk(0).toString(16)}; a 256 KiB malloc gets its own mmap at 0x${large.toString(16)}`,
  );
  const worker = init.fork();
  if (worker === null) rec.step("init's fork fails: the machine has no memory or commit left for a child");
  else {
    rec.step(`init forks a child, "worker" below (pid ${worker.pid}): both map the same frames, read-only, copy-on-write`);
    const before = worker.minflt;
    touch(worker, buf, 32 << 10);
    rec.step(`worker writes 32 KiB of the shared mapping: ${worker.minflt - before} copy-on-write faults give it private copies`);
  }
  const hog = spawn(rec, "hog");
  if (hog === null) return;
  const big = hog.sys.mmap(0, 8 << 20, RW, ANON | MAP_NORESERVE);
  const hogTouch = scaled(rec, 2 << 20);
  touch(hog, big, hogTouch);
  rec.step(`hog (pid ${hog.pid}) maps 8 MiB with MAP_NORESERVE and touches ${humanBytes(hogTouch)} of it: ${hog.minflt} page faults`);
  if (worker === null) return;
  worker.exit(0);
  rec.step("worker exits: its private copies go back to the buddy allocator, the shared frames are init's alone again");
}

/** Fragmentation: take every page, free every other one, watch a high-order request fail. */
function fragmentScenario(rec: Recorder): void {
  const k = rec.m.kernel;
  rec.step(`boot: ${k.buddy.nrFreePages()} pages free`);
  const held: number[] = [];
  for (;;) {
    const pfn = k.allocPages(0, __GFP_NOFAIL | __GFP_NOWARN);
    if (pfn === null) break;
    held.push(pfn);
    if (held.length % 1024 === 0) rec.sample(`${held.length} pages held`);
  }
  rec.step(`order-0 allocations (__GFP_NOFAIL, past the watermarks) until none is left: ${held.length} pages held`);
  held.sort((a, b) => a - b);
  for (let i = 0; i < held.length; i += 2) k.freePages(held[i] as number, 0);
  k.drainPcp();
  rec.step(`free every other page by address and drain: ${k.buddy.nrFreePages()} pages free, none of them next to another`);
  rec.snapshot("every other page free");
  const r = k.allocPages(2);
  rec.step(
    `an order-2 allocation ${r === null ? "fails: plenty of free memory, no four contiguous pages" : `succeeds at pfn 0x${r.toString(16)}`}`,
  );
  for (let i = 1; i < held.length; i += 2) k.freePages(held[i] as number, 0);
  k.drainPcp();
  rec.step(`free the rest and drain: the buddies merge back, ${k.buddy.nrFreePages()} pages free`);
}

/** Overcommit and the OOM killer: a process touches more than RAM holds until the kernel kills it. */
function oomScenario(rec: Recorder): void {
  const m = rec.m;
  const ram = m.config.ramBytes;
  const bystander = spawn(rec, "bystander");
  if (bystander === null) return;
  const small = bystander.sys.mmap(0, 64 << 10, RW, ANON);
  touch(bystander, small, 64 << 10);
  rec.step(`bystander (pid ${bystander.pid}) maps and touches 64 KiB`);
  const hog = spawn(rec, "hog");
  if (hog === null) return;
  const len = ram * 2;
  const big = hog.sys.mmap(0, len, RW, ANON | MAP_NORESERVE);
  rec.step(`hog (pid ${hog.pid}) maps ${len >> 20} MiB with MAP_NORESERVE, twice the RAM: the mapping is only a promise`);
  let touched = 0;
  const snapAt = Math.floor(m.kernel.buddy.nrManagedPages() * 0.85);
  try {
    for (let off = 0; off < len; off += PAGE_SIZE) {
      hog.mem.write8(big + off, 1);
      touched++;
      if (touched % 512 === 0) rec.sample(`hog touched ${touched} pages`);
      if (touched === snapAt) rec.snapshot(`hog holds ${touched} pages`);
    }
  } catch (e) {
    if (!(e instanceof ProcessKilled)) throw e;
  }
  rec.step(
    `hog touches page after page: ${touched} pages, then a fault finds no memory and the kernel kills it (${hog.state}, signal ${hog.exitSignal})`,
  );
  rec.step(`bystander is still ${bystander.state} and reads ${bystander.mem.read8(small)} from its memory`);
}

/** Every scenario `memsim run` and `memsim report` know. */
export const SCENARIOS: Scenario[] = [
  { name: "default", summary: "kernel allocations, then processes that map, fault, fork and exit", run: defaultScenario },
  { name: "oom", summary: "overcommit: a process touches more than RAM until the OOM killer ends it", run: oomScenario },
  { name: "fragment", summary: "external fragmentation: free memory that no high-order request can use", run: fragmentScenario },
  { name: "compaction", summary: "a fragmented machine fails an order-9 request, compacts, and succeeds", run: compactionScenario },
  {
    name: "thrash",
    summary: "a working set growing past its cgroup's frames: faults, swap I/O and effective access time per step",
    swapBytes: THRASH_SWAP_BYTES,
    run: thrashScenario,
  },
];

/** Finds a scenario by name; null when there is none. */
export function findScenario(name: string): Scenario | null {
  return SCENARIOS.find((s) => s.name === name) ?? null;
}

/** Runs a scenario on a freshly booted machine. A process killed on a machine too small for the story ends it, narrated. */
export function runScenario(s: Scenario, m: Machine): Recorder {
  const rec = new Recorder(m);
  try {
    s.run(rec);
  } catch (e) {
    if (!(e instanceof ProcessKilled)) throw e;
    rec.step(`the story stops here: ${e.message} (the machine is too small for it)`);
  }
  return rec;
}
