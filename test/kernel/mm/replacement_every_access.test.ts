/**
 * The every-access mode (`Machine.boot({ mmu: { observeAccesses: true } })`):
 * each user load and store reports its page to the replacement policy, once,
 * so LRU is exact and the textbook's fault counts come out of a real machine.
 */
import { describe, expect, it } from "vitest";
import {
  fifoReplacement,
  lruReplacement,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  optReplacement,
  PROT_READ,
  PROT_WRITE,
  type ReplacementLayer,
  recordingReplacement,
} from "../../../sim/index.ts";

const PAGE = 4096;
// OSTEP's example reference string (chapter "Beyond Physical Memory: Policies").
const OSTEP = [0, 1, 2, 0, 1, 3, 0, 3, 1, 2, 1];

/** Writes page r of an 8-page mapping for each r of `refs` in a group of `frames` frames; returns the faults (pgfault delta) and whether each page read back its last value. */
function run(layer: ReplacementLayer, refs: readonly number[], frames: number, observe: boolean): { faults: number; intact: boolean } {
  const m = Machine.boot({ ramBytes: 16 << 20, swapBytes: 1 << 20, mmu: { observeAccesses: observe }, layers: { replacement: layer } });
  const g = m.cgroups.create("lab", { max: frames * PAGE });
  const p = m.spawn("p");
  p.cgroup = g;
  const a = p.sys.mmap(0, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const pgfault = () => Number(m.proc.vmstat().match(/^pgfault (\d+)$/m)?.[1]);
  const before = pgfault();
  for (const [i, r] of refs.entries()) p.mem.write32(a + r * PAGE, i);
  const faults = pgfault() - before;
  const last = new Map(refs.map((r, i) => [r, i]));
  const intact = [...last].every(([r, i]) => p.mem.read32(a + r * PAGE) === i);
  m.check();
  return { faults, intact };
}

describe("every-access mode: the textbook's fault counts on OSTEP's string 0,1,2,0,1,3,0,3,1,2,1 with 3 frames", () => {
  it("LRU is exact: 5 misses (0 1 2, then 3 evicting 2, then 2 evicting 0)", () => {
    // By hand: 0m 1m 2m 0h 1h 3m(LRU is 2) 0h 3h 1h 2m(LRU is 0: order 0,3,1) 1h -> 5 misses, 6 hits.
    expect(run(lruReplacement, OSTEP, 3, true)).toEqual({ faults: 5, intact: true });
  });

  it("FIFO: 7 misses (3 evicts 0, 0 evicts 1, 1 evicts 2, 2 evicts 3)", () => {
    // By hand: 0m 1m 2m 0h 1h 3m(out 0) 0m(out 1) 3h 1m(out 2) 2m(out 3) 1h -> 7 misses.
    expect(run(fifoReplacement, OSTEP, 3, true)).toEqual({ faults: 7, intact: true });
  });

  it("OPT replays the string one step per access: 5 misses (3 evicts 2, then 2 evicts a page never used again)", () => {
    // A first run records one key per access in this mode: the string's 11, then the read-backs of 0 1 2 3
    // (the string's shape: each key named by the step it first appears at); OPT replays them.
    const keys: number[] = [];
    run(recordingReplacement(fifoReplacement, keys), OSTEP, 3, true);
    expect(keys.map((k) => keys.indexOf(k))).toEqual([0, 1, 2, 0, 1, 5, 0, 5, 1, 2, 1, 0, 1, 2, 5]);
    // By hand: 0m 1m 2m 0h 1h 3m(next uses 0@6 1@8 2@9: out 2) 0h 3h 1h 2m(next 1@10 0@11 3@14: out 3) 1h -> 5.
    expect(run(optReplacement(keys), OSTEP, 3, true)).toEqual({ faults: 5, intact: true });
  });

  it("without the mode a recorder sees only the faults: 0,1,2,0,1 gives 3 keys, the hits on 0 and 1 unseen", () => {
    // Off, only faults report: each first touch is one `added`; the TLB-hit writes to 0 and 1 report nothing.
    const keys: number[] = [];
    run(recordingReplacement(fifoReplacement, keys), OSTEP.slice(0, 5), 3, false);
    expect(keys.length).toBe(3);
  });
});

describe("every-access mode: boot option", () => {
  it("rejects an unknown mmu option and a non-boolean observeAccesses, naming them", () => {
    expect(() => Machine.boot({ mmu: { observeAccesses: 1 as unknown as boolean } })).toThrow(
      "Machine.boot: mmu.observeAccesses must be true or false, got 1",
    );
    expect(() => Machine.boot({ mmu: { fast: true } as unknown as { observeAccesses: boolean } })).toThrow(
      "Machine.boot: unknown option 'mmu.fast'",
    );
  });

  it("a forked child's accesses are reported too, and the TLB still counts them as hits on the cost clock", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, mmu: { observeAccesses: true } });
    const p = m.spawn("p");
    const a = p.sys.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mem.write32(a, 1);
    const hits = () => (m.stats().mmu as { tlb: { hits: number } }).tlb.hits;
    const before = hits();
    for (let i = 0; i < 10; i++) p.mem.read32(a);
    expect(hits() - before).toBe(10);
    const c = p.fork();
    expect(c?.mem.read32(a)).toBe(1);
    m.check();
  });
});
