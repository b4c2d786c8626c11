import { describe, expect, it } from "vitest";
import {
  formatPteFlags,
  KernelOops,
  Machine,
  PAGE_OFFSET,
  type PageFault,
  PF_INSTR,
  PF_PROT,
  PF_USER,
  PF_WRITE,
  PTE_A,
  PTE_D,
  PTE_NX,
  PTE_P,
  PTE_RW,
  PTE_US,
} from "../../../sim/index.ts";
import { demandPaging, USER_RO, USER_RW } from "./helpers.ts";

const MiB = 1 << 20;

function tlbStats(m: Machine): { hits: number; misses: number; flushOne: number; valid: number } {
  return (m.stats().mmu as { tlb: { hits: number; misses: number; flushOne: number; valid: number } }).tlb;
}

function userSpace(m: Machine) {
  const pt = m.kernel.paging.pgdAlloc()!;
  return { pt, mem: m.kernel.mmu.view(pt, "user"), kmem: m.kernel.mmu.view(pt, "kernel") };
}

describe("kernel memory through the MMU", () => {
  it("the first access to a page walks, the next ones hit the TLB", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const kva = m.kernel.pfnToKva(1000);
    const before = tlbStats(m);
    m.kernel.mem.write32(kva, 0xcafef00d);
    expect(m.kernel.mem.read32(kva)).toBe(0xcafef00d);
    expect(m.kernel.mem.read16(kva + 2)).toBe(0xcafe);
    expect(m.kernel.mem.read8(kva + 4095)).toBe(0);
    const after = tlbStats(m);
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(3);
    expect(m.kernel.phys.read32(1000 * 4096)).toBe(0xcafef00d);
  });

  it("unaligned and page-crossing accesses land byte by byte in the right frames", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    const a = m.kernel.allocPages(0)!;
    const b = m.kernel.allocPages(0)!;
    m.kernel.memmap.setMapcount(a, 1);
    m.kernel.memmap.setMapcount(b, 1);
    pt.mapPages(0x10000, [b, a], 2, USER_RW);
    mem.write32(0x10ffe, 0x44332211);
    mem.write16(0x10fff, 0x6655);
    expect(m.kernel.phys.read8(b * 4096 + 4094)).toBe(0x11);
    expect(m.kernel.phys.read8(b * 4096 + 4095)).toBe(0x55);
    expect(m.kernel.phys.read8(a * 4096)).toBe(0x66);
    expect(m.kernel.phys.read8(a * 4096 + 1)).toBe(0x44);
    expect(mem.read32(0x10ffd).toString(16)).toBe("66551100");
    expect(mem.read16(0x10001)).toBe(0);
    m.check();
  });

  it("a NULL dereference is an oops naming the address and error code", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    let err: unknown;
    try {
      m.kernel.mem.read32(8);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelOops);
    expect((err as KernelOops).message).toBe(
      "BUG: kernel NULL pointer dereference, address: 0000000000000008\n" +
        "#PF: supervisor read access in kernel mode\n" +
        "#PF: error_code(0x0000) - not-present page",
    );
    expect([(err as KernelOops).address, (err as KernelOops).errorCode]).toEqual([8, 0]);
    expect(m.kernel.reports.at(-1)?.kind).toBe("oops");
  });

  it("a kernel write past the direct map oopses with the canonical address", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(() => m.kernel.mem.write8(PAGE_OFFSET + 16 * MiB, 1)).toThrow(
      "BUG: unable to handle page fault for address: ffff888001000000\n" +
        "#PF: supervisor write access in kernel mode\n" +
        "#PF: error_code(0x0002) - not-present page",
    );
  });

  it("a non-integer address is a RangeError, not a walk", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    expect(() => m.kernel.mem.read32(PAGE_OFFSET + 0.5)).toThrow(RangeError);
    expect(() => m.kernel.mem.read(PAGE_OFFSET, -1)).toThrow("mmu: length -1 is not a non-negative integer");
  });
});

