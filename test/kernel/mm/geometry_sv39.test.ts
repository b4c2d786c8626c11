import { describe, expect, it } from "vitest";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import {
  ConfigError,
  ENOMEM,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  Machine,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  SegmentationFault,
} from "../../../sim/index.ts";
import { vmprint as labVmprint } from "../../../sim/lab/pgtbl/solution.ts";

const PAGE = 4096;
const GiB = 2 ** 30;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

// Sv39 entry bits (RISC-V privileged spec): V R W X U G A D, RSW at 8..9, PPN from bit 10.
const V = 0x1;
const R = 0x2;
const W = 0x4;
const U = 0x10;
const A = 0x40;
const D = 0x80;
const RSW_COW = 0x100;

function sv39(opts: { swapBytes?: number; thp?: "always" | "madvise" | "never" } = {}) {
  return Machine.boot({ ramBytes: 16 << 20, mmu: "sv39", debugVm: 3, ...opts });
}

/** The two 32-bit words of entry `index` of table frame `table`, read from physical RAM. */
function raw(m: Machine, table: number, index: number): [number, number] {
  const phys = m.kernel.paging.phys;
  return [phys.read32(table * PAGE + index * 8), phys.read32(table * PAGE + index * 8 + 4)];
}

/** The indexes of the non-zero entries of a table frame. */
function used(m: Machine, table: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 512; i++) {
    const [lo, hi] = raw(m, table, i);
    if ((lo | hi) !== 0) out.push(i);
  }
  return out;
}

/** The walk of `va` by hand over the raw words: [level-2 entry, level-1 entry, level-0 entry]. */
type Entry = [number, number];
function walkByHand(m: Machine, root: number, va: number): [Entry, Entry, Entry] {
  // PPN[21:0] is lo >>> 10; these small machines have no higher PPN bits.
  const l2 = raw(m, root, Math.floor(va / GiB) % 512);
  const l1 = raw(m, l2[0] >>> 10, Math.floor(va / 2 ** 21) % 512);
  const l0 = raw(m, l1[0] >>> 10, Math.floor(va / PAGE) % 512);
  return [l2, l1, l0];
}

describe("Sv39 geometry: the tables in RAM", () => {
  it("a page written at 1 GiB: a 3-level walk of 8-byte RISC-V entries, pointers V only, the leaf V R W U A D", () => {
    const m = sv39();
    const p = m.spawn("t");
    expect(p.sys.mmap(GiB, 2 * PAGE, RW, ANON)).toBe(GiB);
    p.mem.write32(GiB, 0xcafe);
    const root = p.mm.pt.root;
    // 1 GiB is vpn[2] = 1, vpn[1] = 0, vpn[0] = 0; nothing else is mapped (the stack is untouched).
    expect(used(m, root)).toEqual([1]);
    const [l2, l1, l0] = walkByHand(m, root, GiB);
    // Pointers: V and the PPN, no R/W/X (a pointer), no A/D/U (reserved in pointers), hi word 0.
    expect([l2[0] & 0x3ff, l2[1], l1[0] & 0x3ff, l1[1]]).toEqual([V, 0, V, 0]);
    expect(m.kernel.paging.tableLevel(l2[0] >>> 10)).toBe(2);
    expect(m.kernel.paging.tableLevel(l1[0] >>> 10)).toBe(1);
    // The leaf: readable, writable (a private writable mapping), user, accessed and dirty after the
    // write; X clear (not PROT_EXEC); hi word 0 (no reserved bits, PPN below 2^22).
    expect([l0[0] & 0x3ff, l0[1]]).toEqual([V | R | W | U | A | D, 0]);
    const pfn = l0[0] >>> 10;
    expect(m.kernel.mem.read32(m.kernel.pfnToKva(pfn))).toBe(0xcafe);
    expect(p.mm.pt.ptePfn(p.mm.pt.lookup(GiB))).toBe(pfn);
    m.check();
  });

  it("x86-64 (the default) keeps its own layout for the same program: 4 levels, P RW US A D and NX in bit 63", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, debugVm: 3 });
    const p = m.spawn("t");
    p.sys.mmap(GiB, 2 * PAGE, RW, ANON);
    p.mem.write32(GiB, 0xcafe);
    // 1 GiB: PML4[0], PDPT[1], PD[0], PT[0].
    expect(used(m, p.mm.pt.root)).toEqual([0]);
    let table = p.mm.pt.root;
    const entries: Array<[number, number]> = [];
    for (const i of [0, 1, 0, 0]) {
      const e = raw(m, table, i);
      entries.push(e);
      table = e[0] >>> 12;
    }
    // Upper entries: P RW US A D (0x67), hi 0; the leaf P RW US A D (0x67) with NX (hi bit 31).
    expect(entries.map(([lo, hi]) => [lo & 0xfff, hi])).toEqual([
      [0x67, 0],
      [0x67, 0],
      [0x67, 0],
      [0x67, 0x80000000],
    ]);
  });

  it("Machine.boot refuses a geometry memsim does not have", () => {
    expect(() => Machine.boot({ ramBytes: 16 << 20, mmu: "sv48" as never })).toThrow(ConfigError);
    expect(() => Machine.boot({ ramBytes: 16 << 20, mmu: "sv48" as never })).toThrow(/mmu geometry must be/);
  });
});

