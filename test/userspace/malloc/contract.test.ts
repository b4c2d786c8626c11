/**
 * The C contract of p.libc's malloc family, whatever malloc layer runs
 * behind it: these tests hold for memsim's malloc and for a student's (the
 * vitest project malloc-implicit reruns them on CS:APP's implicit list).
 * Tests of memsim's own malloc (addresses, brk calls, mallinfo) are in
 * malloc.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EINVAL, ENOMEM } from "../../../kernel/errno.ts";
import type { Process } from "../../../kernel/process.ts";
import { bootMachine, ON_MEMSIM_MALLOC } from "../../support/boot.ts";

function setup(debugVm = 1) {
  const m = bootMachine({ ramBytes: 32 << 20, debugVm });
  const p = m.spawn("app");
  return { m, p, libc: p.libc };
}

/** True when [a, a + n) and [b, b + k) share a byte (empty blocks count as one byte). */
const overlap = (a: number, n: number, b: number, k: number) => a < b + Math.max(k, 1) && b < a + Math.max(n, 1);

describe("blocks", () => {
  it("p.libc runs the malloc layer the suite booted with", () => {
    expect(setup().libc.heap.name).toBe(ON_MEMSIM_MALLOC ? "memsim" : "implicit");
  });

  it("every block is 16-byte aligned, writable and apart from the others", () => {
    const { m, p, libc } = setup();
    const blocks: Array<[number, number]> = [];
    for (let n = 0; n < 600; n += 7) {
      const q = libc.malloc(n);
      expect(q % 16).toBe(0);
      p.mem.fill(q, n & 0xff, n);
      blocks.push([q, n]);
    }
    for (const [q, n] of blocks) {
      expect([...p.mem.read(q, n)].every((b) => b === (n & 0xff))).toBe(true);
      for (const [r, k] of blocks) if (r !== q) expect(overlap(q, n, r, k)).toBe(false);
    }
    for (const [q] of blocks) libc.free(q);
    libc.mallocCheck();
    m.check();
  });

  it("a freed block's memory is used again", () => {
    const { libc } = setup();
    const a = libc.malloc(100);
    libc.malloc(100);
    libc.free(a);
    const again = Array.from({ length: 4 }, () => libc.malloc(100));
    expect(again).toContain(a);
  });

  it("malloc beyond the address space, of a negative size or NaN is 0 with ENOMEM", () => {
    const { libc } = setup();
    for (const n of [-1, Number.NaN, 2 ** 47, 2 ** 60, 2 ** 46]) {
      libc.errno = 0;
      expect(libc.malloc(n)).toBe(0);
      expect(libc.errno).toBe(ENOMEM);
    }
  });

  it("when the kernel refuses memory, malloc is 0 with ENOMEM and the heap still works", () => {
    const { m, libc } = setup();
    libc.errno = 0;
    expect(libc.malloc(64 << 20)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
    const q = libc.malloc(100);
    expect(q).not.toBe(0);
    libc.free(q);
    libc.mallocCheck();
    m.check();
  });

  it("free(0) does nothing and free leaves errno alone", () => {
    const { libc } = setup();
    const q = libc.malloc(1000);
    libc.free(0);
    libc.errno = 77;
    libc.free(q);
    expect(libc.errno).toBe(77);
  });
});

describe("calloc", () => {
  it("a recycled block comes back zeroed", () => {
    const { p, libc } = setup();
    const q = libc.malloc(1000);
    libc.malloc(16);
    p.mem.fill(q, 0xee, 1000);
    libc.free(q);
    const r = libc.calloc(10, 100);
    expect([...p.mem.read(r, 1000)].every((b) => b === 0)).toBe(true);
  });

  it("an overflowing product is 0 with ENOMEM", () => {
    const { libc } = setup();
    expect(libc.calloc(2 ** 40, 2 ** 40)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
    libc.errno = 0;
    expect(libc.calloc(Number.NaN, 4)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
  });
});

describe("realloc", () => {
  it("growing keeps the bytes, wherever the block goes", () => {
    const { p, libc } = setup();
    const q = libc.malloc(300);
    libc.malloc(300);
    p.mem.fill(q, 0x5a, 300);
    const r = libc.realloc(q, 5000);
    expect(r % 16).toBe(0);
    expect([...p.mem.read(r, 300)].every((b) => b === 0x5a)).toBe(true);
    p.mem.fill(r, 0x11, 5000);
    libc.mallocCheck();
  });

  it("shrinking keeps the first bytes", () => {
    const { p, libc } = setup();
    const q = libc.malloc(4000);
    for (let i = 0; i < 100; i++) p.mem.write8(q + i, i);
    const r = libc.realloc(q, 100);
    expect([...p.mem.read(r, 100)]).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("realloc(0, n) is malloc(n); realloc(p, 0) frees p and returns 0, errno untouched", () => {
    const { p, libc } = setup();
    const q = libc.realloc(0, 500);
    expect(q % 16).toBe(0);
    p.mem.fill(q, 1, 500);
    libc.errno = 5;
    expect(libc.realloc(q, 0)).toBe(0);
    expect(libc.errno).toBe(5);
    libc.mallocCheck();
  });

  it("a refused realloc is 0 with ENOMEM and leaves the block as it was", () => {
    const { p, libc } = setup();
    const q = libc.malloc(100);
    p.mem.fill(q, 0x42, 100);
    expect(libc.realloc(q, 2 ** 50)).toBe(0);
    expect(libc.errno).toBe(ENOMEM);
    expect(libc.reallocarray(q, 2 ** 40, 2 ** 40)).toBe(0);
    expect([...p.mem.read(q, 100)].every((b) => b === 0x42)).toBe(true);
    const r = libc.reallocarray(q, 10, 30);
    expect([...p.mem.read(r, 100)].every((b) => b === 0x42)).toBe(true);
  });
});

describe("the memalign family's argument checks", () => {
  it("posix_memalign returns EINVAL for a bad alignment and never touches errno; 16 is plain malloc", () => {
    const { libc } = setup();
    libc.errno = 77;
    expect(libc.posixMemalign(24, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(0, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(4, 10)).toEqual({ err: EINVAL, ptr: 0 });
    expect(libc.posixMemalign(64, 2 ** 50)).toEqual({ err: ENOMEM, ptr: 0 });
    const r = libc.posixMemalign(16, 10);
    expect(r.err).toBe(0);
    expect(r.ptr % 16).toBe(0);
    expect(libc.errno).toBe(77);
  });

  it("aligned_alloc wants a power of two; memalign past 2^63 or NaN is EINVAL", () => {
    const { libc } = setup();
    expect(libc.alignedAlloc(24, 48)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
    libc.errno = 0;
    expect(libc.memalign(2 ** 64, 1)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
    libc.errno = 0;
    expect(libc.memalign(Number.NaN, 10)).toBe(0);
    expect(libc.errno).toBe(EINVAL);
    expect(libc.memalign(8, 10) % 16).toBe(0);
  });
});

describe("fork", () => {
  it("the child frees and reuses inherited blocks; the parent's bytes stay its own", () => {
    const { m, p, libc } = setup(2);
    const blocks = Array.from({ length: 10 }, (_, i) => {
      const q = libc.malloc(50 + 30 * i);
      p.mem.fill(q, i + 1, 50);
      return q;
    });
    libc.free(blocks[4] as number);
    const c = p.fork() as Process;
    for (const q of blocks.filter((_, i) => i !== 4 && i % 2 === 0)) c.libc.free(q);
    const x = c.libc.malloc(2000);
    c.mem.fill(x, 0xcc, 2000);
    c.libc.mallocCheck();
    blocks.forEach((q, i) => {
      if (i !== 4) expect(p.mem.read8(q + 49)).toBe(i + 1);
    });
    const y = libc.malloc(2000);
    expect(y % 16).toBe(0);
    libc.mallocCheck();
    c.exit(0);
    p.exit(0);
    m.check();
  });
});

/** A model of live blocks: pointer, requested size, the byte it is filled with. */
type Live = Map<number, { size: number; byte: number }>;

const op = fc.oneof(
  fc.record({ kind: fc.constant("malloc" as const), size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20000 })) }),
  fc.record({ kind: fc.constant("calloc" as const), size: fc.integer({ min: 0, max: 2000 }) }),
  fc.record({ kind: fc.constant("free" as const), index: fc.nat() }),
  fc.record({ kind: fc.constant("realloc" as const), index: fc.nat(), size: fc.integer({ min: 1, max: 6000 }) }),
);

describe("malloc against a model of live blocks", () => {
  it("every step: 16-byte aligned, no overlap, every byte kept, the heap checker and the kernel's watch (debugVm 2)", () => {
    const m = bootMachine({ ramBytes: 32 << 20, debugVm: 2 });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.nat(255), (ops, seed) => {
        const p = m.spawn("prop");
        const libc = p.libc;
        const live: Live = new Map();
        const adopt = (q: number, size: number, byte: number) => {
          expect(q).not.toBe(0);
          expect(q % 16).toBe(0);
          for (const [r, b] of live) expect(overlap(q, size, r, b.size), "overlap").toBe(false);
          p.mem.fill(q, byte, size);
          live.set(q, { size, byte });
        };
        const intact = (q: number, len: number) => {
          const b = live.get(q) as { size: number; byte: number };
          expect(
            [...p.mem.read(q, len)].every((x) => x === b.byte),
            `block 0x${q.toString(16)}`,
          ).toBe(true);
        };
        ops.forEach((o, i) => {
          const byte = (seed + i) & 0xff;
          const ptrs = [...live.keys()];
          if (o.kind === "malloc") adopt(libc.malloc(o.size), o.size, byte);
          else if (o.kind === "calloc") {
            const q = libc.calloc(1, o.size);
            expect([...p.mem.read(q, o.size)].every((x) => x === 0)).toBe(true);
            adopt(q, o.size, byte);
          } else if (ptrs.length > 0) {
            const q = ptrs[o.index % ptrs.length] as number;
            const b = live.get(q) as { size: number; byte: number };
            intact(q, b.size);
            live.delete(q);
            if (o.kind === "free") libc.free(q);
            else {
              const r = libc.realloc(q, o.size);
              live.set(r, b);
              intact(r, Math.min(b.size, o.size));
              live.delete(r);
              adopt(r, o.size, byte);
            }
          }
          libc.mallocCheck();
        });
        for (const [q, b] of live) {
          intact(q, b.size);
          libc.free(q);
        }
        libc.mallocCheck();
        p.exit(0);
        m.check();
      }),
      { numRuns: 40 },
    );
  });
});
