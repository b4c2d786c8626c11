/**
 * layers.slab (kernel/mm/slab_layer.ts): memsim's SLUB behind the same
 * interface a lab's allocator implements, the kernel's own caches made
 * through it, and the kernel's verdicts on a layer that misplaces objects,
 * frees a slab under a live object or miscounts.
 */
import { describe, expect, it } from "vitest";
import { LayerFault, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, type SlabCaches, type SlabLayer } from "../../../sim/index.ts";
import { slab as aos } from "../../../sim/lab/slab/solution.ts";

/** `inner` with `patch` applied to the caches it makes (alloc) or to the layer itself. */
function patched(patch: (boot: Parameters<SlabLayer>[0], inner: SlabCaches) => Partial<SlabCaches>): SlabLayer {
  return (boot) => {
    const inner = aos(boot);
    return Object.assign(Object.create(inner), patch(boot, inner)) as SlabCaches;
  };
}

describe("layers.slab", () => {
  it("defaults to SLUB behind the interface: exact slabinfo counts of a 100-byte cache", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1 });
    const caches = m.kernel.kmemCaches;
    expect(caches.name).toBe("slub");
    const c = caches.create("t100", 100)!;
    const objs = Array.from({ length: 50 }, () => c.alloc());
    // SLUB: 100 bytes round to a 104-byte stride, floor(4096 / 104) = 39 per order-0 slab; 50 objects need 2.
    expect(caches.info(c)).toEqual({
      name: "t100",
      activeObjs: 50,
      numObjs: 78,
      objSize: 104,
      objPerSlab: 39,
      pagesPerSlab: 1,
      activeSlabs: 2,
      numSlabs: 2,
    });
    expect(caches.destroy(c)).toBe(false);
    for (const o of objs) c.free(o);
    expect(caches.destroy(c)).toBe(true);
    m.check();
  });

  it("makes the kernel's vmap_area and vm_area_struct caches through a lab's layer", () => {
    const made: string[] = [];
    const m = Machine.boot({
      ramBytes: 8 << 20,
      seed: 1,
      layers: {
        slab: patched((_b, inner) => ({
          create: (name, size, o) => {
            made.push(name);
            return inner.create(name, size, o);
          },
        })),
      },
    });
    // kmalloc's 39 size classes first (13 sizes each of kmalloc-, kmalloc-rcl-, dma-kmalloc-), then the two caches of the kernel.
    const sizes = ["8", "16", "32", "64", "96", "128", "192", "256", "512", "1k", "2k", "4k", "8k"];
    const kmalloc = ["kmalloc-", "kmalloc-rcl-", "dma-kmalloc-"].flatMap((p) => sizes.map((s) => p + s));
    expect(made).toEqual([...kmalloc, "vmap_area", "vm_area_struct"]);
    const p = m.spawn("p");
    p.sys.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    p.exit(0);
    m.check();
  });

  it("stops a layer whose object lies outside every frame it took", () => {
    const bad = patched((boot, inner) => ({
      create: (name, size, o) => {
        const c = inner.create(name, size, o)!;
        // Frame 3 is the kernel's (memblock), never one the layer took.
        return name === "t" ? { name, alloc: () => boot.pfnToKva(3), free: (kva) => c.free(kva) } : c;
      },
    }));
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: bad } });
    const c = m.kernel.kmemCaches.create("t", 64)!;
    let err: unknown = null;
    try {
      c.alloc();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LayerFault);
    expect((err as LayerFault).message).toBe(
      "slab layer: 'aos' alloc(t) returned ffff888000003000, which is in no frame the layer took from allocPages",
    );
  });

  it("stops a layer that frees a slab under a live object", () => {
    const taken: number[] = [];
    const rogue: SlabLayer = (boot) => {
      const inner = aos({
        ...boot,
        allocPages: (order) => {
          const pfn = boot.allocPages(order);
          taken.push(pfn);
          return pfn;
        },
      });
      const shrink = () => {
        boot.freePages(taken.at(-1)!, 0);
        return 1;
      };
      return Object.assign(Object.create(inner), { shrink }) as SlabCaches;
    };
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: rogue } });
    const c = m.kernel.kmemCaches.create("t", 64)!;
    const kva = c.alloc();
    expect(() => m.kernel.kmemCaches.shrink(c)).toThrow(
      `slab layer: 'aos' freed frame 0x${taken.at(-1)!.toString(16)} while t's object ffff${kva.toString(16)} in it is live`,
    );
  });

  it("counts a layer whose info disagrees with the objects it handed out (SLABL-2; the boot caches hold none yet)", () => {
    const lying = patched((_b, inner) => ({ info: (c) => ({ ...inner.info(c), activeObjs: 0 }) }));
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: lying } });
    m.check();
    const c = m.kernel.kmemCaches.create("t", 64)!;
    for (let i = 0; i < 3; i++) c.alloc();
    expect(() => m.check()).toThrow("SLABL-2: slab layer 'aos': t says 0 active objects, the kernel holds 3");
  });

  for (const [layer, slab] of [
    ["SLUB", undefined],
    ["a lab's layer", aos],
  ] as const)
    it(`names each cache by a fixed handle and frees its objects through freeObject on ${layer}`, () => {
      const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, ...(slab ? { layers: { slab } } : {}) });
      const caches = m.kernel.kmemCaches;
      const c = caches.create("t64", 64)!;
      const h = caches.handle(c);
      expect(h).toBe(caches.handle(c));
      const a = c.alloc(0xcc0);
      const b = c.alloc(0xcc0);
      expect(caches.cacheOf(a)).toBe(c);
      expect(caches.cacheOf(b)).toBe(c);
      expect(caches.info(c).activeObjs).toBe(2);
      expect(caches.freeObject(b)).toBe(true);
      expect(caches.info(c).activeObjs).toBe(1);
      // Both allocators hand the object freed last out first (SLUB: the CPU slab's freelist head; the reference: its list head).
      expect(c.alloc(0xcc0)).toBe(b);
      expect(caches.freeObject(b)).toBe(true);
      expect(caches.freeObject(a)).toBe(true);
      expect(caches.info(c).activeObjs).toBe(0);
      // In no slab: NULL, and a kmalloc-large block (16 KiB, its own pages); nothing is freed.
      const large = m.kernel.kmalloc(16384);
      expect(caches.freeObject(0)).toBe(false);
      expect(caches.freeObject(large)).toBe(false);
      m.kernel.kfree(large);
      expect(caches.destroy(c)).toBe(true);
      m.check();
    });

  it("gives kmalloc's fast paths on offsets from the direct map: SLUB's pop and push the CPU slab, a lab's layer declines", () => {
    const PAGE_OFFSET = 0x888000000000;
    const slub = Machine.boot({ ramBytes: 8 << 20, seed: 1 }).kernel.kmemCaches;
    const c = slub.create("t64", 64)!;
    const h = slub.handle(c);
    const a = c.alloc(0xcc0); // the slow path makes a CPU slab
    const b = slub.allocFast(h, 0xcc0);
    expect(b).toBeGreaterThan(0);
    expect(slub.cacheOf(PAGE_OFFSET + b)).toBe(c);
    expect(slub.info(c).activeObjs).toBe(2);
    expect(slub.allocFast(h, 0xcc0 | 0x100)).toBe(0); // __GFP_ZERO is the cache's alloc's
    expect(slub.freeFast(b)).toBe(true);
    expect(slub.freeFast(b)).toBe(false); // already free: declined, the full free reports it
    expect(slub.freeFast(b + 8)).toBe(false); // no object start
    expect(slub.freeFast(8 << 20)).toBe(false); // past RAM
    expect(slub.info(c).activeObjs).toBe(1);
    expect(slub.allocFast(h, 0xcc0)).toBe(b);
    expect(slub.freeObject(PAGE_OFFSET + b)).toBe(true);
    expect(slub.freeObject(a)).toBe(true);
    expect(slub.info(c).activeObjs).toBe(0);

    const lab = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: aos } });
    const lc = lab.kernel.kmemCaches.create("t64", 64)!;
    const lh = lab.kernel.kmemCaches.handle(lc);
    const la = lc.alloc(0xcc0);
    expect(lab.kernel.kmemCaches.allocFast(lh, 0xcc0)).toBe(0);
    expect(lab.kernel.kmemCaches.freeFast(la - PAGE_OFFSET)).toBe(false);
    expect(lab.kernel.kmemCaches.info(lc).activeObjs).toBe(1);
    expect(lab.kernel.kmemCaches.freeObject(la)).toBe(true);
    lab.check();
  });

  it("serves every kmalloc from a lab's layer: the reference's kmalloc-128 counts, the events, kzalloc, krealloc and kfree", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: aos } });
    const k = m.kernel;
    const events: string[] = [];
    m.events.on("kmalloc", (e) => events.push(`kmalloc ${e.bytes_req} ${e.bytes_alloc}`));
    m.events.on("kfree", () => events.push("kfree"));
    const c = k.kmallocCaches.cacheFor(100)!;
    const objs = Array.from({ length: 40 }, () => k.kmalloc(100));
    // The reference aligns kmalloc-128 to 128: stride 128, 4096 / 128 = 32 per page; 40 objects take 2 slabs, 64 objects.
    expect(k.kmemCaches.info(c)).toEqual({
      name: "kmalloc-128",
      activeObjs: 40,
      numObjs: 64,
      objSize: 128,
      objPerSlab: 32,
      pagesPerSlab: 1,
      activeSlabs: 2,
      numSlabs: 2,
    });
    expect(k.kmemCaches.cacheOf(objs[0]!)).toBe(c);
    expect(k.ksize(objs[0]!)).toBe(128);
    // SLUB made no kmalloc cache: the layer's are the only ones.
    expect(k.slab.findCache("kmalloc-128")).toBeNull();
    // The last object freed is the first the reference hands out again; the kernel zeroes it for kzalloc.
    const last = objs.pop()!;
    k.mem.fill(last, 0xff, 128);
    k.kfree(last);
    const z = k.kzalloc(100);
    expect([z === last, k.mem.read32(z), k.mem.read32(z + 124)]).toEqual([true, 0, 0]);
    // krealloc past 128 bytes moves the object to kmalloc-256 with its bytes.
    k.mem.write32(z, 0x12345678);
    const r = k.krealloc(z, 200);
    expect([k.kmemCaches.cacheOf(r)?.name, k.mem.read32(r), k.kmemCaches.info(c).activeObjs]).toEqual(["kmalloc-256", 0x12345678, 39]);
    // Above kmalloc-8k the pages are kmalloc_large's, no cache's.
    const big = k.kmalloc(9000);
    expect([k.kmemCaches.cacheOf(big), k.ksize(big)]).toEqual([null, 16384]);
    for (const o of [...objs, r, big]) k.kfree(o);
    expect(k.kmemCaches.info(c).activeObjs).toBe(0);
    // 40 + kzalloc + krealloc's + 9000's kmalloc events; each kfree one event (krealloc's own included).
    expect(events.filter((e) => e === "kmalloc 100 128").length).toBe(41);
    expect(events.filter((e) => e.startsWith("kmalloc")).length).toBe(43);
    expect(events.filter((e) => e === "kfree").length).toBe(43);
    expect(m.proc.slabinfo()).toContain("kmalloc-128            0     64    128   32    1");
    m.check();
  });

  it("keeps allocation sites and kmemleak working on a lab's layer: the unreferenced kmalloc object is reported", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: aos }, allocSites: { scope: "kernel" } });
    const k = m.kernel;
    const a = k.kmalloc(100, 0, "leaky_probe");
    const b = k.kmalloc(64, 0, "held_by_a");
    // a holds b's address (two 32-bit halves): b is referenced, nothing points to a.
    k.mem.write32(a, b % 2 ** 32);
    k.mem.write32(a + 4, Math.floor(b / 2 ** 32));
    const sites = m.allocSites.sites.filter((s) => s.fn === "kmalloc").map((s) => s.site);
    expect(sites).toEqual(["leaky_probe", "held_by_a"]);
    const text = m.proc.kmemleak();
    expect(text).toContain(`unreferenced object 0xffff${a.toString(16)} (size 100)`);
    expect(text).toContain("backtrace:\n    leaky_probe\n");
    expect(text).not.toContain("held_by_a");
    // kfree(a): the reference's free list overwrites a's first word, so b is unreferenced now.
    k.kfree(a);
    expect(m.proc.kmemleak()).toContain("backtrace:\n    held_by_a\n");
    m.check();
  });

  it("injects failslab around a lab's layer: the kmalloc it hits is NULL and the layer never sees it", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, layers: { slab: aos } });
    m.faults.failSlab({ nth: 2 });
    const got = [m.kernel.kmalloc(64), m.kernel.kmalloc(64), m.kernel.kmalloc(64)];
    expect(got.map((kva) => kva !== 0)).toEqual([true, false, true]);
    expect(m.kernel.kmemCaches.info(m.kernel.kmallocCaches.cacheFor(64)!).activeObjs).toBe(2);
    m.check();
  });
});
