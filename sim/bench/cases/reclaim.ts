/** Reclaim throughput (issue: reclaim): pages scanned and stolen per second, against copying the same pages. */

import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

const PAGE = 4096;
/** Pages faulted in before each round: reclaim takes `ops` of them. */
const RESIDENT = 2048;

let refill: (() => void) | null = null;
let counts: (() => string) | null = null;

/**
 * One page reclaimed per op through the default two-list policy: the
 * victim's accessed bits harvested through the reverse map (each page was
 * referenced by its fault, so each is looked at twice), the page written to
 * swap and its entry replaced by a swap entry. Between rounds (untimed)
 * every page is read back in, which makes it resident and referenced again.
 */
const shrink: BenchCase = {
  name: "reclaim: pages stolen per second (two-list, to swap) [default config]",
  ops: 1024,
  rounds: 10,
  baseline: "4 KiB copy",
  setup() {
    const m = Machine.boot({ ramBytes: 32 << 20, swapBytes: 32 << 20, seed: 1 });
    const p = m.spawn("bench");
    const reclaim = m.kernel.taskParts.reclaim;
    const base = p.sys.mmap(0, RESIDENT * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < RESIDENT; i++) p.mem.write32(base + i * PAGE, i);
    refill = () => {
      for (let i = 0; i < RESIDENT; i++) p.mem.read32(base + i * PAGE);
    };
    counts = () => {
      const s = reclaim.stats;
      return `(scanned ${s.pgscanDirect}, stolen ${s.pgstealDirect} over all rounds: ${(s.pgscanDirect / Math.max(1, s.pgstealDirect)).toFixed(2)} looks per page stolen)`;
    };
    return (ops) => {
      if (reclaim.tryToFreePages(ops, 0) !== ops) throw new Error("bench: reclaim fell short");
    };
  },
  reset: () => refill?.(),
  report: () => counts?.() ?? "",
};

export const RECLAIM_CASES: readonly BenchCase[] = [shrink];
