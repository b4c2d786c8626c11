import { describe, expect, it } from "vitest";
import { __GFP_NOWARN, __GFP_RECLAIMABLE, GFP_DMA, GFP_KERNEL, Machine, PAGE_OFFSET, ZERO_SIZE_PTR } from "../../../sim/index.ts";

const MiB = 1 << 20;

function boot(ramBytes = 16 * MiB) {
  return Machine.boot({ ramBytes });
}

function activeIn(m: Machine, name: string): number {
  const s = m.stats() as { slab: { caches: Array<{ name: string; active: number }> } };
  return s.slab.caches.find((c) => c.name === name)!.active;
}

describe("size classes", () => {
  it("maps each request to Linux's kmalloc cache: ksize is the class size", () => {
    const m = boot();
    const cases: Array<[number, number]> = [
      [1, 8],
      [8, 8],
      [9, 16],
      [16, 16],
      [17, 32],
      [32, 32],
      [33, 64],
      [64, 64],
      [65, 96],
      [96, 96],
      [97, 128],
      [100, 128],
      [128, 128],
      [129, 192],
      [192, 192],
      [193, 256],
      [256, 256],
      [257, 512],
      [513, 1024],
      [1025, 2048],
      [2049, 4096],
      [4097, 8192],
      [8192, 8192],
    ];
    for (const [size, want] of cases) {
      const p = m.kernel.kmalloc(size);
      expect(m.kernel.ksize(p), `ksize(kmalloc(${size}))`).toBe(want);
    }
    m.check();
  });

  it("a request lands in the named cache", () => {
    const m = boot();
    m.kernel.kmalloc(65);
    m.kernel.kmalloc(150);
    expect([activeIn(m, "kmalloc-96"), activeIn(m, "kmalloc-192"), activeIn(m, "kmalloc-128")]).toEqual([1, 1, 0]);
  });

  it("power-of-two sizes are aligned to their size, others to 8", () => {
    const m = boot();
    for (const size of [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]) {
      for (let i = 0; i < 3; i++) expect((m.kernel.kmalloc(size) - PAGE_OFFSET) % size, `kmalloc(${size})`).toBe(0);
    }
    const a = m.kernel.kmalloc(96);
    const b = m.kernel.kmalloc(96);
    expect(b - a).toBe(96);
    expect(a % 8).toBe(0);
  });

  it("kmalloc(0) is ZERO_SIZE_PTR; kfree and ksize of NULL and ZERO_SIZE_PTR do nothing", () => {
    const m = boot();
    expect(m.kernel.kmalloc(0)).toBe(ZERO_SIZE_PTR);
    expect(ZERO_SIZE_PTR).toBe(16);
    m.kernel.kfree(0);
    m.kernel.kfree(16);
    expect([m.kernel.ksize(0), m.kernel.ksize(16)]).toEqual([0, 0]);
    expect(m.kernel.reports).toEqual([]);
  });
});

