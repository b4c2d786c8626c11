import { describe, expect, it } from "vitest";
import { type KmemCache, Machine, PAGE_OFFSET } from "../../../sim/index.ts";

const MiB = 1 << 20;

/** A 2-CPU machine with a 64-byte cache (64 objects per 4 KiB slab) and two threads of one process. */
function setup() {
  const m = Machine.boot({ ramBytes: 32 * MiB, cpus: 2 });
  const c = m.kernel.kmemCacheCreate("percpu64", 64) as KmemCache;
  const p = m.spawn("app");
  const t = p.spawnThread("worker", { stackBytes: 4096 });
  if (t === null) throw new Error("no thread");
  return { m, c, p, t };
}

const pfnOf = (kva: number) => Math.floor((kva - PAGE_OFFSET) / 4096);

/** The slabinfo row of a cache: active_objs and num_objs. */
function slabinfoRow(m: Machine, name: string): number[] {
  const line =
    m.proc
      .slabinfo()
      .split("\n")
      .find((l) => l.startsWith(`${name} `)) ?? "";
  return line.trim().split(/\s+/).slice(1, 3).map(Number);
}

describe("SLUB CPU slabs, one per CPU", () => {
  it("each CPU allocates from its own CPU slab", () => {
    const { m, c, p, t } = setup();
    const objs: number[] = [];
    const alloc = () => objs.push(c.alloc());
    m.run(
      [
        { thread: p, ops: [alloc, alloc] },
        { thread: t, ops: [alloc, alloc] },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 0],
            [1, 1],
            [0, 0],
            [1, 1],
          ],
        },
      },
    );
    // CPU 0 made slab A and took its first two objects; CPU 1 found no partial slab (A is
    // CPU 0's) and made slab B. Objects are handed out in address order, 64 bytes apart.
    const [a0, b0, a1, b1] = objs as [number, number, number, number];
    expect(pfnOf(a0)).not.toBe(pfnOf(b0));
    expect([a1 - a0, b1 - b0]).toEqual([64, 64]);
    expect([c.cpuSlabOn(0), c.cpuSlabOn(1)]).toEqual([pfnOf(a0), pfnOf(b0)]);
    expect(c.freeRemote).toBe(0);
    // Two slabs of 64 objects; slabinfo counts the free objects of every CPU slab as active.
    expect(slabinfoRow(m, "percpu64")).toEqual([128, 128]);
    m.check();
  });

  it("a free on another CPU goes to the object's own slab freelist, and its CPU reuses it first", () => {
    const { m, c, p, t } = setup();
    const objs: number[] = [];
    const alloc = () => objs.push(c.alloc());
    const remoteFree = () => c.free(objs[0] as number);
    m.run(
      [
        { thread: p, ops: [alloc, alloc] },
        { thread: t, ops: [alloc, remoteFree] },
      ],
      {
        schedule: {
          kind: "explicit",
          steps: [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
        },
      },
    );
    // CPU 1 freed CPU 0's first object: not onto CPU 1's slab, but onto slab A's freelist,
    // whose head it becomes, so CPU 0's next allocation gets it back.
    expect(c.freeRemote).toBe(1);
    expect(objs[2]).toBe(objs[0]);
    expect(c.cpuSlabOn(1)).toBe(pfnOf(objs[1] as number));
    m.check();
    for (const kva of [objs[1], objs[2]]) c.free(kva as number);
    // Both slabs are now empty: the shrink flushes both CPU slabs and frees them.
    expect(c.shrink()).toBe(2);
    expect([c.cpuSlabOn(0), c.cpuSlabOn(1), c.nrSlabs]).toEqual([0, 0, 0]);
    m.check();
  });

  it("the checker finds a slab that is two CPUs' CPU slab", () => {
    const { m, c, p, t } = setup();
    const alloc = () => c.alloc();
    m.run([
      { thread: p, ops: [alloc] },
      { thread: t, ops: [alloc] },
    ]);
    m.check();
    c.cpuSlab = c.cpuSlabOn(1);
    expect(() => m.check()).toThrow(/^SLAB-2: percpu64 CPU 1's slab 0x[0-9a-f]+ is also on a list or another CPU's$/);
  });
});
