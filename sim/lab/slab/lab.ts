/**
 * Lab "slab" (AOS lab 3, Bonwick's slab allocator): the student's `slab`
 * layer is every object cache of the machine (kmem_cache_create, alloc,
 * free, shrink, destroy): kmalloc's 39 size classes and the kernel's
 * vmap_area and vm_area_struct caches come from it, and the checks make
 * their own through `k.kmemCaches`. The
 * kernel checks each answer (kernel/mm/slab_layer_check.ts: inside a slab
 * the layer took, aligned, overlapping nothing live) and recounts the
 * layer's slabinfo after every check.
 *
 * Expected counts follow the statement's layout: stride = size rounded up
 * to max(8, align); a slab is the fewest 2^order pages (order <= 3) holding
 * at least 8 objects; objperslab = floor(slab bytes / stride).
 */

import type { SlabCache, SlabLayer } from "../../../kernel/mm/slab_layer.ts";
import type { SlabinfoRow } from "../../../kernel/proc/slabinfo.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../../../kernel/uapi/mman.ts";
import type { Machine } from "../../machine.ts";
import { checkers, expectEq, expectTrue, freeFrames, labMachine, note } from "../trial.ts";
import type { Lab, LabCheck } from "../types.ts";

/** What a slab-lab submission exports. */
export interface SlabSubmission {
  readonly slab: SlabLayer;
}

const PAGE = 4096;

function slabMachine(sub: SlabSubmission, log: string[]): Machine {
  const m = labMachine({ slab: sub.slab });
  note(log, `booted 8 MiB on your slab layer '${m.kernel.kmemCaches.name}'`);
  return m;
}

function create(m: Machine, log: string[], name: string, size: number, align = 0): SlabCache {
  const c = m.kernel.kmemCaches.create(name, size, align ? { align } : {});
  note(log, `kmem_cache_create(${name}, ${size}${align ? `, align ${align}` : ""}) -> ${c === null ? "NULL" : "a cache"}`);
  expectTrue(c !== null, `kmem_cache_create(${name}, ${size}) returned NULL`);
  return c as SlabCache;
}

function allocN(c: SlabCache, n: number): number[] {
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const kva = c.alloc();
    expectTrue(kva !== 0, `${c.name}: allocation ${i + 1} of ${n} returned NULL with memory free`);
    got.push(kva);
  }
  return got;
}

type Counts = Omit<SlabinfoRow, "name">;

/** Compares every slabinfo count of `c` with `want`. */
function expectInfo(m: Machine, log: string[], c: SlabCache, want: Counts): void {
  const r = m.kernel.kmemCaches.info(c);
  const keys = ["activeObjs", "numObjs", "objSize", "objPerSlab", "pagesPerSlab", "activeSlabs", "numSlabs"] as const;
  note(log, `slabinfo ${c.name}: ${keys.map((k) => `${k} ${r[k]}`).join(", ")}`);
  for (const k of keys) expectEq(log, `${c.name} ${k}`, r[k], want[k]);
}

/** kmalloc's cache for `size` bytes (GFP_KERNEL): one of the layer's caches. */
function kmallocCache(m: Machine, log: string[], size: number): SlabCache {
  const c = m.kernel.kmallocCaches.cacheFor(size) as SlabCache;
  note(log, `kmalloc(${size}) is served by your cache ${c.name}`);
  return c;
}

/** kmalloc(size) n times; every object must be there. */
function kmallocN(m: Machine, size: number, n: number): number[] {
  const got: number[] = [];
  for (let i = 0; i < n; i++) {
    const kva = m.kernel.kmalloc(size);
    expectTrue(kva !== 0, `kmalloc(${size}) ${i + 1} of ${n} returned NULL with memory free`);
    got.push(kva);
  }
  return got;
}

