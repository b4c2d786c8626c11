import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, type Machine, PROT_READ, PROT_WRITE, ProcessKilled } from "../../sim/index.ts";
import { bootMachine } from "../support/boot.ts";

const PAGE = 4096;
const memFree = (m: Machine) => Number(/MemFree:\s+(\d+)/.exec(m.proc.meminfo())?.[1]);

describe("exhaustion and leaks", () => {
  it("a process that maps and touches a lot, then exits: MemFree, Slab, PageTables and Committed_AS return", () => {
    const m = bootMachine({ ramBytes: 64 << 20 });
    m.kernel.dropCaches();
    const before = m.proc.meminfo();
    const p = m.spawn("hog");
    for (let i = 0; i < 200; i++) {
      const len = (1 + (i % 7)) * PAGE;
      const a = p.sys.mmap(0, len, PROT_READ | PROT_WRITE, (i % 5 === 0 ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
      p.mem.fill(a, i & 255, len);
      if (i % 3 === 0) p.sys.munmap(a + PAGE, PAGE);
    }
    p.sys.brk(0x555555559000 + (8 << 20));
    p.mem.fill(0x555555559000, 1, 8 << 20);
    expect(memFree(m)).toBeLessThan(Number(/MemFree:\s+(\d+)/.exec(before)?.[1]) - 8 * 1024);
    p.exit(0);
    m.kernel.dropCaches();
    m.check();
    const pick = (t: string) =>
      ["MemFree", "Slab", "PageTables", "Committed_AS", "AnonPages", "Shmem"].map((k) => new RegExp(`${k}:\\s+(\\d+)`).exec(t)?.[1]);
    expect(pick(m.proc.meminfo())).toEqual(pick(before));
  });

  it("touching until RAM runs out kills only the hog (SIGKILL, OOM report); the machine keeps working", () => {
    const m = bootMachine({ ramBytes: 8 << 20, overcommit: { mode: 1, ratio: 50 } });
    const bystander = m.spawn("bystander");
    const b = bystander.sys.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bystander.mem.write32(b, 0xabcd);
    const hog = m.spawn("hog");
    const a = hog.sys.mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    let killed: ProcessKilled | null = null;
    try {
      for (let off = 0; off < 64 << 20; off += PAGE) hog.mem.write8(a + off, 1);
    } catch (e) {
      if (e instanceof ProcessKilled) killed = e;
      else throw e;
    }
    expect(killed?.signo).toBe(9);
    expect(hog.state).toBe("killed");
    expect(m.kernel.reports.map((r) => r.kind)).toContain("oom_kill");
    expect(m.kernel.reports.find((r) => r.kind === "oom_kill")?.text).toMatch(
      /^Out of memory: Killed process 2 \(hog\) total-vm:\d+kB, anon-rss:\d+kB/,
    );
    expect(bystander.mem.read32(b)).toBe(0xabcd);
    const again = m.spawn("after");
    const c = again.sys.mmap(0, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    again.mem.fill(c, 7, 64 * PAGE);
    m.check();
  });

  it("spawning until address-space ids or memory run out fails cleanly; exiting them all returns everything", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    m.kernel.dropCaches();
    const free0 = memFree(m);
    const procs = [];
    let err: Error | null = null;
    for (let i = 0; i < 5000; i++) {
      try {
        procs.push(m.spawn(`p${i}`));
      } catch (e) {
        err = e as Error;
        break;
      }
    }
    expect(err?.message).toMatch(/^spawn/);
    expect(procs.length).toBeGreaterThan(100);
    for (const p of procs) p.exit(0);
    m.kernel.dropCaches();
    m.check();
    expect(memFree(m)).toBe(free0);
  });
});
