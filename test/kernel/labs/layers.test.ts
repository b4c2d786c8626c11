/**
 * The process-side lab layers (kernel/LAYERS.md): layers.pageFault with a
 * student's lazy-allocation handler, layers.forkCopy with the eager
 * uvmcopy, and the kernel's verdicts on wrong versions of both.
 */
import { describe, expect, it } from "vitest";
import {
  LayerFault,
  type Layers,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  type PageFaultLayer,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
  uvmcopy,
} from "../../../sim/index.ts";
import {
  cowChildWritable,
  cowForgetsRefcount,
  lazyAlloc,
  lazyForgetsToMap,
  lazyMapsFreedFrame,
  lazyWrongFrame,
} from "../../support/student_layers.ts";

/** MemFree in kB, with the per-CPU lists drained (their order depends on the order of frees). */
function memFree(m: Machine): number {
  m.kernel.pages.drainPcp();
  return Number(/^MemFree: +(\d+) kB$/m.exec(m.proc.meminfo())?.[1]);
}

describe("layers.pageFault", () => {
  it("a lazy-allocation handler sees each first touch of the heap and maps a zeroed frame", () => {
    const seen: number[] = [];
    const counting: PageFaultLayer = (f, k, next) => {
      seen.push(f.address);
      return lazyAlloc(f, k, next);
    };
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 2, layers: { pageFault: counting } });
    const p = m.spawn("lazy");
    const base = p.sys.brk(0);
    expect(p.sys.brk(base + 3 * 4096)).toBe(base + 3 * 4096);
    p.mem.write8(base, 1); // the page tables of the heap come with the first page
    const before = memFree(m);
    expect(p.mem.read8(base + 4096 + 5)).toBe(0);
    p.mem.write8(base + 4096 + 5, 0xab);
    p.mem.write8(base + 2 * 4096, 7);
    // A read maps a writable frame at once (no zero page): two faults, two frames.
    expect(seen.slice(-2)).toEqual([base + 4096 + 5, base + 2 * 4096]);
    expect(memFree(m)).toBe(before - 8);
    expect(p.mem.read8(base + 4096 + 5)).toBe(0xab);
    m.check();
  });

  it("the libc's malloc story runs on it, and exit gives back every frame memsim's own handler would", () => {
    expect(mallocStory({ pageFault: lazyAlloc })).toBe(mallocStory({}));
  });

  function mallocStory(layers: Layers): number {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 2, layers });
    const p = m.spawn("story");
    const blocks = [10, 4000, 200_000].map((n) => p.libc.malloc(n));
    for (const b of blocks) p.mem.write8(b, 1);
    const child = p.fork() as NonNullable<ReturnType<typeof p.fork>>;
    child.mem.write8(blocks[0] as number, 2);
    expect(p.mem.read8(blocks[0] as number)).toBe(1);
    for (const b of blocks) p.libc.free(b);
    m.check();
    child.exit(0);
    p.exit(0);
    m.check();
    return memFree(m);
  }

  it("a handler that claims to have fixed a fault it left unmapped is a LayerFault naming the layer", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { pageFault: lazyForgetsToMap } });
    const p = m.spawn("forgets");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(() => p.mem.write8(a, 1)).toThrow(LayerFault);
    expect(() => p.mem.write8(a, 1)).toThrow(
      /^pageFault layer: the handler returned FAULT_OK for a write at [0-9a-f]+, but the entry \(flags 0x0\) still refuses it: the access would fault forever$/,
    );
  });

  it("a handler that maps a frame it never allocated is a LayerFault naming the layer", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { pageFault: lazyWrongFrame } });
    const p = m.spawn("wrong");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(() => p.mem.read8(a)).toThrow(/^pageFault layer: the handler mapped [0-9a-f]+ to frame 0x[0-9a-f]+, which is not a user page/);
  });

  it("a handler that maps a frame it has just freed (now on a per-CPU list, its link where the refcount was) is a LayerFault", () => {
    // 64 MiB: user pages come from the Normal zone, whose per-CPU list is on.
    const m = Machine.boot({ ramBytes: 64 << 20, layers: { pageFault: lazyMapsFreedFrame } });
    const p = m.spawn("freed");
    // Eight frames on the per-CPU list: the fault's three page tables and its page take four, and the frame the handler frees links to the next.
    const eight = Array.from({ length: 8 }, () => m.kernel.allocPages(0) as number);
    for (const pfn of eight) m.kernel.freePages(pfn, 0);
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(() => p.mem.write8(a, 1)).toThrow(
      /^pageFault layer: the handler mapped [0-9a-f]+ to frame 0x[0-9a-f]+, which is not a user page/,
    );
    expect(m.kernel.taskParts.k.pageRef(m.kernel.taskParts.k.ptePfn(p.mm, m.kernel.taskParts.k.walk(p.mm, a, "lookup")))).toBe(0);
  });

  it("a handler that throws is a LayerFault with the error as its cause; refusals still reach the process as SIGSEGV", () => {
    const boom = new Error("boom");
    const m = Machine.boot({
      ramBytes: 16 << 20,
      layers: {
        pageFault: (f, _k, next) => {
          if (f.vma === 0) return next(f);
          throw boom;
        },
      },
    });
    const p = m.spawn("throws");
    const a = p.sys.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    let err: unknown;
    try {
      p.mem.read8(a);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LayerFault);
    expect((err as LayerFault).layer).toBe("pageFault");
    expect((err as LayerFault).cause).toBe(boom);
    const q = m.spawn("segv");
    expect(() => q.mem.read8(0x10000)).toThrow(SegmentationFault);
  });
});

