import { describe, expect, it } from "vitest";
import { KernelOops, Machine, PAGE_KERNEL_RO, parseMeminfo, VMALLOC_START } from "../../../sim/index.ts";
import { freeFrames } from "./helpers.ts";

const MiB = 1 << 20;
const PAGE = 4096;

function boot(ramBytes = 64 * MiB) {
  return Machine.boot({ ramBytes });
}

function vmallocUsed(m: Machine): number {
  return parseMeminfo(m.proc.meminfo()).VmallocUsed as number;
}

describe("vmalloc placement and /proc", () => {
  it("areas go lowest first with one guard page after each; vmallocinfo and meminfo show them", () => {
    const m = boot();
    const k = m.kernel;
    const a = k.vmalloc(4 * PAGE);
    const b = k.vzalloc(5000);
    expect(a).toBe(VMALLOC_START);
    expect(b).toBe(VMALLOC_START + 5 * PAGE);
    expect(m.proc.vmallocinfo()).toBe(
      "0xffffc90000000000-0xffffc90000005000   20480 vmalloc pages=4 vmalloc\n" +
        "0xffffc90000005000-0xffffc90000008000   12288 vzalloc pages=2 vmalloc\n",
    );
    const mi = parseMeminfo(m.proc.meminfo());
    expect([mi.VmallocTotal, mi.VmallocUsed, mi.VmallocChunk]).toEqual([34359738367, 24, 0]);
    expect(m.proc.meminfo()).toContain("VmallocTotal:   34359738367 kB\nVmallocUsed:          24 kB\nVmallocChunk:          0 kB\n");
    m.check();
  });

  it("a freed hole is reused by the next area that fits in it, lowest address first", () => {
    const m = boot();
    const k = m.kernel;
    const a = k.vmalloc(2 * PAGE);
    const b = k.vmalloc(PAGE);
    k.vfree(a);
    expect(k.vmalloc(3 * PAGE)).toBe(b + 2 * PAGE);
    expect(k.vmalloc(PAGE)).toBe(a);
    expect(k.vmalloc(PAGE)).toBe(b + 6 * PAGE);
    m.check();
  });

  it("the caller string labels the area", () => {
    const m = boot();
    m.kernel.vmalloc(PAGE, "alloc_large_system_hash+0x16b/0x26e");
    expect(m.proc.vmallocinfo()).toBe(
      "0xffffc90000000000-0xffffc90000002000    8192 alloc_large_system_hash+0x16b/0x26e pages=1 vmalloc\n",
    );
  });
});

describe("vmalloc memory", () => {
  it("pages are scattered frames marked PG_vmalloc; vmallocToPfn walks to them; vzalloc zeroes", () => {
    const m = boot();
    const k = m.kernel;
    const a = k.vmalloc(3 * PAGE);
    for (let i = 0; i < 3; i++) k.mem.write32(a + i * PAGE + 4, 0xa0 + i);
    for (let i = 0; i < 3; i++) {
      const pfn = k.vmallocToPfn(a + i * PAGE + 100)!;
      expect(k.memmap.describeFlags(pfn)).toBe("alloc|vmalloc");
      expect(k.phys.read32(pfn * PAGE + 4)).toBe(0xa0 + i);
    }
    expect(k.vmallocToPfn(a + 3 * PAGE)).toBeNull();
    expect(k.vmallocToPfn(k.pfnToKva(777) + 5)).toBe(777);
    k.vfree(a);
    const z = k.vzalloc(3 * PAGE);
    expect(Array.from(k.mem.read(z, 3 * PAGE)).every((x) => x === 0)).toBe(true);
    m.check();
  });

  it("touching the guard page is a kernel oops naming the address", () => {
    const m = boot();
    const a = m.kernel.vmalloc(2 * PAGE);
    m.kernel.mem.write8(a + 2 * PAGE - 1, 1);
    let err: unknown;
    try {
      m.kernel.mem.write8(a + 2 * PAGE, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelOops);
    expect((err as Error).message).toBe(
      "BUG: unable to handle page fault for address: ffffc90000002000\n" +
        "#PF: supervisor write access in kernel mode\n" +
        "#PF: error_code(0x0002) - not-present page",
    );
  });

  it("after vfree the range faults again: the TLB was flushed", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, debugVm: 0 });
    const a = m.kernel.vmalloc(PAGE);
    m.kernel.mem.write32(a, 5);
    const flushes = m.kernel.mmu.tlb.stats.flushOne;
    m.kernel.vfree(a);
    expect(m.kernel.mmu.tlb.stats.flushOne).toBe(flushes + 1);
    expect(() => m.kernel.mem.read32(a)).toThrow(KernelOops);
  });
});