describe("kmalloc-large", () => {
  it("takes whole compound pages: kmalloc(9000) is 16 KiB, page aligned, counted in SUnreclaim", () => {
    const m = boot();
    const p = m.kernel.kmalloc(9000);
    expect((p - PAGE_OFFSET) % 4096).toBe(0);
    expect(m.kernel.ksize(p)).toBe(16384);
    expect(m.kernel.ksize(m.kernel.kmalloc(8193))).toBe(16384);
    expect(m.proc.meminfo()).toMatch(/^SUnreclaim: {11}32 kB$/m);
    m.check();
    m.kernel.kfree(p);
    expect(m.proc.meminfo()).toMatch(/^SUnreclaim: {11}16 kB$/m);
    m.check();
  });

  it("4 MiB is the largest; above it NULL with the page allocator's warning", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const big = m.kernel.kmalloc(4 * MiB);
    expect(big).not.toBe(0);
    expect(m.kernel.ksize(big)).toBe(4 * MiB);
    expect(m.kernel.kmalloc(4 * MiB + 1)).toBe(0);
    expect(m.kernel.reports).toEqual([
      {
        kind: "page_alloc_failure",
        text: "swapper/0: page allocation failure: order:11, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)",
      },
    ]);
    expect(m.kernel.kmalloc(4 * MiB + 1, GFP_KERNEL | __GFP_NOWARN)).toBe(0);
    expect(m.kernel.reports).toHaveLength(1);
    m.kernel.kfree(big);
    m.check();
  });

  it("kfree inside a large block, or of a page not from kmalloc, is reported and frees nothing", () => {
    const m = boot();
    const p = m.kernel.kmalloc(20000);
    m.kernel.kfree(p + 4096);
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.kfree(m.kernel.pfnToKva(pfn));
    m.kernel.kfree(0x1000);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["kfree_invalid", "kfree_invalid", "kfree_invalid"]);
    expect(m.kernel.reports[1]!.text).toBe(
      `WARNING: kfree(0xffff${m.kernel.pfnToKva(pfn).toString(16)}): not a slab object or kmalloc allocation\n` +
        `page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${pfn.toString(16)}\n` +
        "flags: 0x8(alloc)\n" +
        "page dumped because: Not a kmalloc allocation",
    );
    expect(m.kernel.reports[2]!.text).toBe(
      "WARNING: kfree(0x1000): not a slab object or kmalloc allocation\naddress is outside the direct map",
    );
    expect(m.kernel.ksize(p)).toBe(32768);
    m.check();
  });
});

describe("kzalloc and kcalloc", () => {
  it("kzalloc hands back zeroed memory even where a freed object held data", () => {
    const m = boot();
    const p = m.kernel.kmalloc(128);
    m.kernel.mem.fill(p, 0xee, 128);
    m.kernel.kfree(p);
    const q = m.kernel.kzalloc(128);
    expect(q).toBe(p);
    expect(m.kernel.mem.read(q, 128).every((b) => b === 0)).toBe(true);
  });

  it("kcalloc zeroes n * size bytes and returns NULL silently when the product overflows 64 bits", () => {
    const m = boot();
    const p = m.kernel.kcalloc(3, 100);
    expect(m.kernel.ksize(p)).toBe(512);
    expect(m.kernel.mem.read(p, 300).every((b) => b === 0)).toBe(true);
    expect(m.kernel.kcalloc(2 ** 32, 2 ** 32)).toBe(0);
    expect(m.kernel.kcalloc(2 ** 40, 2 ** 30)).toBe(0);
    expect(m.kernel.reports).toEqual([]);
  });
});

describe("krealloc", () => {
  it("krealloc(NULL, n) is kmalloc(n); krealloc(p, 0) frees p and returns ZERO_SIZE_PTR", () => {
    const m = boot();
    const p = m.kernel.krealloc(0, 40);
    expect(m.kernel.ksize(p)).toBe(64);
    expect(m.kernel.krealloc(p, 0)).toBe(16);
    expect(activeIn(m, "kmalloc-64")).toBe(0);
  });

  it("a size that still fits keeps the object; a bigger one moves the contents and frees the old object", () => {
    const m = boot();
    const p = m.kernel.kmalloc(100);
    m.kernel.mem.write(p, new Uint8Array([1, 2, 3, 4, 5]));
    expect(m.kernel.krealloc(p, 128)).toBe(p);
    expect(m.kernel.krealloc(p, 10)).toBe(p);
    const q = m.kernel.krealloc(p, 129);
    expect(q).not.toBe(p);
    expect(m.kernel.ksize(q)).toBe(192);
    expect(Array.from(m.kernel.mem.read(q, 5))).toEqual([1, 2, 3, 4, 5]);
    expect([activeIn(m, "kmalloc-128"), activeIn(m, "kmalloc-192")]).toEqual([0, 1]);
    expect(m.kernel.kmalloc(128)).toBe(p);
    m.check();
  });

  it("on failure returns NULL and leaves the old object alone", () => {
    const m = boot();
    const p = m.kernel.kmalloc(32);
    m.kernel.mem.write32(p, 0xabcd);
    m.faults.failSlab({ nth: 1 });
    expect(m.kernel.krealloc(p, 1000)).toBe(0);
    expect(m.kernel.mem.read32(p)).toBe(0xabcd);
    expect(activeIn(m, "kmalloc-32")).toBe(1);
    expect(m.kernel.ksize(p)).toBe(32);
    m.check();
  });

  it("grows a large block by copying it", () => {
    const m = boot();
    const p = m.kernel.kmalloc(10000);
    m.kernel.mem.write32(p + 9996, 0x12345678);
    expect(m.kernel.krealloc(p, 16000)).toBe(p);
    const q = m.kernel.krealloc(p, 40000);
    expect(q).not.toBe(p);
    expect(m.kernel.mem.read32(q + 9996)).toBe(0x12345678);
    expect(m.kernel.ksize(q)).toBe(65536);
    m.check();
  });
});