const kmallocCheck: LabCheck<SlabSubmission> = {
  name: "kmalloc",
  weight: 2,
  explain:
    "kmalloc is served by your caches: 50 kmalloc(100) fill two one-page slabs of kmalloc-128, 5 kmalloc(8192) two 8-page slabs of kmalloc-8k (4 each, order 3 at most); kfree gives every object back.",
  run(sub, log) {
    const m = slabMachine(sub, log);
    const c128 = kmallocCache(m, log, 100);
    const c8k = kmallocCache(m, log, 8192);
    const small = kmallocN(m, 100, 50);
    const big = kmallocN(m, 8192, 5);
    note(log, "kmalloc(100) x 50, kmalloc(8192) x 5");
    // kmalloc-128 is aligned to 128: stride 128, 4096 / 128 = 32 per page; 50 objects take 2 slabs of 32.
    expectInfo(m, log, c128, { activeObjs: 50, numObjs: 64, objSize: 128, objPerSlab: 32, pagesPerSlab: 1, activeSlabs: 2, numSlabs: 2 });
    // 8 objects of 8 KiB would need 16 pages; order 3 is the cap: 32 KiB hold 4, so 5 objects take 2 slabs.
    expectInfo(m, log, c8k, { activeObjs: 5, numObjs: 8, objSize: 8192, objPerSlab: 4, pagesPerSlab: 8, activeSlabs: 2, numSlabs: 2 });
    expectEq(log, "ksize of a kmalloc(100) object", m.kernel.ksize(small[0] as number), 128);
    for (const kva of [...small, ...big]) m.kernel.kfree(kva);
    note(log, "kfree of all 55");
    expectEq(log, "kmalloc-128 active objects after kfree", m.kernel.kmemCaches.info(c128).activeObjs, 0);
    expectEq(log, "kmalloc-8k active objects after kfree", m.kernel.kmemCaches.info(c8k).activeObjs, 0);
    checkers(m, log);
  },
};
const checks: LabCheck<SlabSubmission>[] = [
  {
    name: "boots",
    weight: 1,
    explain:
      "A machine boots on the layer (vmap_area and vm_area_struct are its caches); three processes map 20 areas each and exit; the checkers pass.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      for (let i = 0; i < 3; i++) {
        const p = m.spawn(`p${i}`);
        // Alternating protections keep the 20 areas from merging: 20 VMAs, 20 objects.
        for (let j = 0; j < 20; j++) p.sys.mmap(0, PAGE, j % 2 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        p.exit(0);
      }
      note(log, "3 processes mapped 20 areas each and exited");
      checkers(m, log);
    },
  },
  {
    name: "slabinfo-counts",
    weight: 2,
    explain: "slabinfo counts after 50 objects of 100 bytes (stride 104, 39 per page) and 20 of 1000 bytes (8 per 2-page slab) are exact.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const small = create(m, log, "lab-100", 100);
      allocN(small, 50);
      // 104-byte stride: floor(4096 / 104) = 39 per 1-page slab; 50 objects need 2 slabs, 78 objects.
      expectInfo(m, log, small, {
        activeObjs: 50,
        numObjs: 78,
        objSize: 104,
        objPerSlab: 39,
        pagesPerSlab: 1,
        activeSlabs: 2,
        numSlabs: 2,
      });
      const big = create(m, log, "lab-1000", 1000);
      allocN(big, 20);
      // 1000 bytes: one page holds 4 (< 8), two hold floor(8192 / 1000) = 8; 20 objects need 3 slabs.
      expectInfo(m, log, big, { activeObjs: 20, numObjs: 24, objSize: 1000, objPerSlab: 8, pagesPerSlab: 2, activeSlabs: 3, numSlabs: 3 });
      checkers(m, log);
    },
  },
  {
    name: "alignment",
    weight: 1,
    explain: "A cache of 24-byte objects aligned to 64 hands out 64-byte-aligned objects, 64 per page.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const c = create(m, log, "lab-align", 24, 64);
      const got = allocN(c, 100);
      expectEq(log, "objects not aligned to 64", got.filter((kva) => kva % 64 !== 0).length, 0);
      // Stride 64: 4096 / 64 = 64 per page, so 100 objects take 2 slabs.
      expectInfo(m, log, c, { activeObjs: 100, numObjs: 128, objSize: 64, objPerSlab: 64, pagesPerSlab: 1, activeSlabs: 2, numSlabs: 2 });
      checkers(m, log);
    },
  },
  {
    name: "objects-disjoint",
    weight: 2,
    explain: "300 objects of three caches, each filled with its own byte, all keep their bytes: no two live objects overlap.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const caches = [create(m, log, "lab-40", 40), create(m, log, "lab-200", 200), create(m, log, "lab-3000", 3000)];
      const sizes = [40, 200, 3000];
      const live: Array<[number, number, number]> = [];
      for (let i = 0; i < 300; i++) {
        const k = i % 3;
        const kva = (caches[k] as SlabCache).alloc();
        expectTrue(kva !== 0, `allocation ${i + 1} returned NULL with memory free`);
        m.kernel.mem.fill(kva, i & 0xff, sizes[k] as number);
        live.push([kva, sizes[k] as number, i & 0xff]);
      }
      let bad = 0;
      for (const [kva, size, byte] of live) if (m.kernel.mem.read8(kva) !== byte || m.kernel.mem.read8(kva + size - 1) !== byte) bad++;
      expectEq(log, "objects whose first or last byte was overwritten", bad, 0);
      checkers(m, log);
    },
  },
  {
    name: "partial-first",
    weight: 1,
    explain: "With two full slabs, an object freed then allocated comes back from its partial slab: no third slab.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const c = create(m, log, "lab-100", 100);
      const got = allocN(c, 78);
      c.free(got[10] as number);
      note(log, "allocated 78 objects (2 full slabs of 39), freed the 11th");
      expectEq(log, "the next allocation", c.alloc(), got[10]);
      expectInfo(m, log, c, { activeObjs: 78, numObjs: 78, objSize: 104, objPerSlab: 39, pagesPerSlab: 1, activeSlabs: 2, numSlabs: 2 });
      checkers(m, log);
    },
  },
  {
    name: "shrink-returns-frames",
    weight: 2,
    explain: "390 objects freed leave 10 empty slabs (active_slabs 0); shrink gives their 10 frames back to the page allocator.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const before = freeFrames(m);
      const c = create(m, log, "lab-100", 100);
      for (const kva of allocN(c, 390)) c.free(kva);
      note(log, "allocated and freed 390 objects of 100 bytes (10 slabs of 39)");
      expectInfo(m, log, c, { activeObjs: 0, numObjs: 390, objSize: 104, objPerSlab: 39, pagesPerSlab: 1, activeSlabs: 0, numSlabs: 10 });
      expectEq(log, "pages kmem_cache_shrink freed", m.kernel.kmemCaches.shrink(c), 10);
      expectEq(log, "num_slabs after shrink", m.kernel.kmemCaches.info(c).numSlabs, 0);
      expectEq(log, "frames not back after shrink", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
  {
    name: "destroy-returns-frames",
    weight: 1,
    explain: "Destroying a cache with live objects fails and keeps it; once they are freed it succeeds and every frame comes back.",
    run(sub, log) {
      const m = slabMachine(sub, log);
      const before = freeFrames(m);
      const c = create(m, log, "lab-1000", 1000);
      const got = allocN(c, 9);
      expectEq(log, "kmem_cache_destroy with 9 objects live", m.kernel.kmemCaches.destroy(c), false);
      expectEq(log, "num_slabs still", m.kernel.kmemCaches.info(c).numSlabs, 2);
      for (const kva of got) c.free(kva);
      expectEq(log, "kmem_cache_destroy with none live", m.kernel.kmemCaches.destroy(c), true);
      expectEq(log, "frames not back after destroy", before - freeFrames(m), 0);
      checkers(m, log);
    },
  },
  kmallocCheck,
];

/** The slab-allocator lab. */
export const slabLab: Lab<SlabSubmission> = {
  name: "slab",
  title: "A slab allocator (AOS lab 3): kmem_cache create, alloc, free, shrink, destroy",
  studentFiles: ["slab.ts"],
  exports: ["slab"],
  checks,
  timeLimitMs: 15_000,
};
