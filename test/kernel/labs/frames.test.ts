/**
 * The lab frame allocators (xv6 kalloc, Pintos palloc) on their own and
 * behind a whole machine, and the kernel's verdicts on broken ones.
 */
import { describe, expect, it } from "vitest";
import { MemMap } from "../../../kernel/mm/memmap.ts";
import { flatNuma, NumaTopology } from "../../../kernel/mm/numa.ts";
import { PhysMem } from "../../../kernel/mm/physmem.ts";
import {
  bitmapFrames,
  ConfigError,
  type FrameAllocator,
  type FramesBoot,
  InvariantViolation,
  LayerFault,
  Machine,
  xv6Frames,
} from "../../../sim/index.ts";

/** A 1 MiB RAM with frames [10, 256) free; `reserved` collects what the allocator reserves. */
function smallBoot(reserved: number[] = []): FramesBoot {
  const ram = new PhysMem(1 << 20);
  return {
    ram,
    ranges: [{ start: 10, end: 256 }],
    maxOrder: 10,
    memmap: new MemMap(ram.buffer, 1, 256),
    options: { debugVm: 1, pagePoison: false, pcpBatch: 0 },
    reserve: (pfn, count) => {
      for (let p = pfn; p < pfn + count; p++) reserved.push(p);
    },
    nrCpus: 1,
    numa: new NumaTopology(flatNuma(ram.nrPages * 4096, 1), 1),
    thisCpu: () => 0,
    acquire: () => {},
  };
}

describe("xv6 kalloc", () => {
  it("hands out the last freed frame first, one frame at a time", () => {
    const a = xv6Frames(smallBoot());
    expect(a.maxOrder).toBe(0);
    expect(a.nrManagedPages()).toBe(246);
    expect(a.allocPages(0, 0)).toBe(255);
    expect(a.allocPages(0, 0)).toBe(254);
    a.freePages(255, 0);
    expect(a.allocPages(0, 0)).toBe(255);
    expect(a.nrFreePages()).toBe(244);
    a.check();
  });

  it("refuses any order above 0 and an empty list with -1", () => {
    const a = xv6Frames(smallBoot());
    expect(a.allocPages(1, 0)).toBe(-1);
    for (let i = 0; i < 246; i++) expect(a.allocPages(0, 0)).toBe(255 - i);
    expect(a.allocPages(0, 0)).toBe(-1);
    expect(a.nrFreePages()).toBe(0);
  });

  it("its checker finds a link that leaves the free ranges (KALLOC-1)", () => {
    const boot = smallBoot();
    const a = xv6Frames(boot);
    boot.ram.write32(255 * 4096, 3 + 1);
    expect(() => a.check()).toThrow(/KALLOC-1: free list links to pfn 3/);
  });
});

describe("Pintos palloc (bitmap)", () => {
  it("keeps its bitmap in the first free frame and allocates first fit, aligned to the order", () => {
    const reserved: number[] = [];
    const a = bitmapFrames(smallBoot(reserved));
    expect(reserved).toEqual([10]);
    expect(a.nrManagedPages()).toBe(245);
    expect(a.allocPages(0, 0)).toBe(11);
    expect(a.allocPages(2, 0)).toBe(12);
    expect(a.allocPages(0, 0)).toBe(16);
    expect(a.allocPages(3, 0)).toBe(24);
    a.freePages(11, 0);
    expect(a.allocPages(0, 0)).toBe(11);
    expect(a.allocPages(6, 0)).toBe(64);
    expect(a.nrFreePages()).toBe(245 - 1 - 4 - 1 - 8 - 64);
    a.check();
  });

  it("its checker finds a bit flipped behind its back (PALLOC-1)", () => {
    const boot = smallBoot();
    const a = bitmapFrames(boot);
    boot.ram.write32(10 * 4096, boot.ram.read32(10 * 4096) | (1 << 20));
    expect(() => a.check()).toThrow(/PALLOC-1: bitmap has 244 free frames, count says 245/);
  });
});