describe("Sv39 geometry: processes", () => {
  it("the address space ends at 2^38 (xv6's MAXVA): stack just below it, heap at 0x2aaaaae000, nothing mapped above", () => {
    const m = sv39();
    const p = m.spawn("t");
    expect(p.mm.stackTop).toBe(2 ** 38 - PAGE);
    expect(p.sys.brk(0)).toBe(0x2aaaaae000);
    expect(p.sys.brk(0x2aaaaae000 + 2 * PAGE)).toBe(0x2aaaaae000 + 2 * PAGE);
    p.mem.write32(0x2aaaaae000 + PAGE, 5);
    expect(p.mem.read32(0x2aaaaae000 + PAGE)).toBe(5);
    // A top-down mmap lands below mmap_base, itself below the stack.
    const a = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(a).toBeGreaterThan(0x2aaaaae000);
    expect(a).toBeLessThan(2 ** 38 - 128 * 2 ** 20);
    p.mem.write32(a, 9);
    expect(p.sys.mmap(2 ** 38, PAGE, RW, ANON)).toBe(-ENOMEM);
    // The stack's top word works (the last page below 2^38 stays unmapped, as x86-64's below 2^47);
    // an address past 2^39, beyond what three levels translate, faults.
    p.mem.write32(2 ** 38 - PAGE - 4, 7);
    expect(p.mem.read32(2 ** 38 - PAGE - 4)).toBe(7);
    expect(() => p.mem.read32(2 ** 38 - 4)).toThrow(SegmentationFault);
    // (A SIGSEGV kills the process; another one tries the next address.)
    const q = m.spawn("q");
    expect(() => q.mem.read32(2 ** 39 + GiB)).toThrow(SegmentationFault);
    m.check();
  });

  it("fork shares the page copy-on-write: W cleared and RSW bit 8 set in both entries, a write copies", () => {
    const m = sv39();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    const child = p.fork()!;
    const [, , pl0] = walkByHand(m, p.mm.pt.root, GiB);
    const [, , cl0] = walkByHand(m, child.mm.pt.root, GiB);
    // Both map the same frame read-only with the COW mark; the parent's keeps A and D.
    expect(pl0[0] >>> 10).toBe(cl0[0] >>> 10);
    expect(pl0[0] & (W | RSW_COW)).toBe(RSW_COW);
    expect(cl0[0] & (W | RSW_COW)).toBe(RSW_COW);
    child.mem.write32(GiB, 2);
    expect([p.mem.read32(GiB), child.mem.read32(GiB)]).toEqual([1, 2]);
    const [, , after] = walkByHand(m, child.mm.pt.root, GiB);
    // The child's copy: a new frame, writable again, dirty, no COW mark.
    expect(after[0] >>> 10).not.toBe(pl0[0] >>> 10);
    expect(after[0] & 0x3ff).toBe(V | R | W | U | A | D);
    m.check();
    expect(p.sys.munmap(GiB, PAGE)).toBe(0);
    expect(walkByHand(m, p.mm.pt.root, GiB)[2]).toEqual([0, 0]);
    child.exit(0);
    m.check();
  });

  it("MADV_PAGEOUT leaves a swap entry with V clear; a touch reads the value back", () => {
    const m = sv39({ swapBytes: 1 << 20 });
    const p = m.spawn("t");
    p.sys.mmap(GiB, 2 * PAGE, RW, ANON);
    p.mem.write32(GiB, 111);
    p.mem.write32(GiB + PAGE, 222);
    expect(p.sys.madvise(GiB, 2 * PAGE, MADV_PAGEOUT)).toBe(0);
    const [, , l0] = walkByHand(m, p.mm.pt.root, GiB);
    expect(l0[0] & V).toBe(0);
    expect(l0[0] | l0[1]).not.toBe(0);
    expect(p.mm.pt.explain(GiB)).toMatch(/swap entry: type 0 offset \d+/);
    m.check();
    expect([p.mem.read32(GiB), p.mem.read32(GiB + PAGE)]).toEqual([111, 222]);
    expect(walkByHand(m, p.mm.pt.root, GiB)[2][0] & V).toBe(V);
    m.check();
  });

  it("a transparent huge page is a 2 MiB megapage: a leaf (R/W/X set) in the level-1 table", () => {
    const m = sv39({ thp: "always" });
    const p = m.spawn("t");
    p.sys.mmap(GiB, 2 << 20, RW, ANON);
    p.sys.madvise(GiB, 2 << 20, MADV_HUGEPAGE);
    p.mem.write32(GiB + 5 * PAGE, 42);
    const root = p.mm.pt.root;
    const l2 = raw(m, root, 1);
    const l1 = raw(m, l2[0] >>> 10, 0);
    expect(l1[0] & 0x3ff).toBe(V | R | W | U | A | D);
    // A megapage's PPN is 2 MiB aligned: its low 9 bits are zero.
    expect((l1[0] >>> 10) % 512).toBe(0);
    expect(p.mem.read32(GiB + 5 * PAGE)).toBe(42);
    expect(p.mm.pt.explain(GiB + 5 * PAGE)).toContain("2 MiB megapage");
    m.check();
  });
});

