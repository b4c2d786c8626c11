/**
 * memsim's buddy allocator as a frames layer: booted explicitly as
 * `layers.frames: buddyFrames` it is the default machine, and the checks
 * FramePages makes on every layer's answers hold for it and for a student's
 * wrapper of it.
 */
import { describe, expect, it } from "vitest";
import {
  BuddyAllocator,
  buddyFrames,
  type FrameAllocator,
  type FramesLayer,
  GFP_DMA,
  GFP_KERNEL,
  LayerFault,
  Machine,
  xv6Frames,
} from "../../../sim/index.ts";

/** One story over the page allocator and a process; returns every pfn it was handed and what /proc shows. */
function story(m: Machine): { pfns: number[]; buddyinfo: string; meminfo: string; vmstat: string; stats: unknown } {
  const k = m.kernel;
  const pfns: number[] = [];
  const take = (order: number, gfp = GFP_KERNEL): number => {
    const pfn = k.allocPages(order, gfp);
    if (pfn === null) throw new Error(`order ${order} failed`);
    pfns.push(pfn);
    return pfn;
  };
  const a = take(0);
  const b = take(3);
  const c = take(5, GFP_DMA);
  const d = take(10);
  k.freePages(b, 3);
  const e = take(1);
  const p = m.spawn("story");
  const heap = p.libc.malloc(200_000);
  p.mem.write32(heap, 7);
  const child = p.fork();
  if (child === null) throw new Error("fork failed");
  child.mem.write32(heap, 9);
  child.exit(0);
  for (const [pfn, order] of [
    [a, 0],
    [c, 5],
    [d, 10],
    [e, 1],
  ] as const)
    k.freePages(pfn, order);
  pfns.push(take(2), take(0));
  m.check();
  return { pfns, buddyinfo: m.proc.buddyinfo(), meminfo: m.proc.meminfo(), vmstat: m.proc.vmstat(), stats: m.stats() };
}

describe("layers.frames: buddyFrames is the default machine", () => {
  it("the same story hands out the same pfns and shows the same buddyinfo, meminfo, vmstat and stats", () => {
    const byDefault = Machine.boot({ ramBytes: 32 << 20, seed: 3 });
    const explicit = Machine.boot({ ramBytes: 32 << 20, seed: 3, layers: { frames: buddyFrames } });
    expect(explicit.kernel.framesName).toBe("buddy");
    expect(explicit.kernel.hasBuddy()).toBe(true);
    expect(explicit.kernel.buddy).toBeInstanceOf(BuddyAllocator);
    const want = story(byDefault);
    const got = story(explicit);
    expect(got).toEqual(want);
    // Unmovable requests take the largest Movable block and claim its page blocks (the fallback), so the order-5 DMA
    // request comes from the top order-10 DMA block (0xc00) and the free pages stay in fewer, larger blocks. The last
    // GFP_KERNEL order-0 request pops a page from the Unmovable per-CPU list (a, freed there) instead of splitting a
    // buddy block, so the Normal zone keeps order-0 and order-1 blocks (1 + 2 pages) where a split left 2 + 0.
    expect(want.pfns.slice(0, 6)).toEqual([0x1c00, 0x1c08, 0xc00, 0x1800, 0x1c02, 0x1c1c]);
    expect(want.buddyinfo).toBe(
      "Node 0, zone      DMA      1      1      1      1      0      1      1      0      1      1      3 \n" +
        "Node 0, zone   Normal      1      1      1      1      1      2      2      2      2      2      2 \n",
    );
  });

  it("m.check('buddy') and m.check('frames') run the same checker: the buddy's recount, then FRAMES-1", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    expect(m.kernel.checkers.map((c) => c.name)).toEqual([
      "buddy",
      "pgtable",
      "tlb",
      "slab",
      "vmalloc",
      "lru",
      "mm",
      "mlock",
      "thp",
      "hugetlb",
      "memcg",
      "fs",
      "pagecache",
    ]);
    m.check("buddy");
    m.check("frames");
  });
});

/** A student's wrapper of memsim's buddy that can be told to misbehave; it forwards the buddy's capabilities. */
function wrapped(name: string, mode: "twice" | "none"): FramesLayer {
  return (boot) => {
    const inner = buddyFrames(boot);
    let last = -1;
    let armed = false;
    const layer: FrameAllocator & { arm(): void } = {
      name,
      maxOrder: inner.maxOrder,
      allocPages(order, gfp) {
        if (armed && mode === "twice" && last >= 0) return last;
        last = inner.allocPages(order, gfp);
        return last;
      },
      freePages: (pfn, order) => inner.freePages(pfn, order),
      nrFreePages: () => inner.nrFreePages(),
      nrManagedPages: () => inner.nrManagedPages(),
      check: () => inner.check(),
      nrPcpPages: () => inner.nrPcpPages(),
      drainPcp: () => inner.drainPcp(),
      zones: inner.zones,
      arm: () => {
        armed = true;
      },
    };
    armedLayers.set(name, layer);
    return layer;
  };
}
const armedLayers = new Map<string, { arm(): void }>();

