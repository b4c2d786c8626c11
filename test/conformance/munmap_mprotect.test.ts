import { describe, expect, it } from "vitest";
import {
  EINVAL,
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SEGV_ACCERR,
  SEGV_MAPERR,
} from "../../sim/index.ts";
import { boot, mapsLines, meminfo, PAGE, segv } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

describe("munmap (LINUX.md: munmap)", () => {
  it("unaligned addr, len 0 and a range beyond user space are EINVAL", () => {
    const { p } = boot();
    expect(p.sys.munmap(BASE + 1, PAGE)).toBe(-EINVAL);
    expect(p.sys.munmap(BASE, 0)).toBe(-EINVAL);
    expect(p.sys.munmap(2 ** 47 - PAGE, 2 * PAGE)).toBe(-EINVAL);
  });
  it("len is rounded up; every page in range is unmapped; a later touch is SEGV_MAPERR", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE + PAGE, 1);
    expect(p.sys.munmap(BASE, PAGE + 1)).toBe(0);
    expect(p.mem.read8(BASE + 2 * PAGE)).toBe(0);
    expect(segv(() => p.mem.read8(BASE + PAGE + 7)).code).toBe(SEGV_MAPERR);
  });
  it("a range with no mapping, or with holes, is not an error", () => {
    const { p } = boot();
    expect(p.sys.munmap(BASE, 16 * PAGE)).toBe(0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 5 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.munmap(BASE, 16 * PAGE)).toBe(0);
    expect(p.proc.maps()).not.toContain("1000020");
  });
  it("unmapping the middle splits a VMA in two", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.munmap(BASE + PAGE, PAGE)).toBe(0);
    const lines = mapsLines(p.proc.maps());
    expect(lines).toContain("100000000-100001000 rw-p 00000000 00:00 0");
    expect(lines).toContain("100002000-100003000 rw-p 00000000 00:00 0");
  });
  it("a split that would pass max_map_count is ENOMEM", () => {
    const { p } = boot({ maxMapCount: 2 });
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.munmap(BASE + PAGE, PAGE)).toBe(-ENOMEM);
    expect(p.sys.munmap(BASE, PAGE)).toBe(0);
  });
  it("unmapped accounted pages leave Committed_AS", () => {
    const { m, p } = boot();
    const c0 = meminfo(m, "Committed_AS");
    p.sys.mmap(BASE, 8 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 32);
    p.sys.munmap(BASE + 2 * PAGE, 2 * PAGE);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 24);
    p.sys.munmap(BASE, 8 * PAGE);
    expect(meminfo(m, "Committed_AS")).toBe(c0);
  });
});

describe("mprotect (LINUX.md: mprotect)", () => {
  it("unaligned addr is EINVAL; len 0 is 0 even when nothing is mapped", () => {
    const { p } = boot();
    expect(p.sys.mprotect(BASE + 1, PAGE, PROT_READ)).toBe(-EINVAL);
    expect(p.sys.mprotect(BASE, 0, PROT_READ)).toBe(0);
  });
  it("unknown prot bits are EINVAL; an unmapped first page is ENOMEM", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mprotect(BASE, PAGE, 0x80)).toBe(-EINVAL);
    expect(p.sys.mprotect(BASE + PAGE, PAGE, PROT_READ)).toBe(-ENOMEM);
  });
  it("a hole inside the range is ENOMEM and the VMAs before the hole stay changed", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 2 * PAGE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mprotect(BASE, 3 * PAGE, PROT_READ)).toBe(-ENOMEM);
    const lines = mapsLines(p.proc.maps());
    expect(lines).toContain("100000000-100001000 r--p 00000000 00:00 0");
    expect(lines).toContain("100002000-100003000 rw-p 00000000 00:00 0");
  });
  it("changing the middle of a VMA gives three VMAs; changing it back merges them", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 3 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    const n0 = mapsLines(p.proc.maps()).length;
    p.sys.mprotect(BASE + PAGE, PAGE, PROT_READ);
    expect(mapsLines(p.proc.maps()).length).toBe(n0 + 2);
    p.sys.mprotect(BASE + PAGE, PAGE, RW);
    expect(mapsLines(p.proc.maps()).length).toBe(n0);
    expect(mapsLines(p.proc.maps())).toContain("100000000-100003000 rw-p 00000000 00:00 0");
  });
  it("a write to a read-only page is SEGV_ACCERR; after mprotect RW it works", () => {
    const { p, m } = boot();
    p.sys.mmap(BASE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    const q = m.spawn("q");
    q.sys.mmap(BASE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(segv(() => p.mem.write8(BASE + 9, 1)).code).toBe(SEGV_ACCERR);
    expect(q.sys.mprotect(BASE, PAGE, RW)).toBe(0);
    q.mem.write8(BASE + 9, 1);
    expect(q.mem.read8(BASE + 9)).toBe(1);
  });
  it("a written page made read-only refuses writes but keeps its data", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write32(BASE, 0x1234);
    p.sys.mprotect(BASE, PAGE, PROT_READ);
    expect(p.mem.read32(BASE)).toBe(0x1234);
    expect(segv(() => p.mem.write32(BASE, 1)).code).toBe(SEGV_ACCERR);
  });
  it("PROT_NONE after writing: every access is SEGV_ACCERR", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write32(BASE, 5);
    p.sys.mprotect(BASE, PAGE, PROT_NONE);
    expect(segv(() => p.mem.read8(BASE)).code).toBe(SEGV_ACCERR);
  });
  it("making a private mapping writable charges commit; ENOMEM in mode 2 past the limit", () => {
    const { m, p } = boot({ overcommit: { mode: 2, ratio: 5 } });
    const c0 = meminfo(m, "Committed_AS");
    p.sys.mmap(BASE, 64 * PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    expect(meminfo(m, "Committed_AS")).toBe(c0);
    expect(p.sys.mprotect(BASE, 16 * PAGE, RW)).toBe(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 64);
    const room = (meminfo(m, "CommitLimit") - meminfo(m, "Committed_AS")) / 4;
    const big = p.sys.mmap(0, (room + 1) * PAGE, PROT_READ, PA, -1, 0);
    expect(p.sys.mprotect(big, (room + 1) * PAGE, RW)).toBe(-ENOMEM);
  });
  it("dropping write keeps the charge, except for an anonymous mapping never written (6.5+)", () => {
    const { m, p } = boot();
    const c0 = meminfo(m, "Committed_AS");
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.sys.mmap(BASE + 0x100000, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    p.mem.write8(BASE + 0x100000, 1);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 32);
    p.sys.mprotect(BASE, 4 * PAGE, PROT_READ);
    p.sys.mprotect(BASE + 0x100000, 4 * PAGE, PROT_READ);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 16);
  });
});

describe("mprotect across pieces that merge", () => {
  it("changing a range whose first piece merges into the next one completes with 0", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 2 * PAGE, PROT_NONE, PA | MAP_FIXED, -1, 0);
    expect(p.sys.mprotect(BASE + PAGE, PAGE, PROT_READ)).toBe(0);
    expect(p.sys.mprotect(BASE, 2 * PAGE, PROT_READ)).toBe(0);
    expect(mapsLines(p.proc.maps())).toContain("100000000-100002000 r--p 00000000 00:00 0");
  });
});