describe("vfree and vmalloc edge cases", () => {
  it("vfree(0) does nothing; an unknown, inner or already freed address warns and frees nothing", () => {
    const m = boot();
    const k = m.kernel;
    const a = k.vmalloc(2 * PAGE);
    const used = vmallocUsed(m);
    k.vfree(0);
    k.vfree(a + PAGE);
    k.vfree(k.pfnToKva(100));
    expect(vmallocUsed(m)).toBe(used);
    k.vfree(a);
    k.vfree(a);
    expect(k.reports.filter((r) => r.kind === "vmalloc_bad_free").map((r) => r.text)).toEqual([
      "Trying to vfree() nonexistent vm area (ffffc90000001000)",
      "Trying to vfree() nonexistent vm area (ffff888000064000)",
      "Trying to vfree() nonexistent vm area (ffffc90000000000)",
    ]);
    expect(vmallocUsed(m)).toBe(0);
    m.check();
  });

  it("vmalloc(0) is NULL with one warning; a size beyond RAM is NULL with Linux's vmalloc error", () => {
    const m = boot();
    const k = m.kernel;
    expect(k.vmalloc(0)).toBe(0);
    expect(k.vmalloc(0)).toBe(0);
    expect(k.vmalloc(2 ** 40)).toBe(0);
    expect(k.vzalloc(-1)).toBe(0);
    expect(k.reports.map((r) => r.text)).toEqual([
      "WARNING: mm/vmalloc.c: __vmalloc_node_range_noprof: vmalloc of size 0",
      "swapper/0: vmalloc error: size 1099511627776, exceeds total pages, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
      "swapper/0: vmalloc error: size 18446744073709551615, exceeds total pages, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), nodemask=(null)",
    ]);
    expect(() => k.vmalloc(1.5)).toThrow(RangeError);
    m.check();
  });

  it("running out of pages part way fails cleanly with Linux's report, for every failing allocation", () => {
    for (let nth = 1; nth <= 6; nth++) {
      const m = boot(16 * MiB);
      const k = m.kernel;
      k.vfree(k.vmalloc(5 * PAGE)); // page tables and the vmap_area slab exist from here on
      const free0 = freeFrames(m);
      m.faults.failPageAlloc({ nth });
      const a = k.vmalloc(5 * PAGE);
      m.faults.clear();
      if (nth <= 5) {
        expect(a).toBe(0);
        expect(k.reports.at(-1)?.text).toBe(
          `swapper/0: vmalloc error: size ${(nth - 1) * PAGE}, failed to allocate pages, mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM), nodemask=(null)`,
        );
        expect(freeFrames(m)).toBe(free0);
        expect(m.proc.vmallocinfo()).toBe("");
      } else {
        expect(a).toBe(VMALLOC_START);
      }
      m.check();
    }
  });

  it("a failed vmap_area allocation (failslab) is vm_struct allocation failed", () => {
    const m = boot();
    m.faults.failSlab({ nth: 1 });
    expect(m.kernel.vmalloc(PAGE)).toBe(0);
    expect(m.kernel.reports.at(-1)?.text).toBe(
      "swapper/0: vmalloc error: size 4096, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
    );
    m.check();
  });

  it("a page-table allocation failure while mapping is failed to map pages, nothing left behind", () => {
    const m = boot();
    const k = m.kernel;
    const free0 = freeFrames(m);
    // The vmap_area cache's first slab, 2 data pages, then the first table (PDPT) of the vmalloc range fails.
    m.faults.failPageAlloc({ nth: 4 });
    expect(k.vmalloc(2 * PAGE)).toBe(0);
    m.faults.clear();
    expect(k.reports.at(-1)?.text).toBe(
      "swapper/0: vmalloc error: size 8192, failed to map pages, mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM), nodemask=(null)",
    );
    k.dropCaches();
    expect(freeFrames(m)).toBe(free0);
    m.check();
  });
});

describe("vmap and vunmap", () => {
  it("vmap maps the caller's frames with the asked protection; vunmap unmaps and keeps them", () => {
    const m = boot();
    const k = m.kernel;
    const frames = [k.allocPages(0)!, k.allocPages(0)!];
    k.phys.write32(frames[1]! * PAGE, 77);
    const v = k.vmap(frames, 2);
    expect(k.mem.read32(v + PAGE)).toBe(77);
    expect(m.proc.vmallocinfo()).toBe("0xffffc90000000000-0xffffc90000003000   12288 vmap vmap\n");
    expect(vmallocUsed(m)).toBe(0);
    m.check();
    k.vunmap(v);
    expect(() => k.mem.read32(v)).toThrow(KernelOops);
    expect(k.memmap.describeFlags(frames[0]!)).toBe("alloc");
    const ro = k.vmap(frames, 1, { prot: PAGE_KERNEL_RO });
    expect(() => k.mem.write8(ro, 1)).toThrow("#PF: error_code(0x0003) - permissions violation");
    k.vfree(ro);
    expect(k.memmap.refcount(frames[0]!)).toBe(1);
    expect(k.vmap(frames, 0)).toBe(0);
    k.vunmap(12345 * PAGE);
    expect(k.reports.at(-1)?.text).toBe("Trying to vunmap() nonexistent vm area (0000000003039000)");
    m.check();
  });

  it("vunmap of a vmalloc area leaks its pages, as on Linux, and they stay in VmallocUsed", () => {
    const m = boot();
    const a = m.kernel.vmalloc(2 * PAGE);
    m.kernel.vunmap(a);
    expect(vmallocUsed(m)).toBe(8);
    expect(m.stats().vmalloc).toEqual({ areas: 0, pages: 2, leakedPages: 2 });
    m.check();
  });
});

describe("churn", () => {
  it("vmalloc/vfree churn returns every frame but the vmalloc range's page tables", () => {
    const m = boot(32 * MiB);
    const k = m.kernel;
    k.dropCaches();
    const free0 = freeFrames(m);
    const tables0 = k.paging.nrTablePages;
    const live: number[] = [];
    for (let i = 0; i < 2000; i++) {
      if (live.length > 0 && (k.rng.nextU32() & 1) === 0) {
        const j = k.rng.below(live.length);
        k.vfree(live[j]!);
        live.splice(j, 1);
      } else {
        const a = k.vmalloc(1 + k.rng.below(40000));
        expect(a).not.toBe(0);
        live.push(a);
      }
      if (i % 250 === 0) m.check();
    }
    for (const a of live) k.vfree(a);
    k.dropCaches();
    expect(vmallocUsed(m)).toBe(0);
    expect(m.proc.vmallocinfo()).toBe("");
    expect(freeFrames(m)).toBe(free0 - (k.paging.nrTablePages - tables0));
    expect(k.paging.nrTablePages - tables0).toBeLessThanOrEqual(8);
    m.check();
  });
});