describe("Sv39 geometry: huge pages", () => {
  it("THP megapages survive mremap and an mprotect split; hugetlb maps a megapage below mmap_base; all checkers pass", () => {
    const m = Machine.boot({ ramBytes: 32 << 20, mmu: "sv39", debugVm: 3, hugePages: 2, thp: "always" });
    const p = m.spawn("t");
    p.sys.mmap(GiB, 4 << 20, RW, ANON);
    for (let i = 0; i < 1024; i += 7) p.mem.write32(GiB + i * PAGE, i);
    expect(m.proc.meminfo()).toMatch(/AnonHugePages:\s+4096 kB/);
    // The two megapages move as level-1 entries; one page made read-only splits the first.
    expect(p.sys.mremap(GiB, 4 << 20, 4 << 20, MREMAP_MAYMOVE | MREMAP_FIXED, 2 * GiB)).toBe(2 * GiB);
    expect(p.sys.mprotect(2 * GiB + PAGE, PAGE, PROT_READ)).toBe(0);
    const seen: number[] = [];
    for (let i = 0; i < 1024; i += 7) if (p.mem.read32(2 * GiB + i * PAGE) !== i) seen.push(i);
    expect(seen).toEqual([]);
    expect(m.proc.meminfo()).toMatch(/AnonHugePages:\s+2048 kB/);
    m.check();
    // mmap_base = stack top 0x3ffffff000 - 128 MiB = 0x3ff7fff000; the 2 MiB-aligned 2 MiB below it starts at 0x3ff7c00000.
    const h = p.sys.mmap(0, 2 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
    expect(h).toBe(0x3ff7c00000);
    p.mem.write32(h + 0xc0e4, 77);
    expect(p.mm.pt.explain(h + 0xc0e4).split("\n")[1]).toBe("  vpn[2] 255 vpn[1] 446 vpn[0] 12 offset 0xe4");
    expect(p.mm.pt.explain(h + 0xc0e4)).toMatch(/V R W U A D -> 2 MiB megapage at pfn 0x[0-9a-f]+, frame 0x[0-9a-f]+/);
    const c = p.fork()!;
    c.mem.write32(2 * GiB, 5);
    expect([p.mem.read32(2 * GiB), c.mem.read32(2 * GiB), c.mem.read32(h + 0xc0e4)]).toEqual([0, 5, 77]);
    m.check();
    c.exit(0);
    p.exit(0);
    m.check();
  });
});

describe("Sv39 geometry: pictures", () => {
  it("vmprint prints xv6-riscv's format: the root, then ' ..', ' .. ..', ' .. .. ..' for levels 2, 1, 0", () => {
    const m = sv39();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    const root = p.mm.pt.root;
    const [l2, l1, l0] = walkByHand(m, root, GiB);
    const hex = (n: number) => `0x${n.toString(16).padStart(16, "0")}`;
    expect(p.mm.pt.vmprint()).toBe(
      [
        `page table ${hex(root * PAGE)}`,
        ` ..1: pte ${hex(l2[0])} pa ${hex((l2[0] >>> 10) * PAGE)}`,
        ` .. ..0: pte ${hex(l1[0])} pa ${hex((l1[0] >>> 10) * PAGE)}`,
        ` .. .. ..0: pte ${hex(l0[0])} pa ${hex((l0[0] >>> 10) * PAGE)}`,
        "",
      ].join("\n"),
    );
  });

  it("the pgtbl lab's reference vmprint, through k, prints the same as the kernel's on a Sv39 machine", () => {
    let kernel: KernelApi | null = null;
    const m = Machine.boot({
      ramBytes: 16 << 20,
      mmu: "sv39",
      layers: {
        onSpawn: (_p, k) => {
          kernel = k;
        },
      },
    });
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    p.mem.write32(2 ** 38 - PAGE - 4, 1);
    const k = kernel as unknown as KernelApi;
    expect(k.levels(p.mm)).toBe(3);
    expect(labVmprint(k, p.mm)).toBe(p.mm.pt.vmprint());
  });

  it("explain names the RISC-V bits and levels, and RISC-V's fault causes", () => {
    const m = sv39();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, PROT_READ, ANON);
    p.mem.read32(GiB);
    const text = p.mm.pt.explain(GiB);
    const lines = text.split("\n");
    expect(lines[1]).toBe("  vpn[2] 1 vpn[1] 0 vpn[0] 0 offset 0x0");
    expect(lines[2]).toMatch(/^ {2}level 2 pfn 0x[0-9a-f]+ \[ {2}1\] = 0x[0-9a-f]{16} V -> level-1 table at pfn 0x[0-9a-f]+$/);
    expect(lines[3]).toMatch(/^ {2}level 1 .* V -> level-0 table/);
    // A read of untouched private memory maps the shared zero page: read-only, user, accessed, SPECIAL.
    expect(lines[4]).toMatch(/^ {2}level 0 .* V R U A SPECIAL -> frame pfn 0x[0-9a-f]+$/);
    expect(lines[5]).toMatch(/user read-only \(a store faults: scause 15\); no execute/);
    expect(p.mm.pt.explain(2 * GiB)).toContain("(none)\n  => not valid: a load faults with scause 13");
  });
});

