import { describe, expect, it } from "vitest";
import { HeapCorruption } from "../../../userspace/alloc/allocator.ts";
import { createPool } from "../../../userspace/alloc/pool.ts";
import { expectAbort, makeTestProcess } from "../../support/process.ts";

/* The pool's root is 112 bytes (64 shared + 40 own, rounded to 16): block 0 is at +112. */
const START = 112;

function pool(opts = {}) {
  const proc = makeTestProcess();
  const base = proc.sys.brk(0);
  return { proc, base, a: createPool(proc, opts) };
}

describe("fixed-size blocks on a free stack", () => {
  it("blocks are carved in order, 64 bytes apart, from a heap grown one page at a time", () => {
    const { base, a } = pool();
    expect([a.malloc(1), a.malloc(64), a.malloc(0)].map((p) => p - base)).toEqual([START, START + 64, START + 128]);
    expect(a.stats()).toEqual({ heapBytes: START + 4096, peakHeapBytes: START + 4096, liveBytes: 65, syscalls: 3 });
    a.check();
  });

  it("the free stack is LIFO: the last block freed is the next one handed out", () => {
    const { a } = pool();
    const [x, y, z] = [a.malloc(8), a.malloc(8), a.malloc(8)];
    a.free(x, 8);
    a.free(z, 8);
    expect(a.malloc(8)).toBe(z);
    expect(a.malloc(8)).toBe(x);
    expect(a.malloc(8)).toBe(y + 128);
    a.check();
  });

  it("the 65th block of a page-sized grow takes a second page", () => {
    const { base, a } = pool();
    for (let i = 0; i < 64; i++) a.malloc(64);
    expect(a.stats().heapBytes).toBe(START + 4096);
    expect(a.malloc(64) - base).toBe(START + 4096);
    expect(a.stats().heapBytes).toBe(START + 8192);
  });

  it("realloc within a block keeps the pointer; beyond it moves to a mapping", () => {
    const { proc, a } = pool({ blockSize: 32 });
    const x = a.malloc(10);
    proc.mem.write(x, Uint8Array.of(1, 2, 3));
    expect(a.realloc(x, 10, 32)).toBe(x);
    const y = a.realloc(x, 32, 5000);
    expect(y % 4096).toBe(32); // a large block: 32-byte header at the start of its mapping
    expect(Array.from(proc.mem.read(y, 3))).toEqual([1, 2, 3]);
    expect(a.stats().heapBytes).toBe(START + 4096 + 8192);
    a.free(y, 5000);
    expect(a.stats().heapBytes).toBe(START + 4096);
    a.check();
  });

  it('oversize "fail" returns NULL above the block size', () => {
    const { a } = pool({ blockSize: 128, oversize: "fail" });
    expect(a.malloc(129)).toBe(0);
    expect(a.malloc(128)).not.toBe(0);
  });

  it("rejects block sizes that are not multiples of 16", () => {
    const proc = makeTestProcess();
    expect(() => createPool(proc, { blockSize: 24 })).toThrow("pool: blockSize 24 is not a multiple of 16");
  });
});

describe("misuse and corruption", () => {
  it("free of an address inside a block, outside the pool, or with a large size, aborts", () => {
    for (const [off, size] of [
      [16, 8],
      [4096, 8],
      [0, 100], // a large size: the pointer is not a mapping's payload
    ]) {
      const { proc, a } = pool();
      const x = a.malloc(8);
      expectAbort(proc, () => a.free(x + off!, size!), "pool: free(): invalid pointer");
    }
  });

  const damaged = (damage: (mem: ReturnType<typeof makeTestProcess>["mem"], x: number, y: number) => void, id: string) => {
    const { proc, a } = pool();
    const [x, y] = [a.malloc(8), a.malloc(8)];
    a.free(x, 8);
    a.free(y, 8);
    a.check();
    damage(proc.mem, x, y);
    expect(() => a.check()).toThrow(HeapCorruption);
    expect(() => a.check()).toThrow(new RegExp(`^${id}:`));
  };
  it("POOL-4: a free block written after its free", () => damaged((m, x) => m.write32(x + 8, 0), "POOL-4"));
  it("POOL-3: a free stack that loops", () =>
    damaged((m, x) => {
      m.write32(x, x % 2 ** 32);
      m.write32(x + 4, Math.floor(x / 2 ** 32));
    }, "POOL-3"));
  it("POOL-2: a free stack entry in the middle of a block", () => damaged((m, x, y) => m.write32(y, (x + 8) % 2 ** 32), "POOL-2"));
});
