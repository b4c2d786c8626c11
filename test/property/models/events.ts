/**
 * The event stream agrees with the counters: over any mix of page
 * allocations, kmalloc, process memory use, fork and exit, the pages named
 * by successful mm_page_alloc events are vmstat's pgalloc_* growth, and
 * those named by mm_page_free events are pgfree's. Every checker runs each
 * FULL_CHECK_EVERY operations and at the end.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { type FramesLayer, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";
import { checkAfterCommand, type PropertyModel, type StoryStats } from "../../support/budget.ts";

type Op =
  | { op: "alloc"; order: number }
  | { op: "free"; at: number }
  | { op: "kmalloc"; size: number }
  | { op: "kfree"; at: number }
  | { op: "touch"; pages: number; write: boolean }
  | { op: "fork" }
  | { op: "exit"; at: number }
  | { op: "drain" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("alloc" as const), order: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant("free" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("kmalloc" as const), size: fc.integer({ min: 1, max: 20000 }) }),
  fc.record({ op: fc.constant("kfree" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("touch" as const), pages: fc.integer({ min: 1, max: 12 }), write: fc.boolean() }),
  fc.constant({ op: "fork" as const }),
  fc.record({ op: fc.constant("exit" as const), at: fc.nat() }),
  fc.constant({ op: "drain" as const }),
);

function vmstat(m: Machine): { alloc: number; free: number } {
  let alloc = 0;
  let free = 0;
  for (const line of m.proc.vmstat().split("\n")) {
    const [k, v] = line.split(" ");
    if (k?.startsWith("pgalloc_")) alloc += Number(v);
    if (k === "pgfree") free = Number(v);
  }
  return { alloc, free };
}

function apply(m: Machine, o: Op, blocks: Array<[number, number]>, objs: number[], procs: Process[]): void {
  const k = m.kernel;
  if (o.op === "alloc") {
    const pfn = k.allocPages(o.order);
    if (pfn !== null) blocks.push([pfn, o.order]);
  } else if (o.op === "free" && blocks.length > 0) {
    const [pfn, order] = blocks.splice(o.at % blocks.length, 1)[0] as [number, number];
    k.freePages(pfn, order);
  } else if (o.op === "kmalloc") {
    const kva = k.kmalloc(o.size);
    if (kva !== 0) objs.push(kva);
  } else if (o.op === "kfree" && objs.length > 0) {
    k.kfree(objs.splice(o.at % objs.length, 1)[0] as number);
  } else if (o.op === "touch" && procs.length > 0) {
    const p = procs[procs.length - 1] as Process;
    const va = p.sys.mmap(0, o.pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (va < 0) return;
    for (let i = 0; i < o.pages; i++) {
      if (o.write) p.mem.write8(va + i * 4096, 1);
      else p.mem.read8(va + i * 4096);
    }
  } else if (o.op === "fork" && procs.length > 0 && procs.length < 4) {
    const c = (procs[0] as Process).fork();
    if (c !== null) procs.push(c);
  } else if (o.op === "exit" && procs.length > 1) {
    procs.splice(o.at % procs.length, 1)[0]?.exit(0);
  } else if (o.op === "drain") {
    k.dropCaches();
  }
}

/**
 * Any mix of page allocations, kmalloc, process memory use, fork and exit on
 * a machine with the given frames layer (the buddy when absent); the events
 * must add up to vmstat.
 */
export function eventsModel(name: string, budget: number, frames?: FramesLayer): PropertyModel<Op[]> {
  return {
    name,
    budget,
    storyMax: 100,
    arbitrary: (max) => fc.array(opArb, { maxLength: max, size: "max" }),
    run: (ops) => runStory(ops, frames),
  };
}

/** The buddy allocator's model, at the full budget. */
export const EVENTS_MODEL: PropertyModel<Op[]> = eventsModel("events", 10_000);

function runStory(ops: Op[], frames: FramesLayer | undefined): StoryStats {
  const m = Machine.boot({ ramBytes: 8 << 20, seed: 5, layers: frames === undefined ? {} : { frames } });
  const procs = [m.spawn("p")];
  const before = vmstat(m);
  let allocPages = 0;
  let freePages = 0;
  m.events.on("mm_page_alloc", (e) => {
    if (e.pfn >= 0) allocPages += 1 << e.order;
  });
  m.events.on("mm_page_free", (e) => {
    freePages += 1 << e.order;
  });
  const blocks: Array<[number, number]> = [];
  const objs: number[] = [];
  const stats: StoryStats = { commands: 0, checks: 0 };
  for (const o of ops) {
    stats.commands++;
    apply(m, o, blocks, objs, procs);
    checkAfterCommand(m, stats, []);
  }
  const after = vmstat(m);
  expect(allocPages).toBe(after.alloc - before.alloc);
  expect(freePages).toBe(after.free - before.free);
  m.check();
  stats.checks++;
  return stats;
}
