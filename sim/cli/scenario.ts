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
import type { MeminfoValues } from "../../kernel/proc/meminfo.ts";
import type { Machine } from "../machine.ts";
import { type Block, ramBlocks } from "./pageinfo.ts";

/** The machine's counters at one point of the run. */
export interface Sample {
  readonly step: number;
  readonly label: string;
  /** /proc/meminfo values in kB. */
  readonly meminfo: MeminfoValues;
  /** /proc/vmstat counters by name. */
  readonly vmstat: Readonly<Record<string, number>>;
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
  /** The scenario's own random stream (the kernel's stays untouched). */
  readonly rng: Prandom;

  constructor(readonly m: Machine) {
    this.rng = new Prandom((m.config.seed ^ 0x5ce7a410) >>> 0);
  }

  /** Records one step's narration and samples the counters after it. */
  step(text: string): void {
    this.steps.push(text);
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
    this.samples.push({ step: this.steps.length, label, meminfo: this.m.kernel.meminfoValues(), vmstat: Object.fromEntries(rows) });
  }
}

/** One story. `ramBytes` is its default RAM size. */
export interface Scenario {
  readonly name: string;
  readonly summary: string;
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

/** The page allocator tour: allocate, fragment, drain, a big allocation, free everything. */
function defaultScenario(rec: Recorder): void {
  const k = rec.m.kernel;
  rec.step(`boot: ${k.buddy.nrManagedPages()} pages managed, ${k.buddy.nrFreePages()} free`);
  const held: Held[] = [];
  const failed = allocMany(rec, 96, 3, held);
  rec.step(`a driver allocates 96 blocks of order 0..3: ${held.length} granted (${pages(held)} pages), ${failed} failed`);
  let freed = 0;
  for (let i = held.length - 1; i >= 0; i -= 2) {
    const h = held.splice(i, 1)[0] as Held;
    k.freePages(h.pfn, h.order);
    freed += 1 << h.order;
  }
  rec.step(`it frees every other block (${freed} pages): small ones wait on the per-CPU lists (${k.buddy.nrPcpPages()} pages)`);
  k.drainPcp();
  rec.step(`drain_all_pages: per-CPU pages go back to the buddy lists and merge where their buddies are free`);
  const big = k.allocPages(6);
  rec.step(`an order-6 allocation (256 KiB) ${big === null ? "fails" : `splits a larger block: pfn 0x${big.toString(16)}`}`);
  if (big !== null) held.push({ pfn: big, order: 6 });
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

/** Every scenario `memsim run` and `memsim report` know. */
export const SCENARIOS: Scenario[] = [
  { name: "default", summary: "the page allocator tour (grows as layers land)", run: defaultScenario },
  { name: "fragment", summary: "external fragmentation: free memory that no high-order request can use", run: fragmentScenario },
];

/** Finds a scenario by name; null when there is none. */
export function findScenario(name: string): Scenario | null {
  return SCENARIOS.find((s) => s.name === name) ?? null;
}

/** Runs a scenario on a freshly booted machine. */
export function runScenario(s: Scenario, m: Machine): Recorder {
  const rec = new Recorder(m);
  s.run(rec);
  return rec;
}
