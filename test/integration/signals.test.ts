import { describe, expect, it } from "vitest";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SEGV_ACCERR,
  SEGV_MAPERR,
  SegmentationFault,
  SIGSEGV,
  type SigInfo,
} from "../../sim/index.ts";
import { bootMachine } from "../support/boot.ts";

const PAGE = 4096;
const BASE = 0x100000000;

describe("user fault handlers (onSignal SIGSEGV)", () => {
  it("a handler that mprotects the page and retries: the access completes (a write barrier)", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("gc");
    p.sys.mmap(BASE, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    const dirty: number[] = [];
    p.onSignal(SIGSEGV, (info) => {
      const page = info.addr - (info.addr % PAGE);
      dirty.push((page - BASE) / PAGE);
      expect(p.sys.mprotect(page, PAGE, PROT_READ | PROT_WRITE)).toBe(0);
      return "retry";
    });
    p.mem.write32(BASE + 2 * PAGE + 8, 1);
    p.mem.write32(BASE + 2 * PAGE + 12, 2);
    p.mem.write32(BASE + 0 * PAGE, 3);
    expect(dirty).toEqual([2, 0]);
    expect(p.mem.read32(BASE + 2 * PAGE + 12)).toBe(2);
    expect(p.state).toBe("running");
  });

  it("the handler sees signo, code, the exact address and the access kind", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("h");
    p.sys.mmap(BASE, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    const infos: SigInfo[] = [];
    p.onSignal(SIGSEGV, (info) => {
      infos.push(info);
      if (info.code === SEGV_MAPERR) p.sys.mmap(BASE + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      else p.sys.mprotect(BASE, PAGE, PROT_READ);
      return "retry";
    });
    expect(p.mem.read8(BASE + 5)).toBe(0);
    p.mem.write8(BASE + PAGE + 7, 1);
    expect(infos).toEqual([
      { signo: SIGSEGV, code: SEGV_ACCERR, addr: BASE + 5, access: "read" },
      { signo: SIGSEGV, code: SEGV_MAPERR, addr: BASE + PAGE + 7, access: "write" },
    ]);
  });

  it("user-space demand loading: a handler maps missing pages and fills them", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("loader");
    p.onSignal(SIGSEGV, (info) => {
      const page = info.addr - (info.addr % PAGE);
      p.sys.mmap(page, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      p.mem.fill(page, (page / PAGE) & 0xff, PAGE);
      return "retry";
    });
    expect(p.mem.read8(BASE + 3 * PAGE + 100)).toBe(((BASE + 3 * PAGE) / PAGE) & 0xff);
  });

  it("a handler that retries without fixing anything twice in a row gets the default action", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("stubborn");
    let calls = 0;
    p.onSignal(SIGSEGV, () => {
      calls++;
      return "retry";
    });
    let err: unknown;
    try {
      p.mem.read8(BASE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SegmentationFault);
    expect(calls).toBe(2);
    expect(p.state).toBe("killed");
    expect(p.exitSignal).toBe(SIGSEGV);
    m.check();
  });

  it("a handler returning 'default' kills the process; removing the handler restores the default", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("d");
    p.onSignal(SIGSEGV, () => "default");
    expect(() => p.mem.read8(BASE)).toThrow(SegmentationFault);
    expect(p.state).toBe("killed");
    const q = m.spawn("e");
    q.onSignal(SIGSEGV, () => "retry");
    q.onSignal(SIGSEGV, null);
    expect(() => q.mem.read8(BASE)).toThrow(SegmentationFault);
  });

  it("a dead process's memory and syscalls raise clear errors, never touch reused frames", () => {
    const m = bootMachine({ ramBytes: 16 << 20 });
    const p = m.spawn("dead");
    p.sys.mmap(BASE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    p.mem.write8(BASE, 1);
    p.exit(3);
    expect(p.state).toBe("exited");
    expect(p.exitStatus).toBe(3);
    const q = m.spawn("reuse");
    q.sys.mmap(BASE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    q.mem.write8(BASE, 0x77);
    expect(() => p.mem.read8(BASE)).toThrow(/process \d+ \(dead\) has exited/);
    expect(() => p.mem.read32(BASE)).toThrow(/process \d+ \(dead\) has exited/);
    expect(() => p.mem.write32(BASE, 5)).toThrow(/process \d+ \(dead\) has exited/);
    expect(() => p.mem.write8(BASE, 5)).toThrow(/process \d+ \(dead\) has exited/);
    expect(() => p.sys.brk(0)).toThrow(/has exited; it cannot make system calls/);
    expect(q.mem.read8(BASE)).toBe(0x77);
    m.check();
  });
});