describe("bad frees never corrupt the allocator", () => {
  it("a pointer into the middle of an object is reported as an invalid object pointer", () => {
    const m = boot();
    const p = m.kernel.kmalloc(64);
    m.kernel.kfree(p + 8);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_invalid_pointer"]);
    const text = m.kernel.reports[0]!.text.split("\n");
    expect(text.slice(0, 4)).toEqual([
      "=============================================================================",
      `BUG kmalloc-64 (Not tainted): Invalid object pointer 0xffff${(p + 8).toString(16)}`,
      "-----------------------------------------------------------------------------",
      "",
    ]);
    expect(text[4]).toMatch(/^INFO: Slab 0xffff888[0-9a-f]{9} objects=64 used=1 fp=0xffff[0-9a-f]{12} flags=0x[0-9a-f]+\(alloc\|slab\)$/);
    expect(text[5]).toBe(`FIX kmalloc-64: Object at 0xffff${(p + 8).toString(16)} not freed`);
    expect(activeIn(m, "kmalloc-64")).toBe(1);
    m.check();
  });

  it("a double free is reported as 'Object already free' and ignored, without any debug flag", () => {
    const m = boot();
    const p = m.kernel.kmalloc(64);
    const q = m.kernel.kmalloc(64);
    m.kernel.kfree(p);
    m.kernel.kfree(p);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_double_free"]);
    expect(m.kernel.reports[0]!.text).toMatch(/^={77}\nBUG kmalloc-64 \(Not tainted\): Object already free\n-{77}\n\n/);
    expect(m.kernel.reports[0]!.text).toMatch(/\nFIX kmalloc-64: Object at 0xffff[0-9a-f]{12} not freed$/);
    m.check();
    expect(m.kernel.kmalloc(64)).toBe(p);
    expect(m.kernel.kmalloc(64)).not.toBe(q);
    m.check();
  });

  it("kmem_cache_free with the wrong cache warns and frees to the object's own cache", () => {
    const m = boot();
    const a = m.kernel.kmemCacheCreate("cache_a", 64)!;
    const b = m.kernel.kmemCacheCreate("cache_b", 64)!;
    const p = a.alloc();
    b.free(p);
    expect(m.kernel.reports).toEqual([
      {
        kind: "slab_wrong_cache",
        text: `WARNING: kmem_cache_free: Wrong slab cache. cache_b but object is from cache_a (object 0xffff${p.toString(16)})`,
      },
    ]);
    expect(a.alloc()).toBe(p);
    m.check();
  });
});

