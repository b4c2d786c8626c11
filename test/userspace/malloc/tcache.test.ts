import { describe, expect, it } from "vitest";
import { ProcessKilled } from "../../../kernel/signal.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import { M_TCACHE_COUNT, M_TCACHE_MAX, type Malloc } from "../../../userspace/malloc/malloc.ts";
import { HEAP_START, tracedProcess } from "../../support/traced_process.ts";

const H = HEAP_START;

function setup() {
  const t = tracedProcess();
  const libc = new Libc(t.proc);
  return { p: t.p, mem: t.p.mem, libc, heap: libc.heap as Malloc, log: t.log };
}

/** counts[idx] and entries[idx] of the calling thread's tcache, read through the process's memory. */
function list(mem: { read16(va: number): number; read32(va: number): number }, tc: number, idx: number) {
  return {
    count: mem.read16(tc + 2 * idx),
    first: (mem.read32(tc + 128 + 8 * idx) >>> 0) + (mem.read32(tc + 132 + 8 * idx) >>> 0) * 2 ** 32,
  };
}

describe("tcache: exact values", () => {
  it("two frees of 100-byte blocks go on list 5, newest first; malloc takes them back in that order", () => {
    const { p, mem, libc, heap, log } = setup();
    // 100 bytes -> chunk 112 (align16(100 + 8)): a run of four 112-byte chunks at H + 1024 (after the 1024-byte header)
    const a = libc.malloc(100);
    const b = libc.malloc(100);
    const c = libc.malloc(100);
    expect([a, b, c]).toEqual([H + 1040, H + 1152, H + 1264]);
    expect(heap.tcache.byTid.size).toBe(0);
    libc.free(a);
    // the first free takes the 640-byte tcache (chunk 656) from the arena: the top (32 bytes at H + 1472) grows by 656
    const tc = H + 1472 + 16;
    expect(heap.tcache.byTid.get(p.pid)).toBe(tc);
    expect(log.at(-1)).toBe(`brk(0x${(H + 1504 + 656).toString(16)}) = 0x${(H + 2160).toString(16)}`);
    libc.free(b);
    // csize2tidx(112) = (112 - 32) / 16 = 5
    expect(list(mem, tc, 5)).toEqual({ count: 2, first: b });
    for (let idx = 0; idx < 64; idx++) if (idx !== 5) expect(list(mem, tc, idx).count).toBe(0);
    expect(libc.malloc(100)).toBe(b);
    expect(list(mem, tc, 5)).toEqual({ count: 1, first: a });
    expect(libc.malloc(100)).toBe(a);
    expect(list(mem, tc, 5)).toEqual({ count: 0, first: 0 });
    // the list is empty: the run's fourth chunk
    expect(libc.malloc(100)).toBe(H + 1376);
    libc.mallocCheck();
  });

  it("safe-linking: each next word is the pointer XOR its own address >> 12; the key marks a cached chunk", () => {
    const { mem, libc, heap } = setup();
    const a = libc.malloc(100);
    const b = libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    libc.free(b);
    // a = H + 1040 is the list's end: its next is 0 ^ (a >> 12) = 0x555555559 (H >> 12; 1040 < 4096)
    expect([mem.read32(a) >>> 0, mem.read32(a + 4)]).toEqual([0x55555559, 0x5]);
    // b = H + 1152 = 0x555555559480; its next is a ^ (b >> 12) = 0x555555559410 ^ 0x555555559, per word:
    // low word 0x55559410 ^ 0x55555559 = 0x0000c149, high word 0x5555 ^ 0x5 = 0x5550
    expect([mem.read32(b) >>> 0, mem.read32(b + 4)]).toEqual([0x0000c149, 0x5550]);
    // the key: the same two words on every cached chunk
    expect([mem.read32(a + 8) >>> 0, mem.read32(a + 12) >>> 0]).toEqual([heap.tcache.keyLo, heap.tcache.keyHi]);
    expect([mem.read32(b + 8) >>> 0, mem.read32(b + 12) >>> 0]).toEqual([heap.tcache.keyLo, heap.tcache.keyHi]);
    // taken back, the key is cleared
    expect(libc.malloc(100)).toBe(b);
    expect([mem.read32(b + 8), mem.read32(b + 12)]).toEqual([0, 0]);
    libc.mallocCheck();
  });

  it("a list holds 7: the eighth free of a size goes to the arena; mallinfo2 counts cached chunks as in use", () => {
    const { mem, libc, heap } = setup();
    const blocks = Array.from({ length: 9 }, () => libc.malloc(24));
    const before = libc.mallinfo2();
    for (const q of blocks.slice(0, 8)) libc.free(q);
    const tc = heap.tcache.byTid.values().next().value as number;
    expect(list(mem, tc, 0)).toEqual({ count: 7, first: blocks[6] });
    const info = libc.mallinfo2();
    // the arena grew by the tcache's 656 bytes; of the eight 32-byte chunks only the eighth is free to it
    expect(info.arena - before.arena).toBe(656);
    expect(info.ordblks).toBe(before.ordblks + 1);
    expect(info.uordblks - before.uordblks).toBe(656 - 32);
    // the census (the user's view) counts the seven cached chunks as free too, and the rest of the
    // second run (runs of 4, then 8 chunks: 9 blocks leave 3 x 32 bytes), which the arena calls in use
    expect(heap.census().freeBytes - info.fordblks).toBe(7 * 32 + 3 * 32);
    libc.mallocCheck();
  });

  it("malloc_stats counts cached chunks as in use, and the mmapped chunks and their high-water marks in the total", () => {
    const { libc } = setup();
    const a = libc.malloc(100);
    libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    // brk: 1024 header + the 448-byte run + 32-byte top = 1504, then +656 for the tcache: 2160; the only free bytes
    // are the 32-byte top (a waits in the cache, the run's fourth chunk is the run's)
    const big = libc.malloc(200000);
    // 200000 -> chunk 200016, mmapped as pageUp(200016 + 8) = 200704 bytes (49 pages)
    libc.free(big);
    expect(libc.mallocStats()).toBe(
      "Arena 0:\nsystem bytes     =       2160\nin use bytes     =       2128\n" +
        "Total (incl. mmap):\nsystem bytes     =       2160\nin use bytes     =       2128\n" +
        "max mmap regions =          1\nmax mmap bytes   =     200704\n",
    );
  });

  it("M_TCACHE_COUNT 0 turns the cache off; M_TCACHE_MAX bounds the sizes it takes", () => {
    const { libc, heap } = setup();
    expect(libc.mallopt(M_TCACHE_COUNT, 65536)).toBe(0);
    expect(libc.mallopt(M_TCACHE_MAX, 1033)).toBe(0);
    // 1032 bytes -> chunk 1040, the last of the 64 lists; 1033 -> chunk 1056, never cached
    expect(libc.mallopt(M_TCACHE_MAX, 100)).toBe(1);
    expect(heap.tcache.maxChunk).toBe(112);
    const big = libc.malloc(200);
    libc.malloc(10);
    libc.free(big);
    expect(heap.tcache.byTid.size).toBe(0);
    expect(libc.mallopt(M_TCACHE_COUNT, 0)).toBe(1);
    const small = libc.malloc(50);
    libc.malloc(10);
    libc.free(small);
    expect(heap.tcache.byTid.size).toBe(0);
    libc.mallocCheck();
  });
});

describe("tcache hardening (glibc's messages, SIGABRT)", () => {
  it("a second free of a cached chunk: free(): double free detected in tcache 2", () => {
    const { p, libc } = setup();
    const a = libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    expect(() => libc.free(a)).toThrow(ProcessKilled);
    expect(p.stderr).toBe("free(): double free detected in tcache 2\n");
  });

  it("a forged next link that is not 16-aligned: malloc(): unaligned tcache chunk detected", () => {
    const { p, mem, libc } = setup();
    const a = libc.malloc(100);
    const b = libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    libc.free(b);
    mem.write32(b, (mem.read32(b) ^ 8) >>> 0);
    expect(libc.malloc(100)).toBe(b);
    expect(() => libc.malloc(100)).toThrow(ProcessKilled);
    expect(p.stderr).toBe("malloc(): unaligned tcache chunk detected\n");
  });

  it("the checker finds a count that disagrees with its list (MALLOC-13)", () => {
    const { mem, libc, heap } = setup();
    const a = libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    const tc = heap.tcache.byTid.values().next().value as number;
    mem.write16(tc + 2 * 5, 2);
    expect(() => libc.mallocCheck()).toThrow(/MALLOC-13/);
  });
});
