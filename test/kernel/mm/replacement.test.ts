import { describe, expect, it } from "vitest";
import { MemMap } from "../../../kernel/mm/memmap.ts";
import type { ReplacementKernel, ReplacementLayer } from "../../../kernel/mm/replacement.ts";
import {
  clockReplacement,
  fifoReplacement,
  lruReplacement,
  optReplacement,
  randomReplacement,
} from "../../../kernel/mm/replacement_policies.ts";
import { LruLists } from "../../../kernel/mm/swap.ts";

/** Belady's string: 12 references to 5 pages. */
const BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];

/**
 * Runs a reference string of pfns on `frames` frames through a policy, as
 * the kernel drives it: a resident page's reference is `referenced`; a
 * missing one evicts `victim()` when the frames are full (`removed`), then
 * comes in (`added`). No accessed bits are set (harvest finds none), so a
 * policy knows only what it is told. Returns the victims in order.
 */
function run(layer: ReplacementLayer, refs: readonly number[], frames: number, seed = 1): number[] {
  const memmap = new MemMap(new ArrayBuffer(16 * 4096), 0, 16);
  const k: ReplacementKernel = { lru: new LruLists(memmap), harvest: () => 0, pageKey: (pfn) => pfn, seed, references: "faults-and-bits" };
  const policy = layer(k);
  const resident = new Set<number>();
  const victims: number[] = [];
  for (const r of refs) {
    if (resident.has(r)) {
      policy.referenced(r);
      continue;
    }
    if (resident.size === frames) {
      const v = policy.victim();
      expect(resident.has(v)).toBe(true);
      policy.removed(v);
      resident.delete(v);
      victims.push(v);
    }
    resident.add(r);
    policy.added(r);
  }
  return victims;
}

describe("replacement policies on Belady's reference string", () => {
  it("FIFO, 3 frames: 9 faults, victims in arrival order", () => {
    expect(run(fifoReplacement, BELADY, 3)).toEqual([1, 2, 3, 4, 1, 2]);
  });

  it("FIFO, 4 frames: 10 faults (Belady's anomaly)", () => {
    expect(run(fifoReplacement, BELADY, 4)).toEqual([1, 2, 3, 4, 5, 1]);
  });

  it("LRU, 3 frames: 10 faults, the least recently used goes", () => {
    expect(run(lruReplacement, BELADY, 3)).toEqual([1, 2, 3, 4, 5, 1, 2]);
  });

  it("CLOCK, 3 frames: the hand clears every use bit on its first turn, so it behaves as FIFO here", () => {
    expect(run(clockReplacement, BELADY, 3)).toEqual([1, 2, 3, 4, 1, 2]);
  });

  it("CLOCK gives a second chance: a page referenced since the hand passed is skipped", () => {
    // Frames hold 1,2,3; the hand clears all on the fault for 4 and takes 1; 2 is referenced; 5 then skips 2 for 3.
    expect(run(clockReplacement, [1, 2, 3, 4, 2, 5], 3)).toEqual([1, 3]);
  });

  it("OPT, 3 frames: 7 faults, the page used farthest ahead (or never) goes, oldest first among the never-used", () => {
    expect(run(optReplacement(BELADY), BELADY, 3)).toEqual([3, 4, 1, 2]);
  });

  it("OPT with ties 'newest' takes the page that came in last among those never used again (OSTEP's simulator)", () => {
    // 4 evicts 3 (next uses 1@4 2@5 3@9), 5 evicts 4 (1@7 2@8 4@10); at 3, 1 and 2 are never used again: the
    // newer, 2, goes; at 4, 1 and 3 tie: 3 goes. Oldest-first would give 1 then 2.
    expect(run(optReplacement(BELADY, { ties: "newest" }), BELADY, 3)).toEqual([3, 4, 2, 3]);
  });

  it("OPT with pick 'soonest' (OSTEP's UNOPT) evicts the page needed next: 9 victims, ties to the oldest", () => {
    // By hand: 4 evicts 1 (1@4), 1 evicts 2 (2@5), 2 evicts 1 (1@7), 5 evicts 2 (2@8), 1 evicts 3 (3@9),
    // 2 evicts 4 (4@10), 3 evicts 5 (5@11), then every resident page is never used again: the oldest, 1, then 2.
    expect(run(optReplacement(BELADY, { pick: "soonest" }), BELADY, 3)).toEqual([1, 2, 1, 2, 3, 4, 5, 1, 2]);
  });

  it("RANDOM draws its victims from the seeded generator: the same seed, the same victims", () => {
    // Seed 42: {1,2,3} loses 2 to 4, {1,3,4} loses 3 to 2, {1,4,2} loses 2 to 5, 5 goes for 2, 1 for 3, 4 for 5 (each resident: run checks).
    expect(run(randomReplacement, BELADY, 3, 42)).toEqual([2, 3, 2, 5, 1, 4]);
    expect(run(randomReplacement, BELADY, 3, 42)).toEqual([2, 3, 2, 5, 1, 4]);
    expect(run(randomReplacement, BELADY, 3, 7)).not.toEqual([2, 3, 2, 5, 1, 4]);
  });
});
