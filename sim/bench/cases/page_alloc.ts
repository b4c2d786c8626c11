/** Buddy allocator benchmarks (issue: foundation), through m.kernel.pages: FramePages over the buddy layer, as every kernel caller. */

import { __GFP_NOWARN, GFP_ATOMIC } from "../../../kernel/mm/gfp.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

/** order-0 alloc/free LIFO pairs (per-CPU list fast path), default configuration. */
const lifo: BenchCase = {
  name: "buddy: order-0 alloc/free LIFO pair [default config]",
  ops: 2_000_000,
  baseline: "int32-stack push/pop",
  target: 2.5,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1 });
    const k = m.kernel.pages;
    return (ops) => {
      for (let i = 0; i < ops; i++) k.freePages(k.allocPages(0, 0xcc0), 0);
    };
  },
};

/** Random orders 0..3 at half occupancy: alternately allocate into and free from a random slot (default configuration). */
const random: BenchCase = {
  name: "buddy: random order 0..3 at half occupancy (per op) [default config]",
  ops: 1_000_000,
  baseline: "int32-stack push/pop",
  target: 5,
  setup() {
    const m = Machine.boot({ ramBytes: 256 << 20, seed: 7 });
    const k = m.kernel.pages;
    const slots = 8192;
    const pfns = new Int32Array(slots).fill(-1);
    const orders = new Int8Array(slots);
    const rnd = new Uint32Array(1 << 16);
    for (let i = 0; i < rnd.length; i++) rnd[i] = m.kernel.rng.nextU32();
    let r = 0;
    for (let i = 0; i < slots; i += 2) {
      orders[i] = i & 3;
      pfns[i] = k.allocPages(i & 3, 0xcc0);
    }
    return (ops) => {
      for (let i = 0; i < ops; i++) {
        const x = rnd[r++ & 0xffff] as number;
        const s = x & (slots - 1);
        const p = pfns[s] as number;
        if (p >= 0) {
          k.freePages(p, orders[s] as number);
          pfns[s] = -1;
        } else {
          const o = (x >>> 16) & 3;
          orders[s] = o;
          pfns[s] = k.allocPages(o, 0xcc0);
        }
      }
    };
  },
};

/** Allocate every page of a 1 GiB machine, then free them all (per page). */
const allocAll: BenchCase = {
  name: "buddy: allocate-all/free-all of 1 GiB (per run)",
  ops: 1,
  setup() {
    const m = Machine.boot({ ramBytes: 1 << 30, debugVm: 0 });
    const k = m.kernel;
    const held = new Int32Array(1 << 18);
    return () => {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for (;;) {
        const p = k.allocPages(0, GFP_ATOMIC | __GFP_NOWARN);
        if (p === null) break;
        held[n++] = p;
      }
      for (let i = 0; i < n; i++) k.freePages(held[i] as number, 0);
      k.drainPcp();
      lastAllocAll = n;
      lastAllocAllNs = Number(process.hrtime.bigint() - t0);
    };
  },
  report: () =>
    `${lastAllocAll} pages allocated and freed per run: ${(lastAllocAllNs / lastAllocAll).toFixed(1)} ns per page (alloc + free)`,
};
let lastAllocAll = 0;
let lastAllocAllNs = 0;

/** Boot of a 4 GiB machine, with resident memory growth. */
const boot4g: BenchCase = {
  name: "boot: 4 GiB machine",
  ops: 1,
  setup() {
    return () => {
      const rss0 = process.memoryUsage().rss;
      const m = Machine.boot({ ramBytes: 2 ** 32, debugVm: 0 });
      bootRssGrowth = process.memoryUsage().rss - rss0;
      bootMemmapBytes = m.kernel.layout.memmapPages * 4096;
    };
  },
  report: () =>
    `resident memory grew by ${(bootRssGrowth / 2 ** 20).toFixed(1)} MiB (mem_map spans ${(bootMemmapBytes / 2 ** 20).toFixed(0)} MiB; only block heads are written); target <= 50 ms`,
};
let bootRssGrowth = 0;
let bootMemmapBytes = 0;

export const PAGE_ALLOC_CASES: readonly BenchCase[] = [lifo, random, allocAll, boot4g];
