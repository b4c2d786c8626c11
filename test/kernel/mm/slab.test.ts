import { describe, expect, it } from "vitest";
import {
  __GFP_NOWARN,
  GFP_KERNEL,
  InvariantViolation,
  KernelPanic,
  Machine,
  PAGE_OFFSET,
  SLAB_HWCACHE_ALIGN,
  SLAB_PANIC,
  SLAB_RECLAIM_ACCOUNT,
} from "../../../sim/index.ts";

const MiB = 1 << 20;

interface CacheStats {
  name: string;
  size: number;
  objectsPerSlab: number;
  order: number;
  slabs: number;
  partialSlabs: number;
  fullSlabs: number;
  cpuSlab: boolean;
  objects: number;
  active: number;
  pages: number;
  allocFastpath: number;
  allocSlowpath: number;
  freeFastpath: number;
  freeSlowpath: number;
}

function cacheStats(m: Machine, name: string): CacheStats {
  const s = m.stats() as { slab: { caches: CacheStats[] } };
  const c = s.slab.caches.find((x) => x.name === name);
  if (!c) throw new Error(`no cache ${name}`);
  return c;
}

function slabinfoRow(m: Machine, name: string): string {
  const row = m.proc
    .slabinfo()
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  if (!row) throw new Error(`no slabinfo row ${name}`);
  return row;
}

function meminfo(m: Machine, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(m.proc.meminfo());
  return Number(match?.[1]);
}

describe("kmem_cache geometry", () => {
  it("kmalloc caches have Linux's stride, objects per slab and pages per slab on one CPU", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const want: Array<[string, number, number, number]> = [
      ["kmalloc-8", 8, 512, 1],
      ["kmalloc-16", 16, 256, 1],
      ["kmalloc-32", 32, 128, 1],
      ["kmalloc-64", 64, 64, 1],
      ["kmalloc-96", 96, 42, 1],
      ["kmalloc-128", 128, 32, 1],
      ["kmalloc-192", 192, 21, 1],
      ["kmalloc-256", 256, 16, 1],
      ["kmalloc-512", 512, 8, 1],
      ["kmalloc-1k", 1024, 8, 2],
      ["kmalloc-2k", 2048, 8, 4],
      ["kmalloc-4k", 4096, 8, 8],
      ["kmalloc-8k", 8192, 4, 8],
    ];
    for (const [name, size, per, pages] of want) {
      expect(slabinfoRow(m, name)).toBe(
        `${name.padEnd(17)}      0      0 ${String(size).padStart(6)} ${String(per).padStart(4)} ${String(pages).padStart(4)} : tunables    0    0    0 : slabdata      0      0      0`,
      );
    }
  });

  it("a 20-byte cache packs 24-byte objects; SLAB_HWCACHE_ALIGN rounds them to 32; align 64 makes 100 bytes 128", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const plain = m.kernel.kmemCacheCreate("plain20", 20)!;
    const hw = m.kernel.kmemCacheCreate("hw20", 20, { flags: SLAB_HWCACHE_ALIGN })!;
    const a64 = m.kernel.kmemCacheCreate("a64", 100, { align: 64 })!;
    expect([plain.size, plain.objects, plain.order]).toEqual([24, 170, 0]);
    expect([hw.size, hw.objects]).toEqual([32, 128]);
    expect([a64.size, a64.objects]).toEqual([128, 32]);
    const p = a64.alloc();
    const q = a64.alloc();
    expect(p % 64).toBe(0);
    expect(q - p).toBe(128);
  });

  it("objects come out in address order from a fresh slab and the slab is accounted", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("seq", 200)!;
    const objs = [c.alloc(), c.alloc(), c.alloc()];
    expect(objs[1]! - objs[0]!).toBe(200);
    expect(objs[2]! - objs[1]!).toBe(200);
    expect(objs[0]! % 4096).toBe(0);
    expect(objs[0]! >= PAGE_OFFSET).toBe(true);
    expect(slabinfoRow(m, "seq")).toBe(
      "seq                   20     20    200   20    1 : tunables    0    0    0 : slabdata      1      1      0",
    );
    const st = cacheStats(m, "seq");
    expect([st.slabs, st.objects, st.active, st.cpuSlab]).toEqual([1, 20, 3, true]);
    m.check();
  });
});