describe("a student's wrapper of the buddy goes through the same checks", () => {
  it("a wrapper that forwards every capability runs the story like the buddy itself; it is not m.kernel.buddy", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, seed: 3, layers: { frames: wrapped("my-buddy", "none") } });
    const want = story(Machine.boot({ ramBytes: 32 << 20, seed: 3 }));
    const got = story(m);
    expect(got.pfns).toEqual(want.pfns);
    expect(got.buddyinfo).toBe(want.buddyinfo);
    expect(got.meminfo).toBe(want.meminfo);
    expect(m.kernel.hasBuddy()).toBe(false);
    expect(() => m.kernel.buddy).toThrow("this machine's frame allocator is 'my-buddy', not the buddy allocator");
  });

  it("returning a pfn twice is a LayerFault naming the wrapper and the frame", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { frames: wrapped("buddy-twice", "twice") } });
    const first = m.kernel.allocPages(0);
    if (first === null) throw new Error("no frame");
    armedLayers.get("buddy-twice")?.arm();
    let thrown: unknown;
    try {
      m.kernel.allocPages(0);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LayerFault);
    expect((thrown as LayerFault).layer).toBe("frames");
    const hex = first.toString(16);
    expect((thrown as Error).message).toBe(
      `frames layer: 'buddy-twice' allocPages(0) returned pfn 0x${hex}, but frame 0x${hex} is already allocated`,
    );
  });

  it("a wrapper that drops the per-CPU count is caught by FRAMES-1 with the counts", () => {
    let inner: BuddyAllocator | null = null;
    const lossy: FramesLayer = (boot) => {
      const b = buddyFrames(boot);
      inner = b;
      return {
        name: "no-pcp",
        maxOrder: inner.maxOrder,
        allocPages: (order, gfp) => b.allocPages(order, gfp),
        freePages: (pfn, order) => b.freePages(pfn, order),
        nrFreePages: () => b.nrFreePages(),
        nrManagedPages: () => b.nrManagedPages(),
        check: () => b.check(),
      };
    };
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { frames: lossy } });
    const pfn = m.kernel.allocPages(0);
    if (pfn === null) throw new Error("no frame");
    m.kernel.freePages(pfn, 0); // onto the per-CPU list
    const pcp = (inner as BuddyAllocator | null)?.nrPcpPages() ?? 0;
    expect(pcp).toBeGreaterThan(0);
    expect(() => m.check("frames")).toThrow(`FRAMES-1: frames layer 'no-pcp': ${pcp} frame(s) neither allocated nor free`);
  });
});

/** xv6 underneath; when armed, the next order-1 request is answered with `pfn` (a run whose second frame is allocated). */
function overlapping(): { layer: FramesLayer; answer(pfn: number): void } {
  let next = -1;
  return {
    layer: (boot) => {
      const inner = xv6Frames(boot);
      return {
        name: "overlap",
        maxOrder: 1,
        allocPages(order, gfp) {
          if (order === 1 && next >= 0) return next;
          return order === 0 ? inner.allocPages(0, gfp) : -1;
        },
        freePages: (pfn, order) => inner.freePages(pfn, order),
        nrFreePages: () => inner.nrFreePages(),
        nrManagedPages: () => inner.nrManagedPages(),
        check: () => inner.check(),
      };
    },
    answer: (pfn) => {
      next = pfn;
    },
  };
}

/** Allocates order-0 frames until one is odd with a free (all-zero record) frame below it; returns that odd pfn. */
function oddWithFreeNeighbour(m: Machine): number {
  for (;;) {
    const pfn = m.kernel.allocPages(0);
    if (pfn === null) throw new Error("ran out");
    if (pfn % 2 === 1 && m.kernel.memmap.word0(pfn - 1) === 0) return pfn;
  }
}

describe("how much of an answer is checked depends on debugVm, the same for every layer", () => {
  it("from debugVm 2 every frame of the run: a run over an allocated frame is a LayerFault naming it", () => {
    const o = overlapping();
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 2, layers: { frames: o.layer } });
    const odd = oddWithFreeNeighbour(m);
    o.answer(odd - 1);
    expect(() => m.kernel.allocPages(1)).toThrow(
      `frames layer: 'overlap' allocPages(1) returned pfn 0x${(odd - 1).toString(16)}, but frame 0x${odd.toString(16)} is already allocated`,
    );
  });

  it("below debugVm 2 only the head frame's record is read (O(1)): the same answer is accepted", () => {
    const o = overlapping();
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 1, layers: { frames: o.layer } });
    const odd = oddWithFreeNeighbour(m);
    o.answer(odd - 1);
    expect(m.kernel.allocPages(1)).toBe(odd - 1);
  });
});
