/**
 * layers.onSpawn and layers.onExit (kernel/LAYERS.md) with xv6's USYSCALL
 * page, written with the kernel API `k` only (test/support/usyscall.ts):
 * each process reads its own pid there, cannot write it, forked children get
 * their own, and exit gives every frame back. A hook that throws is a
 * LayerFault naming it.
 */
import { describe, expect, it } from "vitest";
import {
  type LabTask,
  LayerFault,
  Machine,
  PROT_READ,
  PROT_WRITE,
  SEGV_ACCERR,
  SegmentationFault,
  SIGSEGV,
  type TaskHook,
} from "../../../sim/index.ts";
import { USYSCALL, usyscallExit, usyscallSpawn } from "../../support/usyscall.ts";

const EACCES = 13;

/** MemFree in kB after empty slabs and per-CPU pages went back (what is left is what is really held). */
function memFree(m: Machine): number {
  m.kernel.dropCaches();
  return Number(/^MemFree: +(\d+) kB$/m.exec(m.proc.meminfo())?.[1]);
}

/** The frame mapped at USYSCALL in `p`, or -1. */
function usyscallPfn(m: Machine, p: LabTask): number {
  const k = m.kernel.taskParts.k;
  const ptep = k.walk(p.mm, USYSCALL, "lookup");
  return ptep < 0 || (k.pteFlags(p.mm, ptep) & k.PTE_P) === 0 ? -1 : k.ptePfn(p.mm, ptep);
}

function boot(onSpawn: TaskHook = usyscallSpawn, onExit: TaskHook = usyscallExit): Machine {
  return Machine.boot({ ramBytes: 16 << 20, debugVm: 3, layers: { onSpawn, onExit } });
}

describe("onSpawn / onExit: xv6's USYSCALL page", () => {
  it("every process reads its own pid at USYSCALL, mapped read-only in a VMA of its own", () => {
    const m = boot();
    const p = m.spawn("a");
    const q = m.spawn("b");
    expect([p.pid, p.mem.read32(USYSCALL)]).toEqual([1, 1]);
    expect([q.pid, q.mem.read32(USYSCALL)]).toEqual([2, 2]);
    expect(p.proc.maps().split("\n")[0]).toBe("3fffffd000-3fffffe000 r--p 00000000 00:00 0 ");
    expect(p.proc.status()).toMatch(/^RssAnon:\s+4 kB$/m);
    m.check();
  });

  it("a user write to it is SIGSEGV with SEGV_ACCERR, and mprotect cannot make it writable (EACCES)", () => {
    const m = boot();
    const p = m.spawn("a");
    expect(p.sys.mprotect(USYSCALL, 4096, PROT_READ | PROT_WRITE)).toBe(-EACCES);
    let fault: unknown;
    try {
      p.mem.write32(USYSCALL, 99);
    } catch (e) {
      fault = e;
    }
    expect(fault).toBeInstanceOf(SegmentationFault);
    expect(fault).toMatchObject({ signo: SIGSEGV, code: SEGV_ACCERR, addr: USYSCALL });
    expect(p.state).not.toBe("running");
    m.check();
  });

  it("a forked child gets its own page with its own pid; the parent's is untouched", () => {
    const m = boot();
    const p = m.spawn("parent");
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect([c.pid, c.mem.read32(USYSCALL), p.mem.read32(USYSCALL)]).toEqual([2, 2, 1]);
    const frames = [usyscallPfn(m, p), usyscallPfn(m, c)];
    expect(frames[0]).not.toBe(frames[1]);
    expect(frames.map((pfn) => m.kernel.taskParts.k.pageRef(pfn))).toEqual([1, 1]);
    const g = c.fork();
    expect(g?.mem.read32(USYSCALL)).toBe(3);
    m.check();
  });

  it("onExit finds the page still mapped, unmaps and frees it; after every exit the free pages are what they were", () => {
    const freed: Array<[number, number]> = [];
    const onExit: TaskHook = (p, k) => {
      const pfn = k.unmapPage(p.mm, USYSCALL);
      if (pfn >= 0) k.putPage(p.mm, pfn);
      freed.push([pfn, k.pageRef(pfn)]);
    };
    const m = boot(usyscallSpawn, onExit);
    const start = memFree(m);
    const p = m.spawn("parent");
    p.mem.write32(p.libc.malloc(100), 1);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    const frames = [usyscallPfn(m, c), usyscallPfn(m, p)];
    c.exit(0);
    p.exit(0);
    // Each hook unmapped its own frame and dropped the last reference to it.
    expect(freed).toEqual(frames.map((pfn) => [pfn, 0]));
    m.check();
    expect(memFree(m)).toBe(start);
  });

  it("a process killed by SIGSEGV runs onExit too: nothing leaks", () => {
    const m = boot();
    const start = memFree(m);
    const p = m.spawn("a");
    expect(() => p.mem.write8(USYSCALL, 1)).toThrow(SegmentationFault);
    m.check();
    expect(memFree(m)).toBe(start);
  });
});