describe("ctor", () => {
  it("runs on every object when a slab is populated, not on each allocation", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    let calls = 0;
    const c = m.kernel.kmemCacheCreate("with_ctor", 64, {
      ctor: (kva) => {
        calls++;
        m.kernel.mem.write32(kva, 0xc0ffee);
      },
    })!;
    const p = c.alloc();
    expect(calls).toBe(c.objects);
    expect(m.kernel.mem.read32(p)).toBe(0xc0ffee);
    m.kernel.mem.write32(p, 7);
    c.free(p);
    const q = c.alloc();
    expect(q).toBe(p);
    expect(calls).toBe(c.objects);
    // The free pointer lives behind the object, so the object keeps its state across free.
    expect(m.kernel.mem.read32(q)).toBe(7);
    expect(c.offset).toBe(64);
    m.check();
  });
});

describe("slab lists", () => {
  it("a full CPU slab moves to the full list; a free into it moves it to the partial list", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("lists", 512)!; // 8 per slab
    const first = Array.from({ length: 8 }, () => c.alloc());
    const ninth = c.alloc();
    let st = cacheStats(m, "lists");
    expect([st.slabs, st.fullSlabs, st.partialSlabs, st.cpuSlab]).toEqual([2, 1, 0, true]);
    c.free(first[3]!);
    st = cacheStats(m, "lists");
    expect([st.fullSlabs, st.partialSlabs, st.freeSlowpath]).toEqual([0, 1, 1]);
    c.free(ninth);
    st = cacheStats(m, "lists");
    expect(st.freeFastpath).toBe(1);
    m.check();
  });

  it("an emptied slab stays on the partial list while fewer than min_partial (5) are there, else it goes back", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("keep", 1024)!; // min_partial = max(5, ilog2(1024) / 2) = 5; 8 per 2-page slab
    expect(c.minPartial).toBe(5);
    const objs = Array.from({ length: 8 * 8 }, () => c.alloc()); // 8 slabs, the last one the CPU slab
    expect(cacheStats(m, "keep").slabs).toBe(8);
    for (const p of objs.slice(0, 7 * 8)) c.free(p);
    // Slabs 1-4 empty while nr_partial < 5 and stay; slabs 5-7 empty with 4 others plus themselves listed.
    const st = cacheStats(m, "keep");
    expect([st.slabs, st.partialSlabs, st.active]).toEqual([5, 4, 8]);
    expect(meminfo(m, "SUnreclaim")).toBe(5 * 8);
    m.check();
    expect(c.shrink()).toBe(8);
    expect(cacheStats(m, "keep").slabs).toBe(1);
    m.check();
  });

  it("kmem_cache_shrink flushes the CPU slab and gives every empty slab back", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("shrinkme", 64)!;
    const p = c.alloc();
    c.free(p);
    expect(cacheStats(m, "shrinkme").slabs).toBe(1);
    expect(c.shrink()).toBe(1);
    expect(cacheStats(m, "shrinkme")).toMatchObject({ slabs: 0, cpuSlab: false });
    m.check();
  });

  it("the slab shrinker gives empty slabs back when the buddy allocator runs dry", () => {
    const m = Machine.boot({ ramBytes: 8 * MiB });
    const c = m.kernel.kmemCacheCreate("filler", 2048)!;
    const objs = Array.from({ length: 6 * 8 }, () => c.alloc());
    for (const p of objs) c.free(p);
    expect(cacheStats(m, "filler").slabs).toBeGreaterThan(0);
    const held: number[] = [];
    for (;;) {
      const pfn = m.kernel.allocPages(0, GFP_KERNEL | __GFP_NOWARN);
      if (pfn === null) break;
      held.push(pfn);
    }
    expect(cacheStats(m, "filler").slabs).toBe(0);
    for (const pfn of held) m.kernel.freePages(pfn, 0);
    m.check();
  });
});

