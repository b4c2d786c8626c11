import { describe, expect, it, vi } from "vitest";
import { EINVAL, ENOMEM } from "../../../kernel/errno.ts";
import { Libc } from "../../../userspace/libc/libc.ts";
import { M_MMAP_THRESHOLD, M_MXFAST, M_PERTURB, M_TCACHE_COUNT, M_TOP_PAD, M_TRIM_THRESHOLD } from "../../../userspace/malloc/malloc.ts";
import { HEAP_START, heapRssKb, tracedProcess } from "../../support/traced_process.ts";

const H = HEAP_START;
const hex = (v: number) => `0x${v.toString(16)}`;

/** A fresh process and its C library; `tcache: "off"` for tests of the arena itself (a freed small chunk would wait in the tcache). */
function setup(opts: { tcache?: "on" | "off" } = {}) {
  const t = tracedProcess();
  const libc = new Libc(t.proc);
  if (opts.tcache === "off") expect(libc.mallopt(M_TCACHE_COUNT, 0)).toBe(1);
  return { proc: t.p.mem, p: t.p, libc, log: t.log };
}

describe("malloc: exact values", () => {
  it("the first malloc(0) creates the arena with one brk and returns a 24-byte chunk of a run", () => {
    const { libc, log } = setup();
    const p = libc.malloc(0);
    // header 1024 B, a run of four 32-byte chunks, a 32-byte top
    expect(p).toBe(H + 1024 + 16);
    expect(log).toEqual([`brk(0) = ${hex(H)}`, `brk(${hex(H + 1184)}) = ${hex(H + 1184)}`]);
    expect(libc.mallocUsableSize(p)).toBe(24);
    expect(libc.malloc(0)).toBe(p + 32);
    expect(libc.mallinfo2()).toEqual({
      arena: 1184,
      ordblks: 1,
      smblks: 0,
      hblks: 0,
      hblkhd: 0,
      usmblks: 0,
      fsmblks: 0,
      uordblks: 1152,
      fordblks: 32,
      keepcost: 32,
    });
    libc.mallocCheck();
  });

  it("usable sizes are the chunk size less 8 (heap) or 16 (mmapped)", () => {
    const { libc } = setup();
    const usable = [0, 1, 24, 25, 100, 1000, 1001, 131048, 131055].map((n) => libc.mallocUsableSize(libc.malloc(n)));
    expect(usable).toEqual([24, 24, 24, 40, 104, 1000, 1016, 131048, 135152]);
    expect(libc.mallocUsableSize(0)).toBe(0);
    libc.mallocCheck();
  });

  it("every payload is 16-byte aligned", () => {
    const { libc } = setup();
    for (let n = 0; n < 600; n += 7) expect(libc.malloc(n) % 16).toBe(0);
    libc.mallocCheck();
  });

  it("mallinfo2 after malloc, malloc, free, and a large malloc", () => {
    const { libc, log } = setup({ tcache: "off" });
    const a = libc.malloc(1000);
    const b = libc.malloc(2000);
    expect([a, b]).toEqual([H + 1040, H + 2048]);
    libc.free(a);
    expect(libc.mallinfo2()).toEqual({
      arena: 4080,
      ordblks: 2,
      smblks: 0,
      hblks: 0,
      hblkhd: 0,
      usmblks: 0,
      fsmblks: 0,
      uordblks: 3040,
      fordblks: 1040,
      keepcost: 32,
    });
    const c = libc.malloc(200000);
    expect(c % 4096).toBe(16);
    expect(libc.mallinfo2()).toMatchObject({ arena: 4080, hblks: 1, hblkhd: 200704 });
    expect(log).toEqual([
      `brk(0) = ${hex(H)}`,
      `brk(${hex(H + 2064)}) = ${hex(H + 2064)}`,
      `brk(${hex(H + 4080)}) = ${hex(H + 4080)}`,
      `mmap(0, 0x31000, 3, 34, -1, 0) = ${hex(c - 16)}`,
    ]);
    libc.free(c);
    expect(log.at(-1)).toBe(`munmap(${hex(c - 16)}, 0x31000) = 0`);
    expect(libc.mallinfo2().hblks).toBe(0);
    libc.mallocCheck();
  });

  it("a freed chunk of the same size comes back first (exact small bin)", () => {
    const { libc } = setup();
    const a = libc.malloc(40);
    libc.malloc(40);
    libc.free(a);
    expect(libc.malloc(40)).toBe(a);
  });

  it("malloc beyond the address space or of a negative size is 0 with ENOMEM", () => {
    const { libc } = setup();
    for (const n of [-1, Number.NaN, 2 ** 47, 2 ** 60]) {
      libc.errno = 0;
      expect(libc.malloc(n)).toBe(0);
      expect(libc.errno).toBe(ENOMEM);
    }
    libc.errno = 0;
    expect(libc.malloc(2 ** 46)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
  });

  it("when brk is refused (a mapping right above the heap) the request is mmapped instead", () => {
    const { libc } = setup();
    libc.malloc(1000);
    expect(libc.mmap(H + 8192, 4096, 3, 0x32)).toBe(H + 8192);
    const p = libc.malloc(5000);
    expect(p).not.toBe(0);
    expect(libc.mallinfo2().hblks).toBe(1);
    libc.free(p);
    libc.mallocCheck();
  });
});

describe("calloc", () => {
  it("memory fresh from brk or mmap is not written again", () => {
    const { proc, libc } = setup();
    const fill = vi.spyOn(proc, "fill");
    const p = libc.calloc(100, 10);
    const q = libc.calloc(1, 300000);
    expect(fill).not.toHaveBeenCalled();
    expect([...proc.read(p, 1000)].every((b) => b === 0)).toBe(true);
    expect(proc.read32(q + 299996)).toBe(0);
  });

  it("a recycled chunk is zeroed over its whole usable size", () => {
    const { proc, libc } = setup({ tcache: "off" });
    const p = libc.malloc(1000);
    libc.malloc(16);
    proc.fill(p, 0xee, 1000);
    libc.free(p);
    const q = libc.calloc(10, 100);
    expect(q).toBe(p);
    expect([...proc.read(q, libc.mallocUsableSize(q))].every((b) => b === 0)).toBe(true);
  });

  it("an overflowing product is 0 with ENOMEM", () => {
    const { libc } = setup();
    expect(libc.calloc(2 ** 40, 2 ** 40)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
  });
});

describe("realloc", () => {
  it("grows in place into the top, growing the heap with brk", () => {
    const { libc, log } = setup();
    const p = libc.malloc(200);
    expect(libc.realloc(p, 5000)).toBe(p);
    expect(libc.mallocUsableSize(p)).toBe(5000);
    expect(log.at(-1)).toMatch(/^brk\(/);
    libc.mallocCheck();
  });

  it("grows in place over a free next chunk and shrinks in place by splitting", () => {
    const { libc } = setup({ tcache: "off" });
    const p = libc.malloc(200);
    const n = libc.malloc(200);
    libc.malloc(200);
    libc.free(n);
    expect(libc.realloc(p, 400)).toBe(p);
    expect(libc.mallocUsableSize(p)).toBe(408);
    expect(libc.realloc(p, 100)).toBe(p);
    expect(libc.mallocUsableSize(p)).toBe(104);
    expect(libc.mallinfo2().ordblks).toBe(2);
    libc.mallocCheck();
  });

  it("moves when it must, keeping the bytes", () => {
    const { proc, libc } = setup();
    const p = libc.malloc(300);
    libc.malloc(300);
    proc.fill(p, 0x5a, 300);
    const q = libc.realloc(p, 3000);
    expect(q).not.toBe(p);
    expect([...proc.read(q, 300)].every((b) => b === 0x5a)).toBe(true);
    libc.mallocCheck();
  });

  it("realloc(0, n) is malloc(n); realloc(p, 0) frees p and returns 0", () => {
    const { libc } = setup({ tcache: "off" });
    const p = libc.realloc(0, 500);
    expect(libc.mallocUsableSize(p)).toBe(504);
    expect(libc.realloc(p, 0)).toBe(0);
    expect(libc.mallinfo2().uordblks).toBe(1024);
  });

  it("an mmapped chunk moves with mremap, keeping its bytes", () => {
    const { proc, libc, log } = setup();
    const p = libc.malloc(200000);
    proc.write32(p + 199996, 0x12345678);
    const q = libc.realloc(p, 600000);
    expect(log.at(-1)).toMatch(/^mremap\(/);
    expect(proc.read32(q + 199996)).toBe(0x12345678);
    expect(libc.mallocUsableSize(q)).toBe(602096);
    expect(libc.mallinfo2()).toMatchObject({ hblks: 1, hblkhd: 602112 });
    libc.free(q);
    libc.mallocCheck();
  });

  it("reallocarray refuses an overflowing product with ENOMEM and keeps p", () => {
    const { libc } = setup();
    const p = libc.malloc(10);
    expect(libc.reallocarray(p, 2 ** 40, 2 ** 40)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.mallocUsableSize(libc.reallocarray(p, 10, 30))).toBe(312);
  });
});

describe("memalign, posix_memalign, aligned_alloc", () => {
  it("memalign aligns, rounding the alignment up to a power of two", () => {
    const { libc } = setup();
    expect(libc.memalign(64, 100) % 64).toBe(0);
    expect(libc.memalign(4096, 10) % 4096).toBe(0);
    const p = libc.memalign(100, 10);
    expect(p % 128).toBe(0);
    expect(libc.mallocUsableSize(p)).toBeGreaterThanOrEqual(10);
    libc.mallocCheck();
  });

  it("a large aligned request is an mmapped chunk that frees its whole mapping", () => {
    const { libc, log } = setup();
    const p = libc.memalign(65536, 300000);
    expect(p % 65536).toBe(0);
    expect(libc.mallocUsableSize(p)).toBeGreaterThanOrEqual(300000);
    libc.mallocCheck();
    libc.free(p);
    expect(log.at(-1)).toMatch(/^munmap\(0x[0-9a-f]+000, 0x[0-9a-f]+000\) = 0$/);
    expect(libc.mallinfo2().hblks).toBe(0);
  });

  it("posix_memalign returns EINVAL for a bad alignment and never touches errno", () => {
    const { libc } = setup();
    libc.errno = 77;
    expect(libc.posixMemalign(24, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(0, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(4, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(64, 2 ** 50)).toEqual({ err: ENOMEM, ptr: 0 });
    const r = libc.posixMemalign(256, 10);
    expect(r.err).toBe(0);
    expect(r.ptr % 256).toBe(0);
    expect(libc.errno).toBe(77);
  });

  it("aligned_alloc sets EINVAL unless the alignment is a power of two; memalign past 2^63 too", () => {
    const { libc } = setup();
    expect(libc.alignedAlloc(24, 48)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
    expect(libc.alignedAlloc(32, 64) % 32).toBe(0);
    libc.errno = 0;
    expect(libc.memalign(2 ** 64, 1)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
  });
});

describe("mallopt and the mmap threshold", () => {
  it("freeing an mmapped chunk raises the threshold to its size, so the next one comes from brk", () => {
    const { libc, log } = setup();
    libc.free(libc.malloc(200000));
    const before = log.length;
    const p = libc.malloc(200000);
    expect(log.slice(before)).toEqual([expect.stringMatching(/^brk\(/)]);
    expect(libc.mallinfo2().hblks).toBe(0);
    libc.free(p);
    libc.mallocCheck();
  });

  it("M_MMAP_THRESHOLD moves the line and fixes it; values past 32 MiB are refused", () => {
    const { libc } = setup();
    expect(libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)).toBe(1);
    libc.malloc(500000);
    expect(libc.mallinfo2().hblks).toBe(0);
    expect(libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)).toBe(0);
    expect(libc.mallopt(M_MXFAST, 1000)).toBe(0);
    expect(libc.mallopt(M_MXFAST, 64)).toBe(1);
  });

  it("M_TOP_PAD makes every heap growth that much larger", () => {
    const { libc, log } = setup();
    expect(libc.mallopt(M_TOP_PAD, 65536)).toBe(1);
    libc.malloc(1000);
    expect(log[1]).toBe(`brk(${hex(H + 1024 + 1008 + 32 + 65536)}) = ${hex(H + 1024 + 1008 + 32 + 65536)}`);
    expect(libc.mallopt(M_TOP_PAD, -1)).toBe(0);
  });

  it("M_PERTURB fills fresh allocations with the complement and freed memory with the byte", () => {
    const { proc, libc } = setup();
    libc.mallopt(M_PERTURB, 0xa5);
    const p = libc.malloc(300);
    libc.malloc(16);
    expect(proc.read8(p)).toBe(0x5a);
    libc.free(p);
    expect(proc.read8(p + 100)).toBe(0xa5);
    libc.mallocCheck();
  });
});

describe("giving memory back", () => {
  it("freeing into a top past M_TRIM_THRESHOLD shrinks the heap with brk", () => {
    const { libc, log } = setup();
    const ps = Array.from({ length: 40 }, () => libc.malloc(4000));
    const peak = libc.mallinfo2().arena;
    for (const p of ps.reverse()) libc.free(p);
    const shrinks = log.filter((l, i) => i > 0 && l.startsWith("brk(") && Number(l.slice(4, l.indexOf(")"))) < H + peak);
    expect(shrinks.length).toBeGreaterThan(0);
    const info = libc.mallinfo2();
    expect(info.arena).toBeLessThan(peak);
    expect(info.keepcost).toBeLessThan(128 * 1024);
    expect(info.uordblks).toBe(1024);
    libc.mallocCheck();
  });

  it("a free span of 4 x M_TRIM_THRESHOLD inside the heap gives its inner pages back with madvise", () => {
    const { proc, p: task, libc, log } = setup();
    const ps = Array.from({ length: 140 }, () => libc.malloc(4000));
    libc.malloc(100);
    for (const p of ps) proc.fill(p, 0x42, 4000);
    expect(heapRssKb(task)).toBe(552);
    for (const p of ps.slice(0, 120)) libc.free(p);
    // 120 * 4016 bytes: below 512 KiB, nothing is given back yet
    expect(log.some((l) => l.startsWith("madvise("))).toBe(false);
    for (const p of ps.slice(120)) libc.free(p);
    const advice = log.filter((l) => l.startsWith("madvise("));
    expect(advice.length).toBeGreaterThan(0);
    for (const l of advice) expect(l).toMatch(/^madvise\(0x[0-9a-f]+000, 0x[0-9a-f]+000, 4\) = 0$/);
    // left: the page with the arena header and the first chunk's header, and the last page with the guard
    expect(heapRssKb(task)).toBe(8);
    const first = ps[0]!;
    libc.mallocCheck();
    const q = libc.malloc(100000);
    expect(q).toBe(first);
    proc.fill(q, 0x77, 100000);
    expect(proc.read8(q + 99999)).toBe(0x77);
    libc.mallocCheck();
  });

  it("malloc_trim releases the pages inside free chunks, then has nothing more to give", () => {
    const { libc, log } = setup();
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30);
    const ps = Array.from({ length: 10 }, () => libc.malloc(20000));
    libc.malloc(100);
    for (const p of ps) libc.free(p);
    expect(log.some((l) => l.startsWith("madvise("))).toBe(false);
    expect(libc.mallocTrim(0)).toBe(1);
    expect(log.filter((l) => l.startsWith("madvise("))).toHaveLength(1);
    expect(libc.mallocTrim(0)).toBe(0);
    libc.mallocCheck();
  });
});

describe("living with a foreign sbrk", () => {
  it("malloc keeps working after the program moved the break itself", () => {
    const { proc, libc } = setup();
    const a = libc.malloc(300);
    const mine = libc.sbrk(5000);
    proc.fill(mine, 0x33, 5000);
    const b = libc.malloc(6000);
    expect(b).toBeGreaterThanOrEqual(mine + 5000);
    libc.mallocCheck();
    libc.free(a);
    libc.free(b);
    libc.mallocCheck();
    expect(proc.read8(mine + 4999)).toBe(0x33);
  });
});

describe("bad arguments are errno values, never JS errors", () => {
  it("NaN and fractions in sizes, alignments, mallopt values and trim pads", () => {
    const { libc } = setup();
    const p = libc.malloc(100);
    expect(libc.memalign(Number.NaN, 10)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
    expect(libc.calloc(Number.NaN, 4)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.realloc(p, Number.NaN)).toBe(0);
    expect(libc.mallopt(M_TOP_PAD, 0.5)).toBe(0);
    expect(libc.mallopt(M_TOP_PAD, Number.NaN)).toBe(0);
    expect(libc.mallocTrim(Number.NaN)).toBe(0);
    expect(libc.posixMemalign(Number.NaN, 1).err).toBe(EINVAL);
    libc.mallocCheck();
  });

  it("free leaves errno as it was", () => {
    const { libc } = setup();
    const p = libc.malloc(300000);
    libc.malloc(2 ** 50);
    expect(libc.errno).toBe(ENOMEM);
    libc.free(p);
    expect(libc.errno).toBe(ENOMEM);
  });
});

describe("odd settings", () => {
  it("an M_TOP_PAD that is no multiple of 16 still leaves a 16-aligned heap end", () => {
    const { libc, log } = setup();
    libc.mallopt(M_TOP_PAD, 100);
    const p = libc.malloc(1000);
    expect(log[1]).toBe(`brk(${hex(H + 1024 + 1008 + 32 + 112)}) = ${hex(H + 1024 + 1008 + 32 + 112)}`);
    libc.free(libc.malloc(3000));
    libc.free(p);
    libc.mallocCheck();
  });
});
