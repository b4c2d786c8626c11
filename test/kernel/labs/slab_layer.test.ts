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
    expect(made).toEqual(["vmap_area", "vm_area_struct"]);
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
});
