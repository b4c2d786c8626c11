import { describe, expect, it } from "vitest";
import { PG_anon } from "../../../kernel/mm/memmap.ts";
import {
  BusError,
  ConfigError,
  EINVAL,
  ENOMEM,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGETLB,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  PROT_READ,
  PROT_WRITE,
  parseMeminfo,
} from "../../../sim/index.ts";

const HPAGE = 2 << 20;
const BASE = 0x200000000;
const RW = PROT_READ | PROT_WRITE;
const HUGE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;

function pool(m: Machine): [total: number, free: number, rsvd: number] {
  const v = parseMeminfo(m.proc.meminfo());
  return [v.HugePages_Total as number, v.HugePages_Free as number, v.HugePages_Rsvd as number];
}

function smapsField(text: string, key: string): number[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${key}:`))
    .map((l) => Number(l.split(/\s+/)[1]));
}

function boot(hugePages: number) {
  const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3, hugePages });
  return { m, p: m.spawn("t") };
}

describe("hugetlb pool", () => {
  it("is sized at boot and shows in meminfo in Linux's format", () => {
    const { m } = boot(4);
    const text = m.proc.meminfo();
    expect(text).toContain("HugePages_Total:       4\nHugePages_Free:        4\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n");
    expect(text).toContain("Hugepagesize:       2048 kB\nHugetlb:            8192 kB\n");
    m.check("hugetlb");
  });

  it("refuses a bad boot size", () => {
    expect(() => Machine.boot({ ramBytes: 32 << 20, hugePages: 17 })).toThrow(ConfigError);
    expect(() => Machine.boot({ ramBytes: 32 << 20, hugePages: -1 })).toThrow(ConfigError);
    expect(() => Machine.boot({ ramBytes: 32 << 20, hugePages: 1, maxOrder: 8 })).toThrow(ConfigError);
  });

  it("grows from the buddy and shrinks by free unreserved pages only", () => {
    const { m, p } = boot(0);
    const before = m.kernel.buddy.nrFreePages();
    expect(m.kernel.setNrHugepages(3)).toBe(3);
    expect(m.kernel.buddy.nrFreePages()).toBe(before - 3 * 512);
    expect(p.sys.mmap(0, 2 * HPAGE, RW, HUGE)).toBeGreaterThan(0);
    expect(pool(m)).toEqual([3, 3, 2]);
    expect(m.kernel.setNrHugepages(0)).toBe(2);
    expect(pool(m)).toEqual([2, 2, 2]);
    expect(m.kernel.buddy.nrFreePages()).toBe(before - 2 * 512);
    m.check();
  });

  it("stops growing when the buddy has no order-9 block left", () => {
    const { m } = boot(0);
    const got = m.kernel.setNrHugepages(1000);
    expect(got).toBeLessThan(16);
    expect(got).toBeGreaterThan(0);
    expect(pool(m)[0]).toBe(got);
    m.check();
  });
});

describe("MAP_HUGETLB", () => {
  it("counts the pool through mmap, touch, munmap", () => {
    const { m, p } = boot(4);
    const a = p.sys.mmap(0, 3 * HPAGE - 4096, RW, HUGE | MAP_HUGE_2MB);
    expect(a % HPAGE).toBe(0);
    expect(pool(m)).toEqual([4, 4, 3]);
    p.mem.write32(a + 5, 0xdeadbeef);
    expect(pool(m)).toEqual([4, 3, 2]);
    expect(p.mem.read32(a + 5)).toBe(0xdeadbeef);
    expect(p.mem.read32(a + HPAGE + 8)).toBe(0);
    expect(pool(m)).toEqual([4, 2, 1]);
    m.check();
    expect(p.sys.munmap(a + HPAGE, HPAGE)).toBe(0);
    expect(pool(m)).toEqual([4, 3, 1]);
    expect(p.sys.munmap(a, 3 * HPAGE)).toBe(0);
    expect(pool(m)).toEqual([4, 4, 0]);
    m.check();
  });

  it("is ENOMEM when free minus reserved cannot cover the mapping", () => {
    const { m, p } = boot(3);
    expect(p.sys.mmap(0, 2 * HPAGE, RW, HUGE)).toBeGreaterThan(0);
    expect(p.sys.mmap(0, 2 * HPAGE, RW, HUGE)).toBe(-ENOMEM);
    expect(p.sys.mmap(0, HPAGE, RW, HUGE)).toBeGreaterThan(0);
    expect(pool(m)).toEqual([3, 3, 3]);
    const { p: q } = boot(0);
    expect(q.sys.mmap(0, HPAGE, RW, HUGE)).toBe(-ENOMEM);
  });

  it("refuses other page sizes and unaligned fixed addresses", () => {
    const { p } = boot(2);
    expect(p.sys.mmap(0, HPAGE, RW, HUGE | MAP_HUGE_1GB)).toBe(-EINVAL);
    expect(p.sys.mmap(BASE + 4096, HPAGE, RW, HUGE | MAP_FIXED)).toBe(-EINVAL);
    expect(p.sys.mmap(BASE, HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
  });

  it("maps one 2 MiB leaf per page and shows it in smaps", () => {
    const { m, p } = boot(2);
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, HUGE | MAP_FIXED | MAP_POPULATE)).toBe(BASE);
    expect(pool(m)).toEqual([2, 0, 0]);
    const smaps = p.proc.smaps();
    expect(smapsField(smaps, "KernelPageSize")).toContain(2048);
    expect(smapsField(smaps, "MMUPageSize")).toContain(2048);
    expect(smapsField(smaps, "Private_Hugetlb")).toContain(4096);
    expect(smapsField(smaps, "Shared_Hugetlb")).toEqual(smapsField(smaps, "Shared_Hugetlb").map(() => 0));
    expect(smaps).toMatch(/VmFlags: rd wr mr mw me de ht \n/);
    expect(p.proc.status()).toContain("RssAnon:\t       0 kB");
    m.check();
  });

  it("refuses a cut inside a huge page: munmap, mprotect EINVAL; madvise EINVAL", () => {
    const { m, p } = boot(2);
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
    p.mem.write8(BASE, 1);
    expect(p.sys.munmap(BASE + 4096, 4096)).toBe(-EINVAL);
    expect(p.sys.munmap(BASE, HPAGE + 4096)).toBe(-EINVAL);
    expect(p.sys.mprotect(BASE, 4096, PROT_READ)).toBe(-EINVAL);
    expect(p.sys.madvise(BASE, HPAGE, MADV_DONTNEED)).toBe(-EINVAL);
    expect(p.sys.mprotect(BASE, HPAGE, PROT_READ)).toBe(0);
    expect(p.mem.read8(BASE)).toBe(1);
    expect(p.sys.munmap(BASE, HPAGE)).toBe(0);
    expect(pool(m)).toEqual([2, 2, 1]);
    m.check();
  });

  it("fork shares private pages COW and copies a 2 MiB page from the pool at the first write", () => {
    const { m, p } = boot(3);
    expect(p.sys.mmap(BASE, HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
    p.mem.write32(BASE + 100, 7);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect(pool(m)).toEqual([3, 2, 0]);
    expect(c.mem.read32(BASE + 100)).toBe(7);
    c.mem.write32(BASE + 100, 8);
    expect(pool(m)).toEqual([3, 1, 0]);
    expect(m.kernel.hugetlb.stats.cowCopies).toBe(1);
    expect(p.mem.read32(BASE + 100)).toBe(7);
    expect(c.mem.read32(BASE + 100)).toBe(8);
    // The parent is alone on its page again: the write reuses it.
    p.mem.write32(BASE + 100, 9);
    expect(m.kernel.hugetlb.stats.cowCopies).toBe(1);
    m.check();
    c.exit(0);
    expect(pool(m)).toEqual([3, 2, 0]);
    m.check();
  });

  it("a child faulting an unreserved page finds the pool empty: SIGBUS", () => {
    const { m, p } = boot(2);
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    // The parent's two reservations hold both free pages: the child owns none.
    expect(() => c.mem.write8(BASE, 1)).toThrow(BusError);
    p.mem.write8(BASE, 1);
    p.mem.write8(BASE + HPAGE, 1);
    expect(pool(m)).toEqual([2, 0, 0]);
    m.check();
  });

  it("a COW with the pool empty gives the writer SIGBUS", () => {
    const { m, p } = boot(1);
    expect(p.sys.mmap(BASE, HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
    p.mem.write8(BASE, 3);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect(() => c.mem.write8(BASE, 4)).toThrow(BusError);
    expect(p.mem.read8(BASE)).toBe(3);
    m.check();
  });

  it("MAP_SHARED is populated at mmap and shared with a fork child, Shared_Hugetlb in smaps", () => {
    const { m, p } = boot(3);
    const SHARED = MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED;
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, SHARED | MAP_NORESERVE)).toBe(BASE);
    expect(pool(m)).toEqual([3, 1, 0]);
    expect(p.sys.mmap(BASE + 4 * HPAGE, 2 * HPAGE, RW, SHARED)).toBe(-ENOMEM);
    p.mem.write32(BASE + HPAGE, 5);
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.mem.write32(BASE + HPAGE, 6);
    expect(p.mem.read32(BASE + HPAGE)).toBe(6);
    c.mem.write32(BASE, 7);
    expect(p.mem.read32(BASE)).toBe(7);
    expect(pool(m)).toEqual([3, 1, 0]);
    expect(smapsField(c.proc.smaps(), "Shared_Hugetlb")).toContain(4096);
    expect(c.proc.maps()).toContain("rw-s");
    m.check();
    c.exit(0);
    expect(p.sys.munmap(BASE, 2 * HPAGE)).toBe(0);
    expect(pool(m)).toEqual([3, 3, 0]);
    m.check();
  });

  it("MAP_NORESERVE reserves nothing and faults from free pages", () => {
    const { m, p } = boot(1);
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, HUGE | MAP_FIXED | MAP_NORESERVE)).toBe(BASE);
    expect(pool(m)).toEqual([1, 1, 0]);
    p.mem.write8(BASE, 1);
    expect(() => p.mem.write8(BASE + HPAGE, 1)).toThrow(BusError);
    // SIGBUS killed the process: its page went back to the pool.
    expect(p.state).toBe("killed");
    expect(pool(m)).toEqual([1, 1, 0]);
    m.check();
  });
});

describe("the hugetlb checker", () => {
  function mapped() {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 1, hugePages: 3 });
    const p = m.spawn("t");
    expect(p.sys.mmap(BASE, 2 * HPAGE, RW, HUGE | MAP_FIXED)).toBe(BASE);
    p.mem.write8(BASE, 1);
    return { m, p };
  }

  it("reports free + in use differing from the total (HUGETLB-1)", () => {
    const { m } = mapped();
    m.kernel.hugetlb.free--;
    expect(() => m.check("hugetlb")).toThrow(/HUGETLB-1.*total 3, free 1 \(list 2\), counted free 2 \+ in use 1/);
  });

  it("reports more reservations than free pages (HUGETLB-2)", () => {
    const { m } = mapped();
    m.kernel.hugetlb.rsvd = 3;
    expect(() => m.check("hugetlb")).toThrow(/HUGETLB-2.*3 reserved, 2 free/);
  });

  it("reports a pool page marked anonymous (HUGETLB-3)", () => {
    const { m, p } = mapped();
    const head = p.mm.pt.ptePfn(p.mm.pt.lookup(BASE));
    m.kernel.memmap.setFlag(head, PG_anon);
    expect(() => m.check("hugetlb")).toThrow(/HUGETLB-3/);
  });

  it("reports a free pool page that is held (HUGETLB-4)", () => {
    const { m, p } = mapped();
    const head = p.mm.pt.ptePfn(p.mm.pt.lookup(BASE));
    expect(p.sys.munmap(BASE, HPAGE)).toBe(0);
    m.kernel.memmap.setRefcount(head, 2);
    expect(() => m.check("hugetlb")).toThrow(/HUGETLB-4.*has refcount 2, mapcount 0/);
  });
});
