import { describe, expect, it } from "vitest";
import { HeapCorruption } from "../../../userspace/alloc/allocator.ts";
import { createFreeList, type FitPolicy } from "../../../userspace/alloc/freelist.ts";
import { createAllocator } from "../../../userspace/alloc/index.ts";
import type { UserProcess } from "../../../userspace/env.ts";
import { expectAbort, makeTestProcess } from "../../support/process.ts";

/*
 * Layout used below (offsets from the heap start): the root takes 80 bytes,
 * 8 bytes of padding put the first block header at +88, so the first payload
 * is at +96. Blocks are the request plus an 8-byte header, rounded to 16,
 * at least 32.
 *
 *   A malloc(100) -> block 112 at +88    payload +96
 *   B malloc(16)  -> block  32 at +200   payload +208
 *   C malloc(300) -> block 320 at +232   payload +240
 *   D malloc(16)  -> block  32 at +552   payload +560
 *   E malloc(200) -> block 208 at +584   payload +592
 *   F malloc(16)  -> block  32 at +792   payload +800
 *   tail: free block of 4096 - 736 = 3360 bytes at +824 (payload +832)
 */
function holes(name: string) {
  const proc = makeTestProcess();
  const base = proc.sys.brk(0);
  const a = createAllocator(name, proc);
  const p = [100, 16, 300, 16, 200, 16].map((n) => a.malloc(n));
  expect(p.map((x) => x - base)).toEqual([96, 208, 240, 560, 592, 800]);
  return { proc, base, a, p };
}

describe("fit policies pick the hole OSTEP's malloc.py would", () => {
  const picks: Array<[FitPolicy, number]> = [
    ["first", 240], // the first hole that holds 208 bytes: C
    ["next", 832], // the rover stayed at the tail, where the last six mallocs were carved
    ["best", 592], // the exact 208-byte hole: E
    ["worst", 832], // the largest: the 3360-byte tail
  ];
  for (const [fit, want] of picks) {
    it(`${fit} fit: malloc(190) after freeing A, C and E lands at +${want}`, () => {
      const { base, a, p } = holes(`${fit}fit`);
      for (const i of [0, 2, 4]) a.free(p[i]!, [100, 300, 200][i / 2]!);
      expect(a.malloc(190) - base).toBe(want);
      a.check();
    });
  }

  it("next fit resumes at the remainder of its last pick, first fit restarts at the head", () => {
    for (const [name, first, second] of [
      ["nextfit", 832, 1040],
      ["firstfit", 240, 96],
    ] as const) {
      const { base, a, p } = holes(name);
      for (const i of [0, 2, 4]) a.free(p[i]!, [100, 300, 200][i / 2]!);
      expect(a.malloc(190) - base).toBe(first);
      expect(a.malloc(100) - base).toBe(second);
      a.check();
    }
  });

  it("next fit wraps around to the head when nothing after the rover fits", () => {
    const { base, a, p } = holes("nextfit");
    for (const i of [0, 2, 4]) a.free(p[i]!, [100, 300, 200][i / 2]!);
    expect(a.malloc(3300) - base).toBe(832); // the tail; its 48-byte remainder is the rover
    expect(a.malloc(100) - base).toBe(96); // nothing after the rover fits: back to A
    a.check();
  });

  it("a LIFO list hands out the most recently freed hole that fits; an address-ordered one the lowest", () => {
    for (const [name, want] of [
      ["firstfit-lifo", 240],
      ["firstfit", 96],
    ] as const) {
      const { base, a, p } = holes(name);
      a.free(p[0]!, 100);
      a.free(p[4]!, 200);
      a.free(p[2]!, 300);
      expect(a.malloc(100) - base).toBe(want);
      a.check();
    }
  });
});

describe("coalescing", () => {
  it("freeing B between free A and C merges 112 + 32 + 320 bytes into one block that serves malloc(440)", () => {
    const { base, a, p } = holes("firstfit");
    a.free(p[0]!, 100);
    a.free(p[2]!, 300);
    a.free(p[1]!, 16);
    expect(a.malloc(440) - base).toBe(96);
    a.check();
  });

  it("without coalescing the three holes stay apart and malloc(440) goes to the tail", () => {
    const { base, a, p } = holes("firstfit-nocoalesce");
    a.free(p[0]!, 100);
    a.free(p[2]!, 300);
    a.free(p[1]!, 16);
    expect(a.malloc(440) - base).toBe(832);
    a.check();
  });

  it("freeing everything leaves one free block spanning the whole heap", () => {
    const { a, p } = holes("bestfit-lifo");
    for (const [i, n] of [100, 16, 300, 16, 200, 16].entries()) a.free(p[i]!, n);
    a.check();
    expect(a.stats()).toEqual({ heapBytes: 80 + 16 + 4096, peakHeapBytes: 4192, liveBytes: 0, syscalls: 4 });
    // One free block of 4096 bytes serves the largest request that fits it.
    expect(a.malloc(4088)).not.toBe(0);
    expect(a.stats().heapBytes).toBe(4192);
  });
});

