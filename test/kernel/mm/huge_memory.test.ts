import { describe, expect, it } from "vitest";
import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  parseMeminfo,
  SegmentationFault,
} from "../../../sim/index.ts";

const PAGE = 4096;
const HPAGE = 2 << 20;
/** A 2 MiB-aligned address far from everything else. */
const BASE = 0x200000000;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

function vmstat(m: Machine, key: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${key} `));
  if (line === undefined) throw new Error(`no vmstat line ${key}`);
  return Number(line.split(" ")[1]);
}

function anonHugeKb(m: Machine): number {
  return parseMeminfo(m.proc.meminfo()).AnonHugePages as number;
}

function smapsField(text: string, key: string): number[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${key}:`))
    .map((l) => Number(l.split(/\s+/)[1]));
}

/** A machine with THP "always" and a process with 4 MiB mapped at BASE, every page written with its index. */
function filled(opts: { thp?: "always" | "madvise" | "never"; bytes?: number; debugVm?: number } = {}) {
  const m = Machine.boot({ ramBytes: 32 << 20, debugVm: opts.debugVm ?? 3 });
  m.kernel.thp.enabled = opts.thp ?? "always";
  const p = m.spawn("t");
  const bytes = opts.bytes ?? 2 * HPAGE;
  expect(p.sys.mmap(BASE, bytes, RW, ANON)).toBe(BASE);
  for (let off = 0; off < bytes; off += PAGE) p.mem.write32(BASE + off, off / PAGE + 1);
  return { m, p, bytes };
}

function readsBack(p: ReturnType<typeof filled>["p"], from: number, to: number): boolean {
  for (let off = from; off < to; off += PAGE) if (p.mem.read32(BASE + off) !== off / PAGE + 1) return false;
  return true;
}