describe("permissions and A/D bits", () => {
  it("a read sets A, a write sets D; a write through a clean TLB entry walks again", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    const pfn = m.kernel.allocPages(0)!;
    m.kernel.memmap.setMapcount(pfn, 1);
    pt.mapRange(0x400000, pfn, 1, USER_RW);
    const ptep = pt.lookup(0x400000);
    expect(pt.pteFlags(ptep) & (PTE_A | PTE_D)).toBe(0);
    mem.read8(0x400000);
    expect(formatPteFlags(pt.pteFlags(ptep))).toBe("P RW US A NX");
    const walks = (m.stats().mmu as { walks: number }).walks;
    mem.write8(0x400001, 7);
    expect(formatPteFlags(pt.pteFlags(ptep))).toBe("P RW US A D NX");
    mem.write8(0x400002, 8);
    expect((m.stats().mmu as { walks: number }).walks).toBe(walks + 1);
    m.check();
  });

  it("user access to a supervisor page, writes to read-only pages and fetches from NX pages fault with x86 error codes", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem, kmem } = userSpace(m);
    const seen: PageFault[] = [];
    pt.faultHandler = (f) => {
      seen.push(f);
      return false;
    };
    const [a, b] = [m.kernel.allocPages(0)!, m.kernel.allocPages(0)!];
    m.kernel.memmap.setMapcount(a, 1);
    m.kernel.memmap.setMapcount(b, 1);
    pt.mapRange(0x10000, a, 1, (PTE_P | PTE_RW | PTE_NX) >>> 0);
    pt.mapRange(0x11000, b, 1, USER_RO);
    expect(() => mem.read8(0x10010)).toThrow("#PF: error_code(0x0005) - permissions violation");
    expect(() => mem.write8(0x11000, 1)).toThrow("#PF: user write access in user mode\n#PF: error_code(0x0007) - permissions violation");
    expect(() => kmem.write8(0x11000, 1)).toThrow(
      "#PF: supervisor write access in kernel mode\n#PF: error_code(0x0003) - permissions violation",
    );
    expect(() => kmem.fetch32(0x10000)).toThrow(
      "kernel tried to execute NX-protected page - exploit attempt? (uid: 0)\nBUG: unable to handle page fault for address: 0000000000010000",
    );
    expect(() => mem.read8(0x12000)).toThrow("#PF: error_code(0x0004) - not-present page");
    expect(() => mem.read8(PAGE_OFFSET)).toThrow("#PF: error_code(0x0004) - not-present page");
    expect(seen.map((f) => [f.address, f.errorCode])).toEqual([
      [0x10010, PF_USER | PF_PROT],
      [0x11000, PF_USER | PF_WRITE | PF_PROT],
      [0x11000, PF_WRITE | PF_PROT],
      [0x10000, PF_INSTR | PF_PROT],
      [0x12000, PF_USER],
      [PAGE_OFFSET, PF_USER],
    ]);
    expect(kmem.read8(0x10000)).toBe(0);
    expect(mem.read8(0x11000)).toBe(0);
  });

  it("a fault handler that maps the page makes the access succeed on retry", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    const seen = demandPaging(m, pt);
    mem.write32(0x7fff0000, 42);
    expect(mem.read32(0x7fff0000)).toBe(42);
    expect(mem.read32(0x7fff1ffc)).toBe(0);
    expect(seen.map((f) => [f.address, f.errorCode])).toEqual([
      [0x7fff0000, PF_USER | PF_WRITE],
      [0x7fff1ffc, PF_USER],
    ]);
    m.check();
  });

  it("a handler that claims a fix it did not make oopses instead of looping", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    let calls = 0;
    pt.faultHandler = () => ++calls > 0;
    expect(() => mem.read8(0x1000)).toThrow("the fault handler reported this fault fixed 8 times in a row");
    expect(calls).toBe(8);
  });

  it("explain shows the four user tables (P RW US A D, as Linux _PAGE_TABLE) and the leaf the write dirtied", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    mem.write8(0x1234, 1);
    const text = pt.explain(0x1234);
    expect(text).toContain("L4 PML4");
    expect(text.split("\n").filter((l) => l.includes(" P RW US A"))).toHaveLength(4);
    expect(text).toMatch(/L1 PT {3}pfn 0x[0-9a-f]+ \[ {2}1\] = 0x80000000[0-9a-f]{5}067 P RW US A D NX -> frame pfn/);
  });
});

describe("bulk access", () => {
  it("read, write and fill split at page boundaries over scattered frames", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    const data = new Uint8Array(10000).map((_, i) => (i * 31) & 255);
    mem.write(0x20ff0, data);
    expect(Array.from(mem.read(0x20ff0, 10000))).toEqual(Array.from(data));
    mem.fill(0x21000, 0xab, 5000);
    const back = mem.read(0x20ff0, 10000);
    expect(back[15]).toBe(data[15]);
    expect(back[16]).toBe(0xab);
    expect(back[16 + 4999]).toBe(0xab);
    expect(back[16 + 5000]).toBe(data[16 + 5000]);
    expect(mem.read(0x20ff0, 0)).toEqual(new Uint8Array(0));
  });

  it("copy behaves like memmove for overlaps in both directions", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    const base = 0x30000;
    const ref = new Uint8Array(5 * 4096).map((_, i) => (i * 7 + 3) & 255);
    mem.write(base, ref);
    for (const [dst, src, len] of [
      [100, 3000, 9000],
      [3000, 100, 9000],
      [4095, 4097, 8190],
      [5000, 5000, 100],
    ] as const) {
      mem.copy(base + dst, base + src, len);
      ref.copyWithin(dst, src, src + len);
      expect(Array.from(mem.read(base, ref.length))).toEqual(Array.from(ref));
    }
  });
});