describe("growth and realloc", () => {
  it("the heap grows a page at a time: root + epilogue pad, then 4096, then 4096 more", () => {
    const proc = makeTestProcess();
    const a = createFreeList(proc);
    a.malloc(4000);
    expect(a.stats().heapBytes).toBe(80 + 16 + 4096);
    a.malloc(4000);
    // The 96-byte free tail is counted: the second page only has to make up the rest.
    expect(a.stats().heapBytes).toBe(80 + 16 + 8192);
    expect(a.stats().syscalls).toBe(5);
  });

  it("realloc grows into a free next block in place and shrinks in place, keeping the bytes", () => {
    const { proc, a, p } = holes("firstfit");
    a.free(p[2]!, 300); // C's 320 bytes follow B
    proc.mem.write(p[1]!, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));
    expect(a.realloc(p[1]!, 16, 300)).toBe(p[1]);
    expect(Array.from(proc.mem.read(p[1]!, 4))).toEqual([1, 2, 3, 4]);
    expect(a.realloc(p[1]!, 300, 8)).toBe(p[1]);
    a.check();
    expect(a.stats().liveBytes).toBe(100 + 8 + 16 + 200 + 16);
  });

  it("realloc of the last block grows the break instead of moving", () => {
    const proc = makeTestProcess();
    const a = createFreeList(proc, { fit: "best" });
    const x = a.malloc(4000);
    expect(a.realloc(x, 4000, 20000)).toBe(x);
    expect(a.stats().heapBytes).toBe(80 + 16 + 4096 + 16384);
    a.check();
  });

  it("realloc moves when it cannot grow in place, and the old block is freed", () => {
    const { base, a, p } = holes("firstfit");
    const q = a.realloc(p[1]!, 16, 500);
    expect(q - base).toBe(832); // only the tail holds 512 bytes
    a.check();
    expect(a.malloc(16)).toBe(p[1]); // B's block is free again
  });
});

describe("misuse aborts the process with glibc's words", () => {
  const cases: Array<[string, (proc: UserProcess, a: ReturnType<typeof createFreeList>, x: number) => void, string]> = [
    [
      "double free",
      (_p, a, x) => {
        a.free(x, 64);
        a.free(x, 64);
      },
      "firstfit: free(): double free detected",
    ],
    ["a pointer inside a payload", (_p, a, x) => a.free(x + 8, 64), "firstfit: free(): invalid pointer"],
    ["a pointer below the heap", (_p, a) => a.free(0x10000, 1), "firstfit: free(): invalid pointer"],
    [
      "a header overwritten with a size running past the heap",
      (p, a, x) => {
        p.mem.write32(x - 8, 0x100000 | 1);
        a.free(x, 64);
      },
      "firstfit: free(): invalid size",
    ],
  ];
  for (const [what, act, message] of cases) {
    it(what, () => {
      const proc = makeTestProcess();
      const a = createFreeList(proc);
      const x = a.malloc(64);
      expectAbort(proc, () => act(proc, a, x), message);
    });
  }
});

describe("the heap checker finds corruption", () => {
  const corrupt = (name: string, damage: (proc: UserProcess, base: number) => void, id: string) => {
    const { proc, base, a, p } = holes(name);
    a.free(p[2]!, 300);
    a.check();
    damage(proc, base);
    expect(() => a.check()).toThrow(HeapCorruption);
    try {
      a.check();
    } catch (e) {
      expect((e as HeapCorruption).id).toBe(id);
    }
  };
  it("TAG-1: a block size running past the heap", () => corrupt("firstfit", (m, b) => m.mem.write32(b + 200, 0x7ff0 | 3), "TAG-1"));
  it("TAG-2: PREV_ALLOC out of step", () => corrupt("firstfit", (m, b) => m.mem.write32(b + 552, 32 | 1 | 2), "TAG-2"));
  it("TAG-3: a free block's footer overwritten", () => corrupt("firstfit", (m, b) => m.mem.write32(b + 232 + 320 - 8, 0), "TAG-3"));
  it("TAG-5: the epilogue overwritten", () => corrupt("firstfit", (m, b) => m.mem.write32(b + 80 + 16 + 4096 - 8, 0), "TAG-5"));
  it("FL-1: a list link pointing into an allocated block", () =>
    corrupt("firstfit", (m, b) => m.mem.write32(b + 232 + 8, (b + 200) % 2 ** 32), "FL-1"));
  it("FL-2: a broken prev link", () => corrupt("firstfit", (m, b) => m.mem.write32(b + 232 + 16, 8), "FL-2"));
  it("HEAP-5: more live bytes than the allocated blocks hold", () =>
    corrupt("firstfit", (m, b) => m.mem.write32(b + 40, 1 << 20), "HEAP-5"));
});