describe("mmu boot option", () => {
  it("the geometry and the every-access mode combine in the object form; a bad geometry or key is a ConfigError", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, seed: 1, mmu: { geometry: "sv39", observeAccesses: true } });
    const p = m.spawn("p");
    p.sys.mmap(GiB, PAGE, RW, ANON, -1, 0);
    p.mem.write32(GiB, 0x1234);
    // Sv39 in RAM: the leaf is V|R|W|U|A|D (0xd7), and the every-access mode still reads through it.
    const leaf = walkByHand(m, p.mm.pt.root, GiB)[2];
    expect([p.mem.read32(GiB), leaf[0] & 0x3ff]).toEqual([0x1234, V | R | W | U | A | D]);
    expect(() => Machine.boot({ ramBytes: 8 << 20, mmu: { geometry: "sv48" as "sv39" } })).toThrow(ConfigError);
    expect(() => Machine.boot({ ramBytes: 8 << 20, mmu: { geometry: "sv48" as "sv39" } })).toThrow(
      'Machine.boot: mmu geometry must be "x86-64", "sv39" or "x86-32", got sv48',
    );
    expect(() => Machine.boot({ ramBytes: 8 << 20, mmu: { levels: 3 } as never })).toThrow("Machine.boot: unknown option 'mmu.levels'");
  });
});
