/** MMU, TLB and vmalloc benchmarks (issue: page tables, MMU and TLB, vmalloc). */

import { __GFP_ZERO, GFP_HIGHUSER } from "../../../kernel/mm/gfp.ts";
import { PTE_NX, PTE_P, PTE_US } from "../../../kernel/mm/pgtable_types.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import { Machine } from "../../machine.ts";
import type { BenchCase } from "../harness.ts";

let sink = 0;

/** m.kernel.mem.read32 on one direct-map page: every access a TLB hit. */
const kernelHit: BenchCase = {
  name: "mmu: kernel read32 through a TLB hit",
  ops: 10_000_000,
  baseline: "uint32 load",
  target: 6,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
    const mem = m.kernel.mem;
    const kva = m.kernel.pfnToKva(5000);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(kva + ((i * 28) & 4092));
      sink ^= x;
    };
  },
};

/** p.mem.read32 of a process on one touched heap page: every access a TLB hit (default configuration). */
const userHit: BenchCase = {
  name: "mmu: user read32 through the TLB, p.mem.read32 [default config]",
  ops: 10_000_000,
  baseline: "uint32 load",
  target: 2.5,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1 });
    const p = m.spawn("bench");
    const heap = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const mem = p.mem;
    mem.write32(heap, 1);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(heap + ((i * 28) & 4092));
      sink ^= x;
    };
  },
};

/**
 * The same loop in the every-access mode (`mmu: { observeAccesses: true }`):
 * each read32 misses the inline probe on purpose, goes through
 * Mmu.translate (a TLB hit there) and tells the replacement policy. What
 * exact LRU costs per access; the case above must not move when the mode
 * exists but is off.
 */
const userHitObserved: BenchCase = {
  name: "mmu: user read32 in the every-access mode (each access reported to the policy)",
  ops: 2_000_000,
  baseline: "uint32 load",
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1, mmu: { observeAccesses: true } });
    const p = m.spawn("bench");
    const heap = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const mem = p.mem;
    mem.write32(heap, 1);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(heap + ((i * 28) & 4092));
      sink ^= x;
    };
  },
};

/**
 * The same loop with the cache model (`cache: true`): each read32 goes
 * through Mmu.translate and into CacheModel.dataAccess (an L1 hit after the
 * first). What the cache model costs per access; the default-config case
 * must not move when the model exists but is off.
 */
const userHitCached: BenchCase = {
  name: "mmu: user read32 with the cache model (each access an L1 lookup)",
  ops: 2_000_000,
  baseline: "uint32 load",
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, seed: 1, cache: true });
    const p = m.spawn("bench");
    const heap = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const mem = p.mem;
    mem.write32(heap, 1);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(heap + ((i * 28) & 4092));
      sink ^= x;
    };
  },
};

/** read32 cycling over 4096 direct-map pages with a 256-entry TLB: every access misses and walks 3 levels to a 2 MiB leaf. */
const missWalk: BenchCase = {
  name: "mmu: kernel read32 on a TLB miss (walk, fill)",
  ops: 2_000_000,
  baseline: "uint32 load",
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
    const mem = m.kernel.mem;
    const kva = m.kernel.pfnToKva(0);
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(kva + (i & 4095) * 4096);
      sink ^= x;
    };
  },
  report: () => `(4096 pages in a cycle through a 256-entry 4-way TLB: every access misses)`,
};

/** The same on a user page table of 4 KiB leaves: a 4-level walk per access. */
const missWalkUser: BenchCase = {
  name: "mmu: user read32 on a TLB miss (4-level walk, fill)",
  ops: 2_000_000,
  baseline: "uint32 load",
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
    const k = m.kernel;
    const pt = k.paging.pgdAlloc();
    const pfn = k.allocPages(0, GFP_HIGHUSER | __GFP_ZERO);
    if (pt === null || pfn === null) throw new Error("bench setup: out of memory");
    for (let i = 0; i < 1024; i++) pt.mapRange(0x400000 + i * 4096, pfn, 1, (PTE_P | PTE_US | PTE_NX) >>> 0);
    const mem = k.mmu.view(pt, "user");
    return (ops) => {
      let x = 0;
      for (let i = 0; i < ops; i++) x ^= mem.read32(0x400000 + (i & 1023) * 4096);
      sink ^= x;
    };
  },
};

/** vmalloc then vfree of 1, 2, 3, 4 pages in turn, with 64 areas live around them. */
const vmallocPair: BenchCase = {
  name: "mmu: vmalloc/vfree pair of 1-4 pages (64 areas live)",
  ops: 500_000,
  setup() {
    const m = Machine.boot({ ramBytes: 64 << 20, debugVm: 0 });
    const k = m.kernel;
    for (let i = 0; i < 64; i++) k.vmalloc(4096 * (1 + (i % 7)));
    return (ops) => {
      for (let i = 0; i < ops; i++) {
        const kva = k.vmalloc(4096 * (1 + (i & 3)));
        if (kva === 0) throw new Error("vmalloc failed");
        k.vfree(kva);
      }
    };
  },
  report: () => "target >= 1,000,000 pairs/s",
};

export const MMU_CASES: readonly BenchCase[] = [kernelHit, userHit, userHitObserved, userHitCached, missWalk, missWalkUser, vmallocPair];

/** Keeps the results observable. */
export function mmuSink(): number {
  return sink;
}
