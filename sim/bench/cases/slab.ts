/** Slab allocator benchmarks (issue 3): kmalloc/kfree and kmem_cache pairs, random sizes. */

import { GFP_KERNEL } from "../../../kernel/mm/gfp.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

/** kmalloc(64) then kfree through m.kernel, LIFO: the CPU slab fast path both ways (default configuration). */
const kmalloc64: BenchCase = {
  name: "slab: kmalloc(64)/kfree pair [default config]",
  ops: 2_000_000,
  baseline: "int32-stack push/pop",
  target: 3,
  setup() {
    const k = Machine.boot({ ramBytes: 64 << 20, seed: 1 }).kernel;
    k.kfree(k.kmalloc(64, GFP_KERNEL));
    return (ops) => {
      for (let i = 0; i < ops; i++) k.kfree(k.kmalloc(64, GFP_KERNEL));
    };
  },
};

/** kmem_cache_alloc/free pairs on a 184-byte cache (the size of a VMA). */
const cachePair: BenchCase = {
  name: "slab: kmem_cache_alloc/free pair (184-byte objects)",
  ops: 2_000_000,
  baseline: "int32-stack push/pop",
  target: 4,
  setup() {
    const k = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 }).kernel;
    const c = k.kmemCacheCreate("bench_area", 184, { flags: 0x2000 });
    if (!c) throw new Error("kmem_cache_create failed");
    c.free(c.alloc(GFP_KERNEL));
    return (ops) => {
      for (let i = 0; i < ops; i++) c.free(c.alloc(GFP_KERNEL));
    };
  },
};

let lastUtilisation = "";

/**
 * Random sizes 8..8192 at half occupancy: each op picks a random slot and
 * frees it if live, else kmallocs a random size into it.
 */
const random: BenchCase = {
  name: "slab: random kmalloc 8..8192 at half occupancy (per op)",
  ops: 1_000_000,
  baseline: "int32-stack push/pop",
  setup() {
    const m = Machine.boot({ ramBytes: 256 << 20, debugVm: 0, seed: 11 });
    const k = m.kernel;
    const slots = 8192;
    const ptrs = new Float64Array(slots);
    const sizes = new Int32Array(slots);
    const rnd = new Uint32Array(1 << 16);
    for (let i = 0; i < rnd.length; i++) rnd[i] = k.rng.nextU32();
    let r = 0;
    const sizeOf = (x: number) => 8 + (x % 8185);
    for (let i = 0; i < slots; i += 2) {
      sizes[i] = sizeOf(rnd[r++ & 0xffff] as number);
      ptrs[i] = k.kmalloc(sizes[i] as number, GFP_KERNEL);
    }
    const report = () => {
      let live = 0;
      for (let i = 0; i < slots; i++) if (ptrs[i] !== 0) live += sizes[i] as number;
      const slabKb = Number(/^Slab:\s+(\d+) kB/m.exec(m.proc.meminfo())?.[1] ?? 0);
      lastUtilisation = `memory utilisation: ${((100 * live) / (slabKb * 1024)).toFixed(1)}% (${(live / 2 ** 20).toFixed(2)} MiB requested live in ${(slabKb / 1024).toFixed(2)} MiB of slab pages)`;
    };
    return (ops) => {
      for (let i = 0; i < ops; i++) {
        const x = rnd[r++ & 0xffff] as number;
        const s = x & (slots - 1);
        const p = ptrs[s] as number;
        if (p !== 0) {
          k.kfree(p);
          ptrs[s] = 0;
        } else {
          const size = sizeOf(x >>> 13);
          sizes[s] = size;
          ptrs[s] = k.kmalloc(size, GFP_KERNEL);
        }
      }
      report();
    };
  },
  report: () => lastUtilisation,
};

export const SLAB_CASES: readonly BenchCase[] = [kmalloc64, cachePair, random];