describe("kmem_cache_create and kmem_cache_destroy", () => {
  it("rejects a zero size with Linux's warnings and returns null", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(m.kernel.kmemCacheCreate("zero", 0)).toBeNull();
    expect(m.kernel.reports).toEqual([
      { kind: "kmem_cache_create", text: "kmem_cache_create(zero) integrity check failed" },
      { kind: "kmem_cache_create", text: "kmem_cache_create(zero) failed with error -22" },
    ]);
  });

  it("rejects unknown flags and a non-power-of-two alignment; SLAB_PANIC panics instead", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(m.kernel.kmemCacheCreate("badflags", 32, { flags: 0x80000 })).toBeNull();
    expect(m.kernel.kmemCacheCreate("badalign", 32, { align: 24 })).toBeNull();
    expect(m.kernel.reports.map((r) => r.text)).toEqual([
      "kmem_cache_create(badflags) failed with error -22",
      "kmem_cache_create(badalign) failed with error -22",
    ]);
    expect(() => m.kernel.kmemCacheCreate("panicky", 0, { flags: SLAB_PANIC })).toThrow(KernelPanic);
  });

  it("destroying a cache with live objects warns, keeps the cache and frees nothing live", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("busy", 128)!;
    const p = c.alloc();
    const q = c.alloc();
    c.free(q);
    expect(m.kernel.kmemCacheDestroy(c)).toBe(false);
    const pa = p - PAGE_OFFSET;
    const memmapKva = PAGE_OFFSET + m.kernel.layout.memmapStart * 4096 + Math.floor(pa / 4096) * 64;
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_objects_remaining", "kmem_cache_destroy"]);
    expect(m.kernel.reports[0]!.text).toBe(
      [
        "=============================================================================",
        "BUG busy (Not tainted): Objects remaining in busy on __kmem_cache_shutdown()",
        "-----------------------------------------------------------------------------",
        "",
        `INFO: Slab 0xffff${memmapKva.toString(16)} objects=32 used=1 fp=0xffff${(q + 0).toString(16)} flags=0x${m.kernel.memmap.word0(pa / 4096).toString(16)}(alloc|slab)`,
        `INFO: Object 0xffff${p.toString(16)} @offset=0`,
      ].join("\n"),
    );
    expect(m.kernel.reports[1]!.text).toBe("kmem_cache_destroy busy: Slab cache still has objects");
    // As on Linux, the flushed CPU slab's free objects count as free only once it is on the partial list.
    expect(slabinfoRow(m, "busy")).toBe(
      "busy                   1     32    128   32    1 : tunables    0    0    0 : slabdata      1      1      0",
    );
    m.check();
    c.free(p);
    expect(m.kernel.kmemCacheDestroy(c)).toBe(true);
    expect(m.proc.slabinfo()).not.toMatch(/^busy /m);
    expect(meminfo(m, "Slab")).toBe(0);
    m.check();
  });

  it("destroying a kmalloc cache or a destroyed cache is a kernel bug", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(() => m.kernel.kmemCacheDestroy(m.kernel.slab.findCache("kmalloc-64")!)).toThrow("kmalloc cache");
    const c = m.kernel.kmemCacheCreate("once", 16)!;
    expect(m.kernel.kmemCacheDestroy(c)).toBe(true);
    expect(() => m.kernel.kmemCacheDestroy(c)).toThrow("not a live cache");
    expect(() => c.alloc()).toThrow(KernelPanic);
  });
});

describe("accounting", () => {
  it("SLAB_RECLAIM_ACCOUNT slabs show in SReclaimable and KReclaimable; others in SUnreclaim", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const rec = m.kernel.kmemCacheCreate("dentry_like", 192, { flags: SLAB_RECLAIM_ACCOUNT })!;
    rec.alloc();
    m.kernel.kmalloc(1000);
    expect(meminfo(m, "SReclaimable")).toBe(4);
    expect(meminfo(m, "KReclaimable")).toBe(4);
    expect(meminfo(m, "SUnreclaim")).toBe(8);
    expect(meminfo(m, "Slab")).toBe(12);
    expect(m.proc.vmstat()).toMatch(/^nr_slab_reclaimable 1\nnr_slab_unreclaimable 2$/m);
  });

  it("failslab fails the nth slab allocation and nothing leaks", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    m.faults.failSlab({ nth: 2 });
    const a = m.kernel.kmalloc(64);
    const b = m.kernel.kmalloc(64);
    const c = m.kernel.kmalloc(64);
    expect([a !== 0, b, c !== 0]).toEqual([true, 0, true]);
    expect(m.faults.injected.slab).toBe(1);
    expect(cacheStats(m, "kmalloc-64").active).toBe(2);
    m.check();
  });
});