describe("transparent huge pages: faults", () => {
  it("Machine.boot takes thp and refuses a mode that is not one of the three", () => {
    expect(Machine.boot({ ramBytes: 16 << 20, thp: "always" }).kernel.thp.enabled).toBe("always");
    expect(Machine.boot({ ramBytes: 16 << 20 }).kernel.thp.enabled).toBe("madvise");
    expect(() => Machine.boot({ ramBytes: 16 << 20, thp: "sometimes" as "always" })).toThrow(
      'Machine.boot: thp must be "always", "madvise" or "never", got sometimes',
    );
  });

  it("a 4 MiB aligned region under 'always' takes two huge faults and shows 4096 kB AnonHugePages", () => {
    const { m, p } = filled();
    expect(p.minflt).toBe(2);
    expect(vmstat(m, "thp_fault_alloc")).toBe(2);
    expect(vmstat(m, "thp_fault_fallback")).toBe(0);
    expect(vmstat(m, "nr_anon_transparent_hugepages")).toBe(2);
    expect(anonHugeKb(m)).toBe(4096);
    expect(smapsField(p.proc.smaps(), "AnonHugePages")).toContain(4096);
    expect(smapsField(p.proc.smaps(), "THPeligible")).toContain(1);
    expect(p.mm.rssAnon).toBe(1024);
    expect(readsBack(p, 0, 2 * HPAGE)).toBe(true);
    m.check();
  });

  it("touching every 4 KiB page of 4 MiB of huge pages costs 2 TLB misses, not 1024", () => {
    const misses = (thp: "always" | "never") => {
      const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 1 });
      m.kernel.thp.enabled = thp;
      const p = m.spawn("t");
      p.sys.mmap(BASE, 2 * HPAGE, RW, ANON | MAP_POPULATE);
      const stats = m.kernel.mmu.tlb.stats;
      const before = stats.misses;
      for (let off = 0; off < 2 * HPAGE; off += PAGE) p.mem.read8(BASE + off);
      return { misses: stats.misses - before, hugeHits: m.kernel.mmu.tlb.huge.stats.hits };
    };
    expect(misses("always")).toEqual({ misses: 2, hugeHits: 1022 });
    expect(misses("never")).toEqual({ misses: 1024, hugeHits: 0 });
  });

  it("MADV_NOHUGEPAGE under 'always' gives 4 KiB faults", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 2 });
    m.kernel.thp.enabled = "always";
    const p = m.spawn("t");
    p.sys.mmap(BASE, HPAGE, RW, ANON);
    expect(p.sys.madvise(BASE, HPAGE, MADV_NOHUGEPAGE)).toBe(0);
    for (let off = 0; off < HPAGE; off += PAGE) p.mem.write8(BASE + off, 1);
    expect(p.minflt).toBe(512);
    expect(vmstat(m, "thp_fault_alloc")).toBe(0);
    expect(p.proc.smaps()).toContain("VmFlags: rd wr mr mw me ac nh");
    expect(smapsField(p.proc.smaps(), "THPeligible")).toContain(0);
  });

  it("under 'madvise' only a VMA marked MADV_HUGEPAGE gets huge pages", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3 });
    expect(m.kernel.thp.enabled).toBe("madvise");
    const p = m.spawn("t");
    p.sys.mmap(BASE, 2 * HPAGE, RW, ANON);
    expect(p.sys.madvise(BASE + HPAGE, HPAGE, MADV_HUGEPAGE)).toBe(0);
    p.mem.write8(BASE, 1);
    p.mem.write8(BASE + HPAGE, 1);
    expect(vmstat(m, "thp_fault_alloc")).toBe(1);
    expect(anonHugeKb(m)).toBe(2048);
    expect(p.mm.rssAnon).toBe(513);
    m.check();
  });

  it("a range that is not 2 MiB aligned inside the VMA falls back to 4 KiB pages", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3 });
    m.kernel.thp.enabled = "always";
    const p = m.spawn("t");
    p.sys.mmap(BASE + PAGE, HPAGE, RW, ANON);
    p.mem.write8(BASE + PAGE, 1);
    expect(vmstat(m, "thp_fault_alloc")).toBe(0);
    expect(p.mm.rssAnon).toBe(1);
  });

  it("a failed order-9 allocation counts thp_fault_fallback and maps a 4 KiB page", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3 });
    m.kernel.thp.enabled = "always";
    const p = m.spawn("t");
    p.sys.mmap(BASE, HPAGE, RW, ANON);
    m.faults.failPageAlloc({ nth: 1 });
    p.mem.write8(BASE, 7);
    expect(vmstat(m, "thp_fault_fallback")).toBe(1);
    expect(vmstat(m, "thp_fault_alloc")).toBe(0);
    expect(p.mm.rssAnon).toBe(1);
    expect(p.mem.read8(BASE)).toBe(7);
    m.check();
  });

  it("the huge page is zeroed and a read fault maps it too (no huge zero page)", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 3 });
    m.kernel.thp.enabled = "always";
    const p = m.spawn("t");
    p.sys.mmap(BASE, HPAGE, RW, ANON);
    expect(p.mem.read32(BASE + 12345 * 4)).toBe(0);
    expect(vmstat(m, "thp_fault_alloc")).toBe(1);
    expect(vmstat(m, "zero_page_maps")).toBe(0);
  });
});

