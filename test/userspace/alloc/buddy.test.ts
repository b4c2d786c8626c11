import { describe, expect, it } from "vitest";
import { createBuddy, orderFor } from "../../../userspace/alloc/buddy.ts";
import { expectAbort, makeTestProcess } from "../../support/process.ts";

/* The root ends at +224; top blocks start at the next page (+4096). Each 1 MiB top keeps its bitmaps in its first 16 KiB. */
function buddy() {
  const proc = makeTestProcess();
  const base = proc.sys.brk(0);
  const top = base + 4096;
  return { proc, top, a: createBuddy(proc) };
}

describe("orders", () => {
  it("order k holds 16 << k bytes", () => {
    expect([0, 1, 16, 17, 32, 33, 64, 1 << 20, (1 << 20) + 1].map(orderFor)).toEqual([0, 0, 0, 1, 1, 2, 2, 16, 17]);
  });
});

describe("split and merge", () => {
  it("the first block comes from splitting the 16 KiB block after the metadata, the rest by size", () => {
    const { top, a } = buddy();
    expect(a.malloc(16) - top).toBe(16384);
    expect(a.malloc(17) - top).toBe(16384 + 32);
    expect(a.malloc(1) - top).toBe(16384 + 16);
    expect(a.stats().heapBytes).toBe(4096 + (1 << 20));
    a.check();
  });

  it("blocks have no header: two malloc(64) are 64 bytes apart", () => {
    const { a } = buddy();
    const x = a.malloc(64);
    expect(a.malloc(64) - x).toBe(64);
  });

  it("freeing both halves merges them back up to the 16 KiB block", () => {
    const { top, a } = buddy();
    const x = a.malloc(16);
    const y = a.malloc(16);
    a.free(y, 16);
    a.free(x, 16);
    a.check();
    expect(a.malloc(16384) - top).toBe(16384);
  });

  it("realloc grows in place into a free upper buddy and shrinks by splitting", () => {
    const { proc, a } = buddy();
    const x = a.malloc(64);
    proc.mem.write(x, Uint8Array.of(7, 7, 7));
    expect(a.realloc(x, 64, 128)).toBe(x);
    expect(a.realloc(x, 128, 32)).toBe(x);
    expect(a.malloc(32)).toBe(x + 32);
    expect(a.malloc(64)).toBe(x + 64);
    expect(Array.from(proc.mem.read(x, 3))).toEqual([7, 7, 7]);
    a.check();
  });

  it("requests of a whole top block or more get their own mapping", () => {
    const { a } = buddy();
    const big = a.malloc(600_000);
    expect(big % 4096).toBe(32);
    expect(a.stats().heapBytes).toBe(224 + 602_112); // the root, and the mapping: no top block was needed
    a.free(big, 600_000);
    a.check();
  });
});

describe("misuse and corruption", () => {
  it("double free aborts", () => {
    const { proc, a } = buddy();
    const x = a.malloc(16);
    a.malloc(16);
    a.free(x, 16);
    expectAbort(proc, () => a.free(x, 16), "buddy: free(): double free detected");
  });

  it("a pointer into a top block's metadata aborts", () => {
    const { proc, top, a } = buddy();
    a.malloc(16);
    expectAbort(proc, () => a.free(top + 16, 16), "buddy: free(): invalid pointer");
  });

  it("BUDDY-3: an allocated block marked free beside its free buddy", () => {
    const { proc, top, a } = buddy();
    a.malloc(16); // at +16384: order-0 bit 1024 = byte 128, bit 0
    a.check();
    proc.mem.write8(top + 128, proc.mem.read8(top + 128) | 1);
    expect(() => a.check()).toThrow(/^BUDDY-3:/);
  });

  it("BUDDY-5: a listed free block whose bit was cleared", () => {
    const { proc, top, a } = buddy();
    a.malloc(16); // its buddy at +16400 is the free order-0 block: bit 1025
    proc.mem.write8(top + 128, proc.mem.read8(top + 128) & ~2);
    expect(() => a.check()).toThrow(/^BUDDY-5:/);
  });
});