describe("TLB coherence", () => {
  it("changing a mapping without the flush is caught at the next access (debugVm >= 1)", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB, debugVm: 1 });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    mem.write32(0x5000, 1);
    const ptep = pt.lookup(0x5000);
    const other = m.kernel.allocPages(0)!;
    const old = pt.ptePfn(ptep);
    m.kernel.memmap.setMapcount(other, 1);
    pt.setPte(0x5000, ptep, other, USER_RW);
    expect(() => mem.read32(0x5000)).toThrow(
      "mmu: access to 5000 while the TLB flush of 5000-6000 is pending (a page-table change was not flushed)",
    );
    pt.flushTlb();
    expect(mem.read32(0x5000)).toBe(0);
    m.kernel.memmap.setMapcount(old, 0);
    m.kernel.freePages(old, 0);
    m.check();
  });

  it("without debug checks the stale entry is really used, and checkTlb names it", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB, debugVm: 0 });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    mem.write32(0x5000, 1);
    const ptep = pt.lookup(0x5000);
    const other = m.kernel.allocPages(0)!;
    m.kernel.memmap.setMapcount(other, 1);
    m.kernel.memmap.setMapcount(pt.ptePfn(ptep), 0);
    pt.setPte(0x5000, ptep, other, USER_RW);
    expect(mem.read32(0x5000)).toBe(1);
    pt.flushStart = pt.flushEnd = 0; // forget the pending record, as a buggy caller would
    expect(() => m.check()).toThrow(
      /TLB-1: entry \d+ for 5000 ASID 1 is stale: TLB has frame 0x[0-9a-f]+ perm 0x6, tables say 0x[0-9a-f]+ perm 0x4/,
    );
  });

  it("a PTE written directly in RAM is caught by checkTlb", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    mem.read8(0x5000);
    const ptep = pt.lookup(0x5000);
    m.kernel.phys.write32(ptep, m.kernel.phys.read32(ptep) & ~PTE_US);
    expect(() => m.check()).toThrow(/TLB-1: entry \d+ for 5000 ASID 1 is stale/);
  });

  it("entries are tagged by ASID: two address spaces map the same address to different frames", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB });
    const one = userSpace(m);
    const two = userSpace(m);
    expect([one.pt.asid, two.pt.asid]).toEqual([1, 2]);
    demandPaging(m, one.pt);
    demandPaging(m, two.pt);
    one.mem.write32(0x1000, 111);
    two.mem.write32(0x1000, 222);
    expect([one.mem.read32(0x1000), two.mem.read32(0x1000)]).toEqual([111, 222]);
    m.check();
  });

  it("invlpg, range, ASID and full flushes drop exactly their entries", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB, tlb: { entries: 64, ways: 64 } });
    const tlb = m.kernel.mmu.tlb;
    const { pt, mem } = userSpace(m);
    demandPaging(m, pt);
    for (let i = 0; i < 40; i++) mem.read8(0x100000 + i * 4096);
    m.kernel.mem.read8(PAGE_OFFSET);
    expect(tlb.nrValid()).toBe(41);
    tlb.invlpg(0x100000, pt.asid);
    expect(tlb.nrValid()).toBe(40);
    tlb.flushRange(0x101000, 0x103000, pt.asid);
    expect(tlb.nrValid()).toBe(38);
    tlb.flushRange(0x103000, 0x200000, pt.asid);
    expect(tlb.nrValid()).toBe(1);
    mem.read8(0x100000);
    tlb.flushAsid(pt.asid);
    expect(tlb.nrValid()).toBe(1);
    tlb.flushAsid(0);
    expect(tlb.nrValid()).toBe(1); // the direct map is global
    tlb.flushAll();
    expect(tlb.nrValid()).toBe(0);
    // The 2-page range counts two single-page flushes; the 253-page one is above the ceiling: an ASID flush.
    expect(tlb.stats).toMatchObject({ flushOne: 3, flushRange: 2, flushAsid: 3, flushAll: 1, entriesFlushed: 42 });
    expect(m.proc.vmstat()).toContain("nr_tlb_local_flush_all 4\nnr_tlb_local_flush_one 3\n");
  });

  it("a small TLB evicts round-robin within a set and counts the misses", () => {
    const m = Machine.boot({ ramBytes: 16 * MiB, tlb: { entries: 4, ways: 2 } });
    const base = tlbStats(m);
    for (let r = 0; r < 2; r++) for (let i = 0; i < 3; i++) m.kernel.mem.read8(PAGE_OFFSET + i * 2 * 4096);
    const s = tlbStats(m);
    // Pages 0, 2 and 4 all fall in set 0 of 2 sets x 2 ways: every access misses.
    expect([s.misses - base.misses, s.hits - base.hits]).toEqual([6, 0]);
    expect(() => Machine.boot({ tlb: { entries: 48 } })).toThrow("tlb.entries must be a power of two, got 48");
    expect(() => Machine.boot({ tlb: { entries: 8, ways: 16 } })).toThrow("tlb.ways must be an integer from 1 to 8, got 16");
  });

  it("the 4096th address space gets no ASID and pgdAlloc says so", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    const pts = [];
    for (let i = 0; i < 4095; i++) pts.push(m.kernel.paging.pgdAlloc()!);
    expect(pts.at(-1)!.asid).toBe(4095);
    expect(m.kernel.paging.pgdAlloc()).toBeNull();
    m.kernel.paging.pgdFree(pts[9]!);
    expect(m.kernel.paging.pgdAlloc()!.asid).toBe(10);
  });
});