describe("layers.forkCopy", () => {
  it("uvmcopy gives the child its own copy of every written page: no COW fault, exit gives every frame back", () => {
    expect(eagerStory({ forkCopy: uvmcopy }, 3)).toBe(eagerStory({}, 0));
  });

  /** Fork of three written pages and one read; returns MemFree after both exit. `copied`: frames the fork itself takes for data. */
  function eagerStory(layers: Layers, copied: number): number {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 2, layers });
    const p = m.spawn("parent");
    const a = p.sys.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (let i = 0; i < 3; i++) p.mem.write8(a + i * 4096, 10 + i);
    expect(p.mem.read8(a + 3 * 4096)).toBe(0); // the zero page: shared, not copied
    const rss = (q: typeof p) => Number(/^RssAnon:\s+(\d+) kB$/m.exec(q.proc.status())?.[1]);
    const child = p.fork() as NonNullable<ReturnType<typeof p.fork>>;
    expect(rss(child)).toBe(rss(p));
    const free1 = memFree(m);
    const vmstat = () => Number(/^cow_copies (\d+)$/m.exec(m.proc.vmstat())?.[1]);
    const cow0 = vmstat();
    child.mem.write8(a, 99);
    p.mem.write8(a + 4096, 98);
    // COW copies the two written pages now; the eager copy made them at fork.
    expect(vmstat() - cow0).toBe(copied > 0 ? 0 : 2);
    expect(free1 - memFree(m)).toBe(copied > 0 ? 0 : 8);
    expect([p.mem.read8(a), child.mem.read8(a), p.mem.read8(a + 4096), child.mem.read8(a + 4096)]).toEqual([10, 99, 98, 11]);
    m.check();
    child.exit(0);
    p.exit(0);
    m.check();
    return memFree(m);
  }

  it("a copy that shares a frame without counting the child's reference is a LayerFault naming the layer", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { forkCopy: cowForgetsRefcount } });
    const p = m.spawn("p");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mem.write8(a, 1);
    expect(() => p.fork()).toThrow(
      /^forkCopy layer: [0-9a-f]+ \(frame 0x[0-9a-f]+\) is shared by parent and child but counted refcount 1, mapcount 1 \(a share needs k\.getPage\)$/,
    );
  });

  it("a copy that maps the parent's frame writable in the child is a LayerFault naming the layer", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, layers: { forkCopy: cowChildWritable } });
    const p = m.spawn("p");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p.mem.write8(a, 1);
    expect(() => p.fork()).toThrow(
      /^forkCopy layer: [0-9a-f]+ \(frame 0x[0-9a-f]+\) is shared by parent and child but writable in the child: a write would reach the other$/,
    );
  });
});
