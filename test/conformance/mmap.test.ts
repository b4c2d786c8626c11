import { describe, expect, it } from "vitest";
import {
  EBADF,
  EEXIST,
  EINVAL,
  ENOMEM,
  EPERM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SEGV_ACCERR,
  SEGV_MAPERR,
} from "../../sim/index.ts";
import { boot, MMAP_BASE, mapsLines, meminfo, PAGE, segv } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;

describe("mmap argument checks (LINUX.md: mmap)", () => {
  it("len 0 is EINVAL", () => {
    expect(boot().p.sys.mmap(0, 0, RW, PA, -1, 0)).toBe(-EINVAL);
  });
  it("a length that overflows when page-aligned, or beyond user space, is ENOMEM", () => {
    const { p } = boot();
    expect(p.sys.mmap(0, 2 ** 53 - 1, RW, PA, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, 2 ** 47, RW, PA, -1, 0)).toBe(-ENOMEM);
  });
  it("neither MAP_PRIVATE nor MAP_SHARED is EINVAL", () => {
    expect(boot().p.sys.mmap(0, PAGE, RW, MAP_ANONYMOUS, -1, 0)).toBe(-EINVAL);
  });
  it("an offset that is not a page multiple is EINVAL", () => {
    expect(boot().p.sys.mmap(0, PAGE, RW, PA, -1, 100)).toBe(-EINVAL);
  });
  it("a file descriptor other than -1 is EBADF (memsim has no files)", () => {
    const { p } = boot();
    expect(p.sys.mmap(0, PAGE, RW, MAP_PRIVATE, 3, 0)).toBe(-EBADF);
    expect(p.sys.mmap(0, PAGE, RW, PA, 3, 0)).toBe(-EBADF);
  });
  it("MAP_FIXED: unaligned EINVAL, beyond user space ENOMEM, below mmap_min_addr EPERM", () => {
    const { p } = boot();
    expect(p.sys.mmap(0x10000001, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(-EINVAL);
    expect(p.sys.mmap(2 ** 47 - PAGE, 2 * PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0x1000, PAGE, RW, PA | MAP_FIXED, -1, 0)).toBe(-EPERM);
  });
  it("MAP_SHARED with MAP_GROWSDOWN is EINVAL", () => {
    expect(boot().p.sys.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0)).toBe(-EINVAL);
  });
  it("wild arguments give an errno, never an exception", () => {
    const { p } = boot();
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 64]) {
      expect(p.sys.mmap(bad, PAGE, RW, PA, -1, 0)).toBeLessThan(0);
      expect(p.sys.mmap(0, bad, RW, PA, -1, 0)).toBeLessThan(0);
      expect(p.sys.munmap(bad, PAGE)).toBeLessThan(0);
      expect(p.sys.mprotect(bad, PAGE, RW)).toBeLessThan(0);
    }
  });
});

describe("mmap placement", () => {
  it("with addr 0 the kernel picks addresses top-down below mmap_base", () => {
    const { p } = boot();
    expect(p.sys.mmap(0, PAGE, RW, PA, -1, 0)).toBe(MMAP_BASE - PAGE);
    expect(p.sys.mmap(0, 2 * PAGE, PROT_READ, PA, -1, 0)).toBe(MMAP_BASE - 3 * PAGE);
  });
  it("a hint is rounded down to a page and used exactly when free; otherwise another address", () => {
    const { p } = boot();
    expect(p.sys.mmap(0x200000123, PAGE, RW, PA, -1, 0)).toBe(0x200000000);
    expect(p.sys.mmap(0x200000000, PAGE, RW, PA, -1, 0)).toBe(MMAP_BASE - PAGE);
  });
  it("MAP_FIXED replaces what overlaps: contents gone, partly covered VMAs split", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 4 * PAGE, RW, PA, -1, 0);
    p.mem.fill(a, 0x11, 4 * PAGE);
    expect(p.sys.mmap(a + PAGE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0)).toBe(a + PAGE);
    expect(p.mem.read8(a + PAGE)).toBe(0);
    expect(p.mem.read8(a)).toBe(0x11);
    expect(p.mem.read8(a + 2 * PAGE)).toBe(0x11);
    expect(mapsLines(p.proc.maps())).toContain(`${(a + PAGE).toString(16)}-${(a + 2 * PAGE).toString(16)} r--p 00000000 00:00 0`);
  });
  it("MAP_FIXED_NOREPLACE: any overlap is EEXIST; exactly adjacent is fine", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 2 * PAGE, RW, PA, -1, 0);
    expect(p.sys.mmap(a + PAGE, 2 * PAGE, RW, PA | MAP_FIXED_NOREPLACE, -1, 0)).toBe(-EEXIST);
    expect(p.sys.mmap(a + 2 * PAGE, PAGE, RW, PA | MAP_FIXED_NOREPLACE, -1, 0)).toBe(a + 2 * PAGE);
    expect(p.sys.mmap(a - PAGE, PAGE, RW, PA | MAP_FIXED_NOREPLACE, -1, 0)).toBe(a - PAGE);
  });
  it("adjacent anonymous mappings with identical flags merge into one VMA", () => {
    const { p } = boot();
    const before = p.proc.maps().split("\n").length;
    p.sys.mmap(0, PAGE, RW, PA, -1, 0);
    p.sys.mmap(0, PAGE, RW, PA, -1, 0);
    expect(p.proc.maps().split("\n").length).toBe(before + 1);
    expect(p.proc.maps()).toContain(`${(MMAP_BASE - 2 * PAGE).toString(16)}-${MMAP_BASE.toString(16)} rw-p`);
  });
});

