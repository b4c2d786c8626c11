import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, SEGV_MAPERR, SIGSEGV } from "../../sim/index.ts";
import { boot, mapsLines, meminfo, PAGE, START_BRK, segv } from "./helpers.ts";

describe("brk (LINUX.md: brk)", () => {
  it("brk(0) and brk below the heap start return the current break and change nothing", () => {
    const { p } = boot();
    expect(p.sys.brk(0)).toBe(START_BRK);
    expect(p.sys.brk(START_BRK - PAGE)).toBe(START_BRK);
    expect(p.sys.brk(START_BRK + 100)).toBe(START_BRK + 100);
    expect(p.sys.brk(1)).toBe(START_BRK + 100);
  });

  it("the break may be any byte value; the heap VMA ends at PAGE_ALIGN(brk) and those bytes are usable", () => {
    const { p } = boot();
    expect(p.sys.brk(START_BRK + 5)).toBe(START_BRK + 5);
    expect(p.proc.maps()).toContain(`${START_BRK.toString(16)}-${(START_BRK + PAGE).toString(16)} rw-p 00000000 00:00 0`);
    p.mem.write8(START_BRK + PAGE - 1, 0x42);
    expect(p.mem.read8(START_BRK + PAGE - 1)).toBe(0x42);
    const e = segv(() => p.mem.read8(START_BRK + PAGE));
    expect([e.signo, e.code, e.addr]).toEqual([SIGSEGV, SEGV_MAPERR, START_BRK + PAGE]);
  });

  it("shrinking unmaps pages above PAGE_ALIGN(new): a later touch is SEGV_MAPERR", () => {
    const { p } = boot();
    p.sys.brk(START_BRK + 4 * PAGE);
    p.mem.write32(START_BRK + 3 * PAGE, 7);
    expect(p.sys.brk(START_BRK + PAGE)).toBe(START_BRK + PAGE);
    const e = segv(() => p.mem.read32(START_BRK + 3 * PAGE));
    expect(e.code).toBe(SEGV_MAPERR);
    expect(p.state).toBe("killed");
    expect(p.exitSignal).toBe(SIGSEGV);
  });

  it("growing again after a shrink yields zero-filled pages", () => {
    const { p } = boot();
    p.sys.brk(START_BRK + 2 * PAGE);
    p.mem.fill(START_BRK, 0xab, 2 * PAGE);
    p.sys.brk(START_BRK);
    p.sys.brk(START_BRK + 2 * PAGE);
    expect(Array.from(p.mem.read(START_BRK, 2 * PAGE)).every((b) => b === 0)).toBe(true);
  });

  it("shrinking inside one page keeps its data", () => {
    const { p } = boot();
    p.sys.brk(START_BRK + 3000);
    p.mem.write32(START_BRK + 2000, 0xdeadbeef);
    p.sys.brk(START_BRK + 100);
    expect(p.mem.read32(START_BRK + 2000)).toBe(0xdeadbeef);
  });

  it("growth must leave one page below the next mapping; past that it returns the old break", () => {
    const { p } = boot();
    const next = START_BRK + 16 * PAGE;
    expect(p.sys.mmap(next, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)).toBe(next);
    expect(p.sys.brk(START_BRK + 15 * PAGE)).toBe(START_BRK + 15 * PAGE);
    expect(p.sys.brk(START_BRK + 15 * PAGE + 1)).toBe(START_BRK + 15 * PAGE);
    expect(p.sys.brk(START_BRK + 16 * PAGE)).toBe(START_BRK + 15 * PAGE);
  });

  it("growth beyond RLIMIT_DATA fails", () => {
    const { p } = boot();
    p.setrlimit("data", 8 * PAGE);
    expect(p.sys.brk(START_BRK + 8 * PAGE)).toBe(START_BRK + 8 * PAGE);
    expect(p.sys.brk(START_BRK + 9 * PAGE)).toBe(START_BRK + 8 * PAGE);
  });

  it("growth fails when commit is refused (overcommit mode 2)", () => {
    const { m, p } = boot({ overcommit: { mode: 2, ratio: 10 } });
    const limitKb = meminfo(m, "CommitLimit");
    const committedKb = meminfo(m, "Committed_AS");
    const room = ((limitKb - committedKb) / 4) * PAGE;
    expect(p.sys.brk(START_BRK + room + PAGE)).toBe(START_BRK);
    expect(p.sys.brk(START_BRK + room)).toBe(START_BRK + room);
    expect(meminfo(m, "Committed_AS")).toBe(limitKb);
  });

  it("after mprotect splits the heap, shrinking to the start removes every piece", () => {
    const { p } = boot();
    p.sys.brk(START_BRK + 4 * PAGE);
    expect(p.sys.mprotect(START_BRK + PAGE, PAGE, PROT_READ)).toBe(0);
    expect(mapsLines(p.proc.maps()).filter((l) => l.endsWith("[heap]"))).toHaveLength(3);
    expect(p.sys.brk(START_BRK)).toBe(START_BRK);
    expect(p.proc.maps()).not.toContain("[heap]");
  });

  it("maps names the heap [heap]; no heap VMA exists while brk == start", () => {
    const { p } = boot();
    expect(p.proc.maps()).not.toContain("[heap]");
    p.sys.brk(START_BRK + 0x21000);
    const line = p.proc
      .maps()
      .split("\n")
      .find((l) => l.endsWith("[heap]"))!;
    expect(line).toBe(`555555559000-55555557a000 rw-p 00000000 00:00 0${" ".repeat(26)}[heap]`);
    expect(line.indexOf("[heap]")).toBe(73);
  });
});