describe("when pages are short", () => {
  it("a slab falls back to the minimum order when the preferred order cannot be had", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    m.faults.failPageAlloc({ nth: 1 });
    const p = m.kernel.kmalloc(4096);
    expect(p).not.toBe(0);
    expect(m.kernel.memmap.order((p - PAGE_OFFSET) / 4096)).toBe(0);
    expect(m.kernel.reports).toEqual([]);
    const q = m.kernel.kmalloc(4096);
    expect(m.kernel.memmap.order((q - PAGE_OFFSET) / 4096)).toBe(3);
    expect(cacheStats(m, "kmalloc-4k")).toMatchObject({ slabs: 2, objects: 9 });
    m.check();
  });

  it("no page for a new slab: NULL and SLUB's 'Unable to allocate memory' (injected page failures are silent)", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    m.faults.failPageAlloc({ nth: 1, times: 2 });
    expect(m.kernel.kmalloc(4096)).toBe(0);
    expect(m.kernel.reports).toEqual([
      {
        kind: "slab_out_of_memory",
        text:
          "SLUB: Unable to allocate memory on node -1, gfp=0xcc0(GFP_KERNEL)\n" +
          "  cache: kmalloc-4k, object size: 4096, buffer size: 4096, default order: 3, min order: 0\n" +
          "  node 0: slabs: 0, objs: 0, free: 0",
      },
    ]);
    m.check();
  });

  it("running out of memory: order-0 fallbacks fill the last pages, then both warnings", () => {
    const m = Machine.boot({ ramBytes: MiB });
    let n = 0;
    while (m.kernel.kmalloc(4096) !== 0) n++;
    expect(n).toBe(203);
    expect(m.kernel.reports.map((r) => r.text)).toEqual([
      "swapper/0: page allocation failure: order:0, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)",
      "SLUB: Unable to allocate memory on node -1, gfp=0xcc0(GFP_KERNEL)\n" +
        "  cache: kmalloc-4k, object size: 4096, buffer size: 4096, default order: 3, min order: 0\n" +
        "  node 0: slabs: 28, objs: 203, free: 0",
    ]);
    m.check();
  });

  it("invalid sizes and gfp bits a slab must not see are reported", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(m.kernel.kmalloc(-1)).toBe(0);
    expect(m.kernel.kmalloc(1.5)).toBe(0);
    expect(m.kernel.kmalloc(100, GFP_KERNEL | 0x02)).not.toBe(0);
    expect(m.kernel.reports).toEqual([
      { kind: "kmalloc_invalid_size", text: "kmalloc: invalid size -1" },
      { kind: "kmalloc_invalid_size", text: "kmalloc: invalid size 1.5" },
      {
        kind: "slab_gfp",
        text: "Unexpected gfp: 0x2 (__GFP_HIGHMEM). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!",
      },
    ]);
    m.check();
  });
});

describe("stats", () => {
  it("m.stats() counts objects, slabs, active objects, utilisation and fast/slow path hits per cache", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const objs = [m.kernel.kmalloc(64), m.kernel.kmalloc(64), m.kernel.kmalloc(64)];
    m.kernel.kfree(objs[2]!);
    const s = m.stats() as { slab: { caches: Array<Record<string, unknown>>; kmallocLarge: unknown } };
    expect(s.slab.caches.find((c) => c.name === "kmalloc-64")).toEqual({
      name: "kmalloc-64",
      objectSize: 64,
      size: 64,
      align: 64,
      objectsPerSlab: 64,
      order: 0,
      slabs: 1,
      partialSlabs: 0,
      fullSlabs: 0,
      cpuSlab: true,
      disabledSlabs: 0,
      objects: 64,
      active: 2,
      pages: 1,
      utilisation: (2 * 64) / 4096,
      allocFastpath: 2,
      allocSlowpath: 1,
      freeFastpath: 1,
      freeSlowpath: 0,
      allocFailed: 0,
      slabsAllocated: 1,
      slabsFreed: 0,
    });
    m.kernel.kzalloc(64);
    expect(cacheStats(m, "kmalloc-64")).toMatchObject({ allocFastpath: 3, allocSlowpath: 1, active: 3 });
    m.kernel.kmalloc(10000);
    expect(s.slab.kmallocLarge).toEqual({ blocks: 0, pages: 0, allocs: 0, frees: 0 });
    expect((m.stats() as typeof s).slab.kmallocLarge).toEqual({ blocks: 1, pages: 4, allocs: 1, frees: 0 });
  });
});

