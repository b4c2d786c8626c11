import { describe, expect, it } from "vitest";
import {
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SEGV_ACCERR,
  SEGV_MAPERR,
  SIGSEGV,
} from "../../sim/index.ts";
import { boot, meminfo, PAGE, START_BRK, segv } from "./helpers.ts";

const RW = PROT_READ | PROT_WRITE;
const PA = MAP_PRIVATE | MAP_ANONYMOUS;
const BASE = 0x100000000;

function vmstat(m: ReturnType<typeof boot>["m"], key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  return Number(line?.split(" ")[1]);
}

function rssKb(p: ReturnType<typeof boot>["p"]): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(p.proc.status())?.[1]);
}

describe("faults (LINUX.md: faults and the stack)", () => {
  it("no VMA at the address: SIGSEGV, si_code SEGV_MAPERR (1), si_addr the exact byte", () => {
    const { p } = boot();
    const e = segv(() => p.mem.read8(BASE + 77));
    expect([e.signo, e.code, e.addr]).toEqual([SIGSEGV, 1, BASE + 77]);
    expect(SEGV_MAPERR).toBe(1);
  });
  it("a VMA that forbids the access: SEGV_ACCERR (2)", () => {
    const { p } = boot();
    p.sys.mmap(BASE, PAGE, PROT_READ, PA | MAP_FIXED, -1, 0);
    const e = segv(() => p.mem.write8(BASE + 5, 1));
    expect([e.code, e.addr]).toEqual([SEGV_ACCERR, BASE + 5]);
    expect(SEGV_ACCERR).toBe(2);
  });
  it("the first read of an untouched private page maps the zero page: Rss unchanged; the first write allocates", () => {
    const { m, p } = boot();
    p.sys.mmap(BASE, 4 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    const rss0 = rssKb(p);
    const f0 = vmstat(m, "pgfault");
    expect(p.mem.read32(BASE + PAGE)).toBe(0);
    expect(rssKb(p)).toBe(rss0);
    expect(vmstat(m, "pgfault")).toBe(f0 + 1);
    p.mem.write32(BASE + PAGE, 9);
    expect(rssKb(p)).toBe(rss0 + 4);
    expect(vmstat(m, "pgfault")).toBe(f0 + 2);
    expect(vmstat(m, "pgmajfault")).toBe(0);
    expect(p.mem.read32(BASE + PAGE)).toBe(9);
  });
  it("each fault counts in pgfault and the process's minflt", () => {
    const { p } = boot();
    p.sys.mmap(BASE, 8 * PAGE, RW, PA | MAP_FIXED, -1, 0);
    for (let i = 0; i < 8; i++) p.mem.write8(BASE + i * PAGE, 1);
    expect(p.minflt).toBe(8);
  });
  it("touching just below [stack] grows it; far below is SIGSEGV", () => {
    const { p } = boot();
    const stackStart = 0x7ffffffde000;
    p.mem.write8(stackStart - 1, 3);
    expect(p.proc.maps()).toContain(`${(stackStart - PAGE).toString(16)}-7ffffffff000 rw-p`);
    const e = segv(() => p.mem.read8(stackStart - (16 << 20)));
    expect(e.code).toBe(SEGV_MAPERR);
  });
  it("out of memory during a fault kills the process with SIGKILL and releases what it held", () => {
    const { m, p } = boot({ ramBytes: 4 << 20, overcommit: { mode: 1, ratio: 50 } });
    m.kernel.drainPcp();
    const free0 = meminfo(m, "MemFree");
    const a = p.sys.mmap(0, 64 << 20, RW, PA, -1, 0);
    let killed: unknown;
    try {
      for (let off = 0; off < 64 << 20; off += PAGE) p.mem.write8(a + off, 1);
    } catch (e) {
      killed = e;
    }
    expect((killed as { signo: number }).signo).toBe(9);
    expect(p.state).toBe("killed");
    expect(p.exitSignal).toBe(9);
    m.kernel.drainPcp();
    expect(meminfo(m, "MemFree")).toBeGreaterThanOrEqual(free0 - 8);
    m.check();
  });
});

describe("overcommit (LINUX.md: overcommit)", () => {
  it("mode 1: every request succeeds; Committed_AS still grows", () => {
    const { m, p } = boot({ overcommit: { mode: 1, ratio: 50 } });
    const c0 = meminfo(m, "Committed_AS");
    expect(p.sys.mmap(0, 2 ** 40, RW, PA, -1, 0)).toBeGreaterThan(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 2 ** 30);
  });
  it("mode 0: a single request fails only if larger than RAM + swap", () => {
    const { m, p } = boot({ overcommit: { mode: 0, ratio: 50 }, swapBytes: 8 << 20 });
    const totalKb = meminfo(m, "MemTotal") + 8 * 1024;
    expect(p.sys.mmap(0, totalKb * 1024 + PAGE, RW, PA, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, totalKb * 1024, RW, PA, -1, 0)).toBeGreaterThan(0);
    expect(p.sys.mmap(0, totalKb * 1024, RW, PA, -1, 0)).toBeGreaterThan(0);
  });
  it("mode 2: CommitLimit = MemTotal * ratio / 100 + SwapTotal; past it ENOMEM", () => {
    const { m, p } = boot({ overcommit: { mode: 2, ratio: 50 }, swapBytes: 4 << 20 });
    expect(meminfo(m, "CommitLimit")).toBe(Math.floor((meminfo(m, "MemTotal") / 4) * 0.5) * 4 + 4096);
    expect(meminfo(m, "SwapTotal")).toBe(4096);
    const room = (meminfo(m, "CommitLimit") - meminfo(m, "Committed_AS")) * 1024;
    expect(p.sys.mmap(0, room + PAGE, RW, PA, -1, 0)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, room, RW, PA, -1, 0)).toBeGreaterThan(0);
    expect(p.sys.mmap(0, PAGE, RW, PA, -1, 0)).toBe(-ENOMEM);
  });
  it("charged: private writable, brk, shared anonymous; not charged: read-only, PROT_NONE, NORESERVE", () => {
    const { m, p } = boot();
    const c = () => meminfo(m, "Committed_AS");
    let c0 = c();
    p.sys.mmap(0, 4 * PAGE, RW, PA, -1, 0);
    expect(c() - c0).toBe(16);
    c0 = c();
    p.sys.brk(START_BRK + 2 * PAGE);
    expect(c() - c0).toBe(8);
    c0 = c();
    p.sys.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect(c() - c0).toBe(8);
    c0 = c();
    p.sys.mmap(0, 4 * PAGE, PROT_READ, PA, -1, 0);
    p.sys.mmap(0, 4 * PAGE, PROT_NONE, PA, -1, 0);
    p.sys.mmap(0, 4 * PAGE, RW, PA | MAP_NORESERVE, -1, 0);
    expect(c() - c0).toBe(0);
  });
  it("released by brk shrink and exit; MADV_DONTNEED leaves it unchanged", () => {
    const { m, p } = boot();
    const c0 = meminfo(m, "Committed_AS");
    p.sys.brk(START_BRK + 4 * PAGE);
    const a = p.sys.mmap(0, 4 * PAGE, RW, PA, -1, 0);
    p.mem.fill(a, 1, 4 * PAGE);
    p.sys.madvise(a, 4 * PAGE, 4);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 32);
    p.sys.brk(START_BRK + PAGE);
    expect(meminfo(m, "Committed_AS")).toBe(c0 + 20);
    p.exit(0);
    expect(meminfo(m, "Committed_AS")).toBe(c0 - 33 * 4);
  });
});