describe("a machine on a lab frame allocator", () => {
  it("xv6: boots, counts MemTotal without the boot frames, and a kmalloc above a page fails cleanly", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, layers: { frames: xv6Frames } });
    // 8192 frames minus frame 0, the 16-frame image and 128 frames of mem_map.
    expect(m.kernel.pages.nrManagedPages()).toBe(8047);
    expect(m.proc.meminfo()).toMatch(/^MemTotal: +32188 kB$/m);
    expect(m.kernel.kmalloc(4096)).not.toBe(0);
    expect(m.kernel.kmalloc(8192)).toBe(0);
    expect(m.kernel.reports.some((r) => r.text.includes("page allocation failure: order:1"))).toBe(true);
    expect(() => m.proc.buddyinfo()).toThrow("this machine's frame allocator is 'xv6', not the buddy allocator");
    m.check();
  });

  it("bitmap: a process forks, writes copy-on-write and exits; every frame comes back", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 2, layers: { frames: bitmapFrames } });
    const free = m.kernel.pages.nrFreePages();
    const p = m.spawn("a");
    const a = p.libc.malloc(100_000);
    p.mem.write32(a, 5);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.mem.write32(a, 7);
    expect([p.mem.read32(a), c.mem.read32(a)]).toEqual([5, 7]);
    c.exit(0);
    p.exit(0);
    m.kernel.dropCaches();
    m.check();
    expect(m.kernel.pages.nrFreePages()).toBeGreaterThan(free - 8);
  });

  it("an unknown layer name is a ConfigError", () => {
    expect(() => Machine.boot({ layers: { frame: xv6Frames } as never })).toThrow(ConfigError);
  });
});

/** An allocator over xv6's that can be told to misbehave. */
function faulty(mode: "double" | "leak" | "throw" | "half"): (b: FramesBoot) => FrameAllocator {
  return (boot) => {
    const inner = xv6Frames(boot);
    let last = -1;
    return {
      name: `faulty-${mode}`,
      maxOrder: 0,
      allocPages(order, gfp) {
        if (mode === "double" && last >= 0) return last;
        last = inner.allocPages(order, gfp);
        return mode === "half" ? last - 0.5 : last;
      },
      freePages(pfn, order) {
        if (mode === "throw") throw new Error("oops");
        if (mode !== "leak") inner.freePages(pfn, order);
      },
      nrFreePages: () => inner.nrFreePages(),
      nrManagedPages: () => inner.nrManagedPages(),
      check: () => inner.check(),
    };
  };
}

describe("a broken frames layer is named, never a corrupt kernel", () => {
  it("handing out a frame twice is a LayerFault naming the layer and the frame", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, layers: { frames: faulty("double") } });
    let thrown: unknown;
    try {
      m.kernel.allocPages(0);
      m.kernel.allocPages(0);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LayerFault);
    expect((thrown as LayerFault).layer).toBe("frames");
    expect((thrown as Error).message).toMatch(
      /^frames layer: 'faulty-double' allocPages\(0\) returned pfn 0x[0-9a-f]+, but frame 0x[0-9a-f]+ is already allocated$/,
    );
  });

  it("a frame the layer loses on free is found by the frames checker (FRAMES-1)", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, layers: { frames: faulty("leak") } });
    const pfn = m.kernel.allocPages(0);
    if (pfn === null) throw new Error("no frame");
    m.kernel.freePages(pfn, 0);
    expect(() => m.check("frames")).toThrow(InvariantViolation);
    expect(() => m.check("frames")).toThrow(/FRAMES-1: frames layer 'faulty-leak': 1 frame\(s\) neither allocated nor free/);
  });

  it("a layer that throws is a LayerFault with the cause attached", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, layers: { frames: faulty("throw") } });
    const pfn = m.kernel.allocPages(0);
    if (pfn === null) throw new Error("no frame");
    expect(() => m.kernel.freePages(pfn, 0)).toThrow("frames layer: 'faulty-throw' freePages(");
  });

  it("an answer that is not an integer is a LayerFault, even where 16 * pfn lands on a record", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, layers: { frames: faulty("half") } });
    expect(() => m.kernel.allocPages(0)).toThrow(
      /^frames layer: 'faulty-half' allocPages\(0\) returned \d+\.5, not a pfn of this machine or -1$/,
    );
  });
});