describe("mmap contents and permissions", () => {
  it("anonymous memory reads as zero", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 3 * PAGE, RW, PA, -1, 0);
    expect(Array.from(p.mem.read(a, 3 * PAGE)).every((b) => b === 0)).toBe(true);
  });
  it("PROT_NONE: every access is SIGSEGV with SEGV_ACCERR at the exact byte", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, PAGE, PROT_NONE, PA, -1, 0);
    const e = segv(() => p.mem.read8(a + 123));
    expect([e.code, e.addr]).toEqual([SEGV_ACCERR, a + 123]);
  });
  it("maps shows permissions exactly: r/-, w/-, x/-, then p or s", () => {
    const { p } = boot();
    p.sys.mmap(0x100000000, PAGE, PROT_READ | PROT_EXEC, PA, -1, 0);
    p.sys.mmap(0x100010000, PAGE, PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p.sys.mmap(0x100020000, PAGE, PROT_NONE, PA, -1, 0);
    const maps = p.proc.maps();
    expect(maps).toContain("100000000-100001000 r-xp 00000000 00:00 0 \n");
    expect(maps).toMatch(/100010000-100011000 -w-s 00000000 00:01 \d+ +\/dev\/zero \(deleted\)\n/);
    expect(maps).toContain("100020000-100021000 ---p 00000000 00:00 0 \n");
  });
  it("an access to an address with no VMA is SEGV_MAPERR with the exact byte", () => {
    const { p } = boot();
    const e = segv(() => p.mem.write16(0x123456789, 1));
    expect([e.code, e.addr]).toEqual([SEGV_MAPERR, 0x123456789]);
  });
  it("user mode may not touch kernel addresses", () => {
    const { p } = boot();
    const e = segv(() => p.mem.read32(0x888000001000));
    expect(e.addr).toBe(0x888000001000);
  });
});

describe("MAP_NORESERVE, MAP_POPULATE, MAP_GROWSDOWN", () => {
  it("MAP_NORESERVE is not charged in modes 0 and 1, and charged in mode 2", () => {
    for (const mode of [0, 1, 2] as const) {
      const { m, p } = boot({ overcommit: { mode, ratio: 50 } });
      const c0 = meminfo(m, "Committed_AS");
      expect(p.sys.mmap(0, 16 * PAGE, RW, PA | MAP_NORESERVE, -1, 0)).toBeGreaterThan(0);
      expect(meminfo(m, "Committed_AS") - c0).toBe(mode === 2 ? 64 : 0);
    }
  });
  it("MAP_POPULATE makes every page present at once (Rss == Size)", () => {
    const { p } = boot();
    const a = p.sys.mmap(0, 8 * PAGE, RW, PA | MAP_POPULATE, -1, 0);
    const block = p.proc
      .smaps()
      .split(/(?=^[0-9a-f]+-)/m)
      .find((b) => b.startsWith(a.toString(16)))!;
    expect(block).toMatch(/\nSize: +32 kB\n/);
    expect(block).toMatch(/\nRss: +32 kB\n/);
  });
  it("MAP_GROWSDOWN: touching just below grows the VMA; far below is SIGSEGV", () => {
    const { p } = boot();
    const a = p.sys.mmap(0x200000000, 4 * PAGE, RW, PA | MAP_GROWSDOWN, -1, 0);
    p.mem.write8(a - 1, 5);
    expect(p.mem.read8(a - 1)).toBe(5);
    expect(p.proc.maps()).toContain(`${(a - PAGE).toString(16)}-${(a + 4 * PAGE).toString(16)} rw-p`);
  });
});

describe("limits", () => {
  it("exceeding RLIMIT_AS is ENOMEM", () => {
    const { p } = boot();
    p.setrlimit("as", 16 << 20);
    expect(p.sys.mmap(0, 16 << 20, RW, PA, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, 8 << 20, RW, PA, -1, 0)).toBeGreaterThan(0);
  });
  it("more than max_map_count VMAs is ENOMEM", () => {
    const { p } = boot({ maxMapCount: 20 });
    let ok = 0;
    let last = 0;
    for (let i = 0; i < 40; i++) {
      // every other page, so that nothing merges
      last = p.sys.mmap(0x100000000 + i * 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
      if (last > 0) ok++;
      else break;
    }
    expect(last).toBe(-ENOMEM);
    expect(ok).toBe(19); // the stack VMA is the 20th
    expect(p.proc.maps().trimEnd().split("\n").length).toBe(20);
  });
});