describe("a hook that throws", () => {
  it("onSpawn: a LayerFault naming the hook and the pid, with the error as its cause", () => {
    const err = new Error("no room for USYSCALL");
    const m = boot(() => {
      throw err;
    });
    let fault: unknown;
    try {
      m.spawn("a");
    } catch (e) {
      fault = e;
    }
    expect(fault).toBeInstanceOf(LayerFault);
    expect(fault).toMatchObject({ layer: "onSpawn", message: "onSpawn layer: the hook for pid 1 threw: no room for USYSCALL", cause: err });
  });

  it("onSpawn at fork: the same LayerFault, for the child's pid", () => {
    const m = boot((p, k) => {
      if (p.pid === 2) throw new Error("child refused");
      usyscallSpawn(p, k);
    });
    const p = m.spawn("a");
    expect(() => p.fork()).toThrow(new LayerFault("onSpawn", "the hook for pid 2 threw: child refused"));
  });

  it("onExit: a LayerFault naming the hook and the pid", () => {
    const m = boot(usyscallSpawn, (p) => {
      throw new Error(`cannot free USYSCALL of ${p.comm}`);
    });
    const p = m.spawn("a");
    expect(() => p.exit(0)).toThrow("onExit layer: the hook for pid 1 threw: cannot free USYSCALL of a");
  });
});

describe("k.insertVma with a name: a special mapping", () => {
  const named: TaskHook = (p, k) => {
    const flags = k.VM_READ | k.VM_WRITE | k.VM_MAYREAD | k.VM_MAYWRITE;
    if (k.insertVma(p.mm, 0x10_0000_0000, 0x10_0000_2000, flags, "[special]") === 0) throw new Error("no VMA");
  };

  it("maps shows its name; fork's copy keeps it; an anonymous neighbour with the same flags does not merge with it", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 3, layers: { onSpawn: (p, k) => (p.pid === 1 ? named(p, k) : undefined) } });
    const p = m.spawn("a");
    expect(p.sys.mmap(0x10_0000_2000, 4096, PROT_READ | PROT_WRITE, 0x32)).toBe(0x10_0000_2000);
    const lines = p.proc.maps().split("\n");
    expect(lines.slice(0, 2).map((l) => l.replace(/ +/g, " "))).toEqual([
      "1000000000-1000002000 rw-p 00000000 00:00 0 [special]",
      "1000002000-1000003000 rw-p 00000000 00:00 0 ",
    ]);
    const c = p.fork();
    expect(c?.proc.maps().split("\n")[0]?.replace(/ +/g, " ")).toBe("1000000000-1000002000 rw-p 00000000 00:00 0 [special]");
    m.check();
  });
});

describe("k reads a page table at every level", () => {
  it("pgd, tableEntry and pteLo/pteHi walk to the same leaf as walk(); a frame that is not one of mm's tables is a RangeError", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 3 });
    const k = m.kernel.taskParts.k;
    const p = m.spawn("a");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, 0x22);
    p.mem.write32(a, 1);
    let table = k.pgd(p.mm);
    for (let level = 4; level > 1; level--) {
      const ptep = k.tableEntry(p.mm, table, Math.floor(a / 2 ** (12 + 9 * (level - 1))) % 512);
      expect(k.pteFlags(p.mm, ptep) & (k.PTE_P | k.PTE_PS)).toBe(k.PTE_P);
      table = k.ptePfn(p.mm, ptep);
    }
    const leaf = k.tableEntry(p.mm, table, Math.floor(a / 4096) % 512);
    expect(leaf).toBe(k.walk(p.mm, a, "lookup"));
    expect([k.pteHi(p.mm, leaf) >>> 31, k.pteLo(p.mm, leaf) >>> 12]).toEqual([1, k.ptePfn(p.mm, leaf)]);
    const q = m.spawn("b");
    expect(() => k.tableEntry(q.mm, table, 0)).toThrow(RangeError);
    expect(() => k.tableEntry(p.mm, table, 512)).toThrow("k.tableEntry: index 512 is not 0..511");
    expect(() => k.pteLo(p.mm, k.ptePfn(p.mm, leaf) * 4096)).toThrow(RangeError);
  });
});

describe("k.clearAnonExclusive", () => {
  it("a faulted-in anonymous page is exclusive until fork's side clears the mark; a free frame panics", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 3 });
    const k = m.kernel.taskParts.k;
    const p = m.spawn("a");
    const a = p.sys.mmap(0, 4096, PROT_READ | PROT_WRITE, 0x22);
    p.mem.write32(a, 1);
    const pfn = k.ptePfn(p.mm, k.walk(p.mm, a, "lookup"));
    expect(k.anonExclusive(pfn)).toBe(1);
    k.clearAnonExclusive(pfn);
    expect(k.anonExclusive(pfn)).toBe(0);
    m.check();
    p.exit(0);
    m.kernel.drainPcp();
    expect(() => k.clearAnonExclusive(pfn)).toThrow(`k.clearAnonExclusive: frame 0x${pfn.toString(16)} is free`);
  });
});
