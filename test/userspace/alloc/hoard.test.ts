import { describe, expect, it } from "vitest";
import { createHoard, hoardClasses } from "../../../userspace/alloc/hoard.ts";
import { expectAbort, makeTestProcess } from "../../support/process.ts";

const S = 65536;

function hoard(keepEmpty = 1) {
  const proc = makeTestProcess();
  return { proc, a: createHoard(proc, { keepEmpty }) };
}

describe("size classes", () => {
  it("16..128 by 16, then four per doubling up to S/4", () => {
    const c = hoardClasses(S);
    expect(c.slice(0, 12)).toEqual([16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256]);
    expect(c.length).toBe(36);
    expect(c[35]).toBe(16384);
  });
});

describe("superblocks", () => {
  it("a block's superblock is its address rounded down to 64 KiB; blocks follow the 64-byte header", () => {
    const { a } = hoard();
    const x = a.malloc(16);
    expect(x % S).toBe(64);
    expect(a.malloc(10) - x).toBe(16);
    const y = a.malloc(17); // class 32: another superblock
    expect(y % S).toBe(64);
    expect(y - (y % S)).not.toBe(x - (x % S));
    // The root (64 + 24 + 17 heaps x (32 + 36 classes x 5 groups x 8) = 25112, rounded to 16: 25120 bytes of brk heap) and two superblocks.
    expect(a.stats().heapBytes).toBe(25120 + 2 * S);
    a.check();
  });

  it("malloc takes from the fullest superblock that is not full", () => {
    const { a } = hoard();
    const first = Array.from({ length: 7 }, () => a.malloc(8192)); // 7 blocks fill a superblock
    const sb1 = first[0]! - (first[0]! % S);
    const other = a.malloc(8192);
    const sb2 = other - (other % S);
    expect(sb2).not.toBe(sb1);
    a.free(first[3]!, 8192); // sb1: 6/7 used, group 3; sb2: 1/7, group 0
    expect(a.malloc(8192)).toBe(first[3]);
    a.check();
  });

  it("an empty superblock is kept for reuse by any class; a second empty one is unmapped", () => {
    const { a } = hoard(1);
    const xs = Array.from({ length: 8 }, () => a.malloc(8192));
    const heap = a.stats().heapBytes;
    a.free(xs[7]!, 8192); // sb2 empties: kept
    expect(a.stats().heapBytes).toBe(heap);
    for (let i = 0; i < 7; i++) a.free(xs[i]!, 8192); // sb1 empties: unmapped
    expect(a.stats().heapBytes).toBe(heap - S);
    const y = a.malloc(16); // class 16 reuses the kept superblock
    expect(y).toBe(xs[7]! - (xs[7]! % S) + 64);
    expect(a.stats().heapBytes).toBe(heap - S);
    a.check();
  });

  it("large requests are mapped on their own", () => {
    const { a } = hoard();
    const big = a.malloc(20000);
    expect(big % 4096).toBe(32);
    a.free(big, 20000);
    a.check();
  });
});

describe("misuse and corruption", () => {
  it("a free whose size names another class aborts", () => {
    const { proc, a } = hoard();
    const x = a.malloc(16);
    expectAbort(proc, () => a.free(x, 100), "hoard: free(): size does not match the block's size class");
  });

  it("a pointer inside a block aborts", () => {
    const { proc, a } = hoard();
    const x = a.malloc(16);
    expectAbort(proc, () => a.free(x + 8, 16), "hoard: free(): invalid pointer");
  });

  it("HOARD-6: a used count that the free list contradicts", () => {
    const { proc, a } = hoard();
    const x = a.malloc(16);
    proc.mem.write32(x - 64 + 16, 5);
    expect(() => a.check()).toThrow(/^HOARD-6:/);
  });

  it("HOARD-5: a block on its free list twice", () => {
    const { proc, a } = hoard();
    const x = a.malloc(16);
    a.malloc(16);
    a.free(x, 16);
    proc.mem.write32(x, x % 2 ** 32);
    proc.mem.write32(x + 4, Math.floor(x / 2 ** 32));
    expect(() => a.check()).toThrow(/^HOARD-5:/);
  });
});