describe("the CPU slab fast paths", () => {
  it("every request size from 1 to 8192 gets the class ksize names, the same from the fast path and the slow one", () => {
    const m = boot();
    const classOf = (n: number) => [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192].find((c) => c >= n);
    for (let n = 1; n <= 8192; n++) {
      const p = m.kernel.kmalloc(n);
      expect(m.kernel.ksize(p)).toBe(classOf(n));
      m.kernel.kfree(p);
    }
    expect(m.kernel.reports).toEqual([]);
    m.check();
  });

  it("a pointer into the middle of an object of a stride that is no power of two (kmalloc-96) is reported, not freed", () => {
    const m = boot();
    const p = m.kernel.kmalloc(96);
    const q = m.kernel.kmalloc(96);
    m.kernel.kfree(q + 32);
    m.kernel.kfree(p + 64);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["slab_invalid_pointer", "slab_invalid_pointer"]);
    expect(activeIn(m, "kmalloc-96")).toBe(2);
    m.kernel.kfree(q);
    m.kernel.kfree(p);
    expect(activeIn(m, "kmalloc-96")).toBe(0);
    expect(m.kernel.kmalloc(96)).toBe(p);
    m.check();
  });

  it("a fractional size takes no size class: reported as invalid and NULL", () => {
    const m = boot();
    expect(m.kernel.kmalloc(64.5)).toBe(0);
    expect(m.kernel.reports.map((r) => r.kind)).toEqual(["kmalloc_invalid_size"]);
    m.check();
  });

  it("only an integer size 1..8192 takes a size class: the fast path's one test, at its edges", () => {
    const m = boot();
    const k = m.kernel;
    for (const size of [0.5, 8192.5, Number.NaN, -1, -8191]) expect(k.kmalloc(size)).toBe(0);
    expect(k.reports.map((r) => r.kind)).toEqual(Array(5).fill("kmalloc_invalid_size"));
    expect(k.kmalloc(2 ** 32 + 64, 0xcc0 | 0x2000)).toBe(0); // __GFP_NOWARN; no size class though (2^32 + 64) - 1 & 8191 is 63: past the largest block
    expect(k.kmalloc(0)).toBe(16);
    const one = k.kmalloc(1);
    const top = k.kmalloc(8192);
    const large = k.kmalloc(8193);
    expect(k.kmemCaches.cacheOf(one)?.name).toBe("kmalloc-8");
    expect(k.kmemCaches.cacheOf(top)?.name).toBe("kmalloc-8k");
    expect(k.kmemCaches.cacheOf(large)).toBeNull();
    for (const p of [one, top, large]) k.kfree(p);
    m.check();
  });

  it("a cache made with the id of a destroyed one starts from zero fast-path counts and its own freelist key", () => {
    const m = boot();
    const a = m.kernel.kmemCacheCreate("first", 40)!;
    a.free(a.alloc());
    expect(a.allocFastpath + a.freeFastpath).toBeGreaterThan(0);
    expect(m.kernel.kmemCacheDestroy(a)).toBe(true);
    const b = m.kernel.kmemCacheCreate("second", 72)!;
    expect(b.id).toBe(a.id);
    expect([b.allocFastpath, b.freeFastpath]).toEqual([0, 0]);
    const x = b.alloc();
    const y = b.alloc();
    b.free(x);
    b.free(y);
    expect([b.allocFastpath, b.freeFastpath]).toEqual([1, 2]);
    expect(b.alloc()).toBe(y);
    expect(b.alloc()).toBe(x);
    expect(m.kernel.reports).toEqual([]);
    m.check();
  });
});

describe("kmalloc types", () => {
  it("GFP_DMA objects come from dma-kmalloc caches in ZONE_DMA", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const p = m.kernel.kmalloc(100, GFP_KERNEL | GFP_DMA);
    expect(p - PAGE_OFFSET).toBeLessThan(16 * MiB);
    expect(activeIn(m, "dma-kmalloc-128")).toBe(1);
    m.kernel.kfree(p);
    m.check();
  });

  it("__GFP_RECLAIMABLE objects come from kmalloc-rcl caches and count as SReclaimable", () => {
    const m = boot();
    m.kernel.kmalloc(32, GFP_KERNEL | __GFP_RECLAIMABLE);
    expect(activeIn(m, "kmalloc-rcl-32")).toBe(1);
    expect(m.proc.meminfo()).toMatch(/^SReclaimable: {10}4 kB$/m);
  });
});