describe("transparent huge pages: splits", () => {
  it("munmap of 4 KiB in the middle splits the leaf; the rest reads back and the hole faults", () => {
    const { m, p } = filled();
    expect(p.sys.munmap(BASE + 100 * PAGE, PAGE)).toBe(0);
    expect(vmstat(m, "thp_split_pmd")).toBe(1);
    expect(vmstat(m, "thp_split_page")).toBe(1);
    expect(anonHugeKb(m)).toBe(2048);
    expect(p.mm.rssAnon).toBe(1023);
    expect(readsBack(p, 0, 100 * PAGE)).toBe(true);
    expect(readsBack(p, 101 * PAGE, 2 * HPAGE)).toBe(true);
    expect(() => p.mem.read8(BASE + 100 * PAGE)).toThrow(SegmentationFault);
    m.check();
  });

  it("munmap of a whole huge page frees its 512 frames without a split", () => {
    const { m, p } = filled();
    const free = m.kernel.pages.nrFreePages() + m.kernel.pages.nrPcpPages();
    expect(p.sys.munmap(BASE, HPAGE)).toBe(0);
    expect(vmstat(m, "thp_split_pmd")).toBe(0);
    expect(m.kernel.pages.nrFreePages() + m.kernel.pages.nrPcpPages() - free).toBe(512);
    expect(anonHugeKb(m)).toBe(2048);
    m.check();
  });

  it("mprotect of part of a huge page splits it and protects only that part", () => {
    const { m, p } = filled();
    expect(p.sys.mprotect(BASE + 8 * PAGE, 8 * PAGE, PROT_READ)).toBe(0);
    expect(vmstat(m, "thp_split_pmd")).toBe(1);
    p.mem.write8(BASE + 16 * PAGE, 1);
    expect(readsBack(p, 17 * PAGE, 2 * HPAGE)).toBe(true);
    expect(readsBack(p, 0, 16 * PAGE)).toBe(true);
    m.check();
    expect(() => p.mem.write8(BASE + 9 * PAGE, 1)).toThrow(SegmentationFault);
  });

  it("MADV_DONTNEED of 4 KiB splits the leaf and that page reads zero", () => {
    const { m, p } = filled();
    expect(p.sys.madvise(BASE + 3 * PAGE, PAGE, MADV_DONTNEED)).toBe(0);
    expect(vmstat(m, "thp_split_pmd")).toBe(1);
    expect(p.mem.read32(BASE + 3 * PAGE)).toBe(0);
    expect(readsBack(p, 4 * PAGE, 2 * HPAGE)).toBe(true);
    m.check();
  });

  it("mremap to a 2 MiB-aligned address moves the leaves whole", () => {
    const { m, p } = filled();
    const to = BASE + 8 * HPAGE;
    expect(p.sys.mremap(BASE, 2 * HPAGE, 2 * HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to)).toBe(to);
    expect(vmstat(m, "thp_split_pmd")).toBe(0);
    expect(anonHugeKb(m)).toBe(4096);
    for (let off = 0; off < 2 * HPAGE; off += PAGE) expect(p.mem.read32(to + off)).toBe(off / PAGE + 1);
    m.check();
  });

  it("mremap to an address that is not 2 MiB aligned splits the leaves and keeps the bytes", () => {
    const { m, p } = filled();
    const to = BASE + 8 * HPAGE + PAGE;
    expect(p.sys.mremap(BASE, 2 * HPAGE, 2 * HPAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to)).toBe(to);
    expect(vmstat(m, "thp_split_pmd")).toBe(2);
    expect(anonHugeKb(m)).toBe(0);
    for (let off = 0; off < 2 * HPAGE; off += PAGE) expect(p.mem.read32(to + off)).toBe(off / PAGE + 1);
    m.check();
  });
});

describe("transparent huge pages: fork", () => {
  it("fork shares the huge pages; a child write copies 4 KiB and the parent's bytes stay", () => {
    const { m, p } = filled();
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    expect(vmstat(m, "nr_anon_transparent_hugepages")).toBe(2);
    expect(c.mm.rssAnon).toBe(1024);
    c.mem.write32(BASE + 5 * PAGE, 0xdead);
    expect(c.mem.read32(BASE + 5 * PAGE)).toBe(0xdead);
    expect(p.mem.read32(BASE + 5 * PAGE)).toBe(6);
    expect(readsBack(p, 0, 2 * HPAGE)).toBe(true);
    // The shared page is split in both address spaces (memsim splits the page with its leaves).
    expect(vmstat(m, "thp_split_page")).toBe(1);
    expect(vmstat(m, "thp_split_pmd")).toBe(2);
    expect(vmstat(m, "cow_copies")).toBe(1);
    expect(anonHugeKb(m)).toBe(2048);
    m.check();
  });

  it("after the child exits the parent writes its huge page in place", () => {
    const { m, p } = filled();
    const c = p.fork();
    if (c === null) throw new Error("fork failed");
    c.exit(0);
    p.mem.write32(BASE, 99);
    expect(vmstat(m, "thp_split_pmd")).toBe(0);
    expect(vmstat(m, "cow_reuses")).toBe(1);
    expect(p.mem.read32(BASE)).toBe(99);
    m.check();
  });
});

