import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HeapCorruption } from "../../../userspace/alloc/allocator.ts";
import { createArena, MAX_CHECKPOINTS } from "../../../userspace/alloc/arena.ts";
import { expectAbort, makeTestProcess } from "../../support/process.ts";

/* The arena's root is 368 bytes (64 shared + 32 own + 17 levels x 16), so the first block is at +368. */
const FIRST = 368;

function arena(opts = {}) {
  const proc = makeTestProcess();
  const base = proc.sys.brk(0);
  return { proc, base, a: createArena(proc, opts) };
}

describe("bump allocation", () => {
  it("blocks follow each other at 16-byte alignment and the heap grows by pages", () => {
    const { base, a } = arena();
    expect(a.malloc(10) - base).toBe(FIRST);
    expect(a.malloc(1) - base).toBe(FIRST + 16);
    expect(a.malloc(0) - base).toBe(FIRST + 32); // a unique pointer, one byte reserved
    expect(a.malloc(16) - base).toBe(FIRST + 48);
    expect(a.stats()).toEqual({ heapBytes: FIRST + 4096, peakHeapBytes: FIRST + 4096, liveBytes: 27, syscalls: 3 });
    a.check();
  });

  it("align 64 places every block on a 64-byte boundary", () => {
    const { base, a } = arena({ align: 64 });
    expect(a.malloc(1) - base).toBe(384);
    expect(a.malloc(1) - base).toBe(448);
  });

  it("freeing the newest block pops it; freeing an older one leaves a hole", () => {
    const { base, a } = arena();
    const x = a.malloc(100);
    const y = a.malloc(100);
    a.free(y, 100);
    expect(a.malloc(50)).toBe(y);
    a.free(x, 100);
    expect(a.malloc(10) - base).toBe(FIRST + 112 + 64);
    expect(a.stats().liveBytes).toBe(60);
    a.check();
  });

  it("realloc of the newest block resizes in place; of an older one it copies", () => {
    const { proc, a } = arena();
    const x = a.malloc(8);
    proc.mem.write(x, Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2));
    const y = a.malloc(8);
    expect(a.realloc(y, 8, 9000)).toBe(y);
    const x2 = a.realloc(x, 8, 100);
    expect(x2).toBe(y + 9008);
    expect(Array.from(proc.mem.read(x2, 8))).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
    expect(a.stats().liveBytes).toBe(9100);
    a.check();
  });

  it("reset hands out the first address again and keeps the heap", () => {
    const { base, a } = arena();
    a.malloc(5000);
    a.reset();
    expect(a.stats().liveBytes).toBe(0);
    expect(a.malloc(1) - base).toBe(FIRST);
    expect(a.stats().heapBytes).toBe(FIRST + 8192);
    a.check();
  });
});

describe("checkpoints", () => {
  it("restore drops exactly the blocks allocated since the checkpoint", () => {
    const { base, a } = arena();
    a.malloc(100);
    const c = a.checkpoint();
    expect(c).toBe(1);
    const y = a.malloc(200);
    a.malloc(300);
    a.free(y, 200);
    expect(a.stats().liveBytes).toBe(400);
    a.restore(c);
    expect(a.stats().liveBytes).toBe(100);
    expect(a.malloc(1) - base).toBe(FIRST + 112); // the mark (+100) rounded up to 16
    a.check();
  });

  it("restoring an outer checkpoint drops the inner ones too", () => {
    const { a } = arena();
    const c1 = a.checkpoint();
    a.malloc(10);
    const c2 = a.checkpoint();
    a.malloc(20);
    expect(c2).toBe(2);
    a.restore(c1);
    expect(a.stats().liveBytes).toBe(0);
    expect(() => a.restore(c2)).toThrow("arena: restore(): no checkpoint 2");
  });

  it(`holds ${MAX_CHECKPOINTS} checkpoints; the next one returns 0`, () => {
    const { a } = arena();
    for (let i = 1; i <= MAX_CHECKPOINTS; i++) expect(a.checkpoint()).toBe(i);
    expect(a.checkpoint()).toBe(0);
    a.check();
  });

  it("random malloc/free/checkpoint/restore keeps liveBytes equal to the model's", () => {
    type Op = { op: "m"; n: number } | { op: "f"; i: number } | { op: "c" } | { op: "r"; k: number };
    const opArb = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 3000 }).map((n): Op => ({ op: "m", n })) },
      { weight: 2, arbitrary: fc.nat().map((i): Op => ({ op: "f", i })) },
      { weight: 1, arbitrary: fc.constant<Op>({ op: "c" }) },
      { weight: 1, arbitrary: fc.nat().map((k): Op => ({ op: "r", k })) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60, size: "max" }), (ops) => {
        const { a } = arena();
        // The model: live blocks with the checkpoint depth they were made at.
        let live: Array<{ p: number; n: number; level: number }> = [];
        let depth = 0;
        for (const o of ops) {
          if (o.op === "m") live.push({ p: a.malloc(o.n), n: o.n, level: depth });
          else if (o.op === "f" && live.length > 0) {
            const [b] = live.splice(o.i % live.length, 1);
            a.free(b!.p, b!.n);
          } else if (o.op === "c" && depth < MAX_CHECKPOINTS) depth = a.checkpoint();
          else if (o.op === "r" && depth > 0) {
            const k = (o.k % depth) + 1;
            a.restore(k);
            live = live.filter((b) => b.level < k);
            depth = k - 1;
          }
          a.check();
          expect(a.stats().liveBytes).toBe(live.reduce((s, b) => s + b.n, 0));
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("misuse and corruption", () => {
  it("free of a pointer the arena never returned aborts", () => {
    for (const off of [8, 64]) {
      const { proc, a } = arena();
      const x = a.malloc(32);
      expectAbort(proc, () => a.free(x + off, 1), "arena: free(): invalid pointer");
    }
  });

  it("a free larger than what was allocated aborts instead of going negative", () => {
    const { proc, a } = arena();
    const x = a.malloc(32);
    expectAbort(proc, () => a.free(x, 64), "arena: free(): size larger than what is allocated");
  });

  it("the checker names a top beyond the end (ARENA-2) and a level holding more than its span (ARENA-6)", () => {
    for (const [off, id] of [
      [72, "ARENA-2"],
      [104, "ARENA-6"],
    ] as const) {
      const { proc, base, a } = arena();
      a.malloc(64);
      a.check();
      proc.mem.write32(base + off, 0x7fff_0000);
      expect(() => a.check()).toThrow(HeapCorruption);
      expect(() => a.check()).toThrow(new RegExp(`^${id}:`));
    }
  });
});
