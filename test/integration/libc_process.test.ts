import { describe, expect, it } from "vitest";
import { bootMachine } from "../support/boot.ts";

describe("p.libc: the C library of a process", () => {
  it("malloc'd memory is the process's memory; brk grew the heap through a page fault", () => {
    const m = bootMachine({ ramBytes: 32 << 20 });
    const p = m.spawn("app");
    const a = p.libc.malloc(100);
    expect(a % 16).toBe(0);
    p.mem.write32(a, 0x1234);
    expect(p.libc.mallocUsableSize(a)).toBeGreaterThanOrEqual(100);
    expect(p.proc.maps()).toContain("[heap]");
    expect(p.minflt).toBeGreaterThan(0);
    p.libc.free(a);
    p.libc.mallocCheck();
  });

  it("a forked child keeps using the inherited heap; parent and child diverge copy-on-write", () => {
    const m = bootMachine({ ramBytes: 32 << 20, debugVm: 2 });
    const p = m.spawn("parent");
    const blocks = Array.from({ length: 20 }, (_, i) => {
      const b = p.libc.malloc(64 + i * 40);
      p.mem.fill(b, i, 64);
      return b;
    });
    p.libc.free(blocks[3] as number);
    const c = p.fork()!;
    expect(c.libc.malloc(64 + 3 * 40)).toBe(blocks[3]);
    const x = c.libc.malloc(5000);
    c.mem.fill(x, 0xcc, 5000);
    c.libc.free(blocks[5] as number);
    c.libc.mallocCheck();
    p.libc.mallocCheck();
    expect(p.mem.read8((blocks[5] as number) + 10)).toBe(5);
    expect(p.libc.malloc(64 + 3 * 40)).toBe(blocks[3]);
    c.exit(0);
    p.exit(0);
    m.check();
  });
});