describe("khugepaged", () => {
  it("collapses 512 touched 4 KiB pages of an aligned range into one huge page", () => {
    const { m, p } = filled({ thp: "never", bytes: HPAGE + 2 * PAGE, debugVm: 2 });
    expect(p.mm.rssAnon).toBe(514);
    m.kernel.thp.enabled = "always";
    const free = m.kernel.pages.nrFreePages() + m.kernel.pages.nrPcpPages();
    const tables = p.mm.pt.nrTables;
    expect(m.kernel.khugepaged()).toBe(1);
    expect(vmstat(m, "thp_collapse_alloc")).toBe(1);
    expect(anonHugeKb(m)).toBe(2048);
    expect(p.mm.rssAnon).toBe(514);
    expect(p.mm.pt.nrTables).toBe(tables - 1);
    // The 512 old pages and their table went back; the huge page took 512.
    expect(m.kernel.pages.nrFreePages() + m.kernel.pages.nrPcpPages() - free).toBe(1);
    expect(readsBack(p, 0, HPAGE + 2 * PAGE)).toBe(true);
    expect(m.kernel.khugepaged()).toBe(0);
    m.check();
  });

  it("leaves a range with one untouched page alone", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, debugVm: 2 });
    const p = m.spawn("t");
    p.sys.mmap(BASE, HPAGE, RW, ANON);
    for (let off = PAGE; off < HPAGE; off += PAGE) p.mem.write8(BASE + off, 1);
    m.kernel.thp.enabled = "always";
    expect(m.kernel.khugepaged()).toBe(0);
    expect(vmstat(m, "thp_collapse_alloc")).toBe(0);
  });
});

describe("the thp checker", () => {
  it("reports a tail frame whose mapcount disagrees with the leaves (THP-2)", () => {
    const { m, p } = filled({ debugVm: 1 });
    const head = p.mm.pt.ptePfn(p.mm.pt.lookup(BASE));
    m.kernel.memmap.setMapcount(head + 3, 2);
    expect(() => m.check("thp")).toThrow(/THP-2.*frame .* has mapcount 2, 1 leaves map it/);
  });

  it("reports a wrong nr_anon_transparent_hugepages (THP-3)", () => {
    const { m } = filled({ debugVm: 1 });
    m.kernel.thp.stats.nrAnonThps++;
    expect(() => m.check("thp")).toThrow(/THP-3.*is 3, 2 huge pages counted/);
  });
});

describe("report formats", () => {
  it("smaps of a VMA of two huge pages, and the meminfo and vmstat lines", () => {
    const { m, p } = filled();
    const block = p.proc
      .smaps()
      // Blocks split at each maps line (the newline before one is dropped).
      .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
      .find((b) => b.startsWith("200000000-"));
    expect(block).toBe(
      [
        "200000000-200400000 rw-p 00000000 00:00 0 ",
        "Size:               4096 kB",
        "KernelPageSize:        4 kB",
        "MMUPageSize:           4 kB",
        "Rss:                4096 kB",
        "Pss:                4096 kB",
        "Pss_Dirty:          4096 kB",
        "Shared_Clean:          0 kB",
        "Shared_Dirty:          0 kB",
        "Private_Clean:         0 kB",
        "Private_Dirty:      4096 kB",
        "Referenced:         4096 kB",
        "Anonymous:          4096 kB",
        "LazyFree:              0 kB",
        "AnonHugePages:      4096 kB",
        "ShmemPmdMapped:        0 kB",
        "FilePmdMapped:         0 kB",
        "Shared_Hugetlb:        0 kB",
        "Private_Hugetlb:       0 kB",
        "Swap:                  0 kB",
        "SwapPss:               0 kB",
        "Locked:                0 kB",
        "THPeligible:           1",
        "VmFlags: rd wr mr mw me ac ",
      ].join("\n"),
    );
    expect(m.proc.meminfo()).toContain("\nAnonHugePages:      4096 kB\n");
    expect(m.proc.vmstat()).toContain(
      "nr_anon_transparent_hugepages 2\nthp_fault_alloc 2\nthp_fault_fallback 0\nthp_collapse_alloc 0\nthp_split_page 0\nthp_split_pmd 0\n",
    );
  });
});
