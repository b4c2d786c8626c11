/**
 * The Mesh allocator (userspace/alloc/mesh.ts): two half-full spans mesh
 * into one page, measured by the kernel (smaps Pss, meminfo Shmem), with
 * every object's bytes intact and frees through both virtual spans.
 */
import { describe, expect, it } from "vitest";
import { Machine } from "../../../sim/index.ts";
import { smapsTotals } from "../../../sim/mesh_rss.ts";
import { createMesh, MESH_CLASSES } from "../../../userspace/alloc/mesh.ts";
import { expectAbort } from "../../support/process.ts";

function boot() {
  const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 1 });
  const p = m.spawn("mesh");
  return { m, p, a: createMesh(p, { meshPeriod: 0, seed: 7 }) };
}

function shmemKb(m: Machine): number {
  return Number(/^Shmem:\s+(\d+) kB$/m.exec(m.proc.meminfo())?.[1]);
}

/** 32 objects of the 256-byte class: two full spans (16 objects each), each object filled with its number. */
function twoFullSpans(a: ReturnType<typeof createMesh>, p: ReturnType<Machine["spawn"]>) {
  const objs = Array.from({ length: 32 }, () => a.malloc(250));
  for (const [n, x] of objs.entries()) p.mem.fill(x, n + 1, 256);
  return objs;
}

describe("mesh: spans and random offsets", () => {
  it("the 256-byte class holds 16 objects per one-page span; the 17th object opens a second span", () => {
    const { p, a } = boot();
    const objs = twoFullSpans(a, p);
    expect(MESH_CLASSES.length).toBe(20);
    const spanA = objs.slice(0, 16).map((x) => Math.floor(x / 4096));
    const spanB = objs.slice(16).map((x) => Math.floor(x / 4096));
    expect(new Set(spanA).size).toBe(1);
    expect(new Set(spanB).size).toBe(1);
    expect(spanB[0]).toBe(spanA[0]! + 1);
    // Every offset 0, 256, ..., 3840 once per span, in a random order (not 0, 256, 512 ...).
    expect(
      objs
        .slice(0, 16)
        .map((x) => x % 4096)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: 16 }, (_, k) => k * 256));
    expect(objs.slice(0, 16).map((x) => x % 4096)).not.toEqual(Array.from({ length: 16 }, (_, k) => k * 256));
    expect(a.meshStats()).toEqual({ meshes: 0, physicalSpans: 2, virtualSpans: 2 });
    a.check();
  });
});

describe("mesh: two half-full spans become one page", () => {
  it("Pss and Shmem drop by one page, every byte survives, frees through both spans work, and the last free returns the page", () => {
    const { m, p, a } = boot();
    const objs = twoFullSpans(a, p);
    // Span A keeps the objects at odd slots (offset / 256), span B those at even slots: no offset in common.
    const keep = objs.filter((x, n) => ((x % 4096) / 256) % 2 === (n < 16 ? 1 : 0));
    for (const x of objs) if (!keep.includes(x)) a.free(x, 250);
    expect(keep.length).toBe(16);
    a.check();
    const before = smapsTotals(p.proc.smaps()).pssKb;
    // Two arena pages, each mapped once: Shmem 8 kB.
    expect(shmemKb(m)).toBe(8);
    expect(a.mesh()).toBe(1);
    a.check();
    expect(a.meshStats()).toEqual({ meshes: 1, physicalSpans: 1, virtualSpans: 2 });
    // One page of the shared object is left (Shmem 4 kB).
    expect(shmemKb(m)).toBe(4);
    for (const x of keep) {
      const n = objs.indexOf(x);
      expect([...p.mem.read(x, 256)].every((b) => b === n + 1)).toBe(true);
    }
    expect(a.physicalSpanOf(keep[0]!)).toBe(a.physicalSpanOf(keep[15]!));
    // Both slots now map the one page: it counts 2 kB to each, 4 kB in all, 4 kB less than the two pages before.
    expect(smapsTotals(p.proc.smaps()).pssKb).toBe(before - 4);
    // A store through one virtual span is seen through the other (same frame, same offset).
    const [x0, x1] = [keep[0]!, keep[15]!];
    p.mem.write8(x0, 0xee);
    expect(p.mem.read8(x1 - (x1 % 4096) + (x0 % 4096))).toBe(0xee);
    p.mem.write8(x0, objs.indexOf(x0) + 1);
    // Frees through span A's and span B's addresses.
    for (const x of keep.slice(0, 15)) a.free(x, 250);
    a.check();
    expect(a.meshStats()).toEqual({ meshes: 1, physicalSpans: 1, virtualSpans: 2 });
    a.free(keep[15]!, 250);
    a.check();
    expect(a.meshStats()).toEqual({ meshes: 1, physicalSpans: 0, virtualSpans: 0 });
    expect(shmemKb(m)).toBe(0);
    expect(a.stats().liveBytes).toBe(0);
    // The spans are reused from scratch: a new object reads zeros.
    const y = a.malloc(250);
    expect([...p.mem.read(y, 256)].every((b) => b === 0)).toBe(true);
    a.check();
    m.check();
  });

  it("spans whose objects share an offset do not mesh", () => {
    const { p, a } = boot();
    const objs = twoFullSpans(a, p);
    // Both spans keep the object at offset 0.
    for (const x of objs) if (x % 4096 !== 0) a.free(x, 250);
    expect(a.mesh()).toBe(0);
    expect(a.meshStats()).toEqual({ meshes: 0, physicalSpans: 2, virtualSpans: 2 });
  });

  it("a double free through the meshed span aborts the process", () => {
    const { p, a } = boot();
    const objs = twoFullSpans(a, p);
    const keep = objs.filter((x, n) => ((x % 4096) / 256) % 2 === (n < 16 ? 1 : 0));
    for (const x of objs) if (!keep.includes(x)) a.free(x, 250);
    a.mesh();
    a.free(keep[15]!, 250);
    expectAbort(p, () => a.free(keep[15]!, 250), "mesh: free(): double free detected");
  });
});