describe("checkSlab", () => {
  it("finds an in-use count that disagrees with the freelist", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const p = m.kernel.kmalloc(64);
    const pfn = (p - PAGE_OFFSET) / 4096;
    m.kernel.memmap.setWord(pfn, 2, m.kernel.memmap.word(pfn, 2) + (1 << 20));
    expect(() => m.check()).toThrow(InvariantViolation);
    expect(() => m.check()).toThrow(/^SLAB-4: kmalloc-64 slab 0x[0-9a-f]+ inuse 2, 64 objects with 63 free$/);
  });

  it("finds a slab page on no list", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const c = m.kernel.kmemCacheCreate("orphan", 64)!;
    c.alloc();
    c.cpuSlab = 0;
    expect(() => m.check()).toThrow(/^SLAB-2: orphan CPU slab|^SLAB-7: orphan slab 0x[0-9a-f]+ is on no list/);
  });
});

describe("fault injection along a story", () => {
  /** Allocates, frees and reallocates a mix of sizes and a cache's objects, skipping whatever failed. */
  function story(m: Machine): void {
    const k = m.kernel;
    const cache = k.kmemCacheCreate("story_cache", 184, { flags: SLAB_HWCACHE_ALIGN });
    const held: number[] = [];
    const objs: number[] = [];
    for (const size of [8, 64, 100, 300, 5000, 9000, 64, 64, 2048, 40000, 192, 8]) {
      const p = k.kmalloc(size);
      if (p !== 0) held.push(p);
      if (cache) {
        const o = cache.alloc();
        if (o !== 0) objs.push(o);
      }
    }
    for (let i = 0; i < held.length; i += 2) {
      const q = k.krealloc(held[i]!, 700);
      if (q !== 0) held[i] = q;
    }
    for (const p of held.splice(0, 5)) k.kfree(p);
    for (const size of [96, 4096, 16]) {
      const p = k.kzalloc(size);
      if (p !== 0) held.push(p);
    }
    for (const p of held) k.kfree(p);
    for (const o of objs) cache?.free(o);
    if (cache) expect(k.kmemCacheDestroy(cache)).toBe(true);
    k.slab.shrinkAll(0);
    k.drainPcp();
  }

  it("failing the nth slab allocation, for every n along the story, leaks nothing", () => {
    for (let n = 1; n <= 40; n++) {
      const m = Machine.boot({ ramBytes: 8 * MiB });
      const boot = m.proc.buddyinfo();
      m.faults.failSlab({ nth: n });
      story(m);
      if (n <= 22) expect(m.faults.injected.slab, `failslab nth ${n}`).toBe(1);
      expect(meminfo(m, "Slab"), `failslab nth ${n}`).toBe(0);
      expect(m.proc.buddyinfo(), `failslab nth ${n}`).toBe(boot);
      m.check();
    }
  });

  it("failing the nth page allocation, for every n along the story, leaks nothing", () => {
    for (let n = 1; n <= 30; n++) {
      const m = Machine.boot({ ramBytes: 8 * MiB });
      const boot = m.proc.buddyinfo();
      m.faults.failPageAlloc({ nth: n });
      story(m);
      if (n <= 12) expect(m.faults.injected.pageAlloc, `fail_page_alloc nth ${n}`).toBe(1);
      expect(meminfo(m, "Slab"), `fail_page_alloc nth ${n}`).toBe(0);
      expect(m.proc.buddyinfo(), `fail_page_alloc nth ${n}`).toBe(boot);
      m.check();
    }
  });
});
