import { describe, expect, it } from "vitest";
import type { KernelApi } from "../../../kernel/mm/lab_api.ts";
import {
  ConfigError,
  EINVAL,
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

const PAGE = 4096;
const GiB = 2 ** 30;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

// x86-32 entry bits (Intel SDM vol. 3, 32-bit paging; JOS mmu.h): P W U PWT PCD A D PS G, AVL 9..11.
const P = 0x1;
const W = 0x2;
const U = 0x4;
const A = 0x20;
const D = 0x40;
const AVL_COW = 0x400; // AVL bit 10: memsim's copy-on-write mark

function x86_32(opts: { swapBytes?: number } = {}) {
  return Machine.boot({ ramBytes: 16 << 20, mmu: "x86-32", debugVm: 3, ...opts });
}

/** The 4-byte entry `index` of table frame `table`, read from physical RAM. */
function raw(m: Machine, table: number, index: number): number {
  return m.kernel.paging.phys.read32(table * PAGE + index * 4);
}

/** The indexes of the non-zero entries of a table frame (1024 of them). */
function used(m: Machine, table: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 1024; i++) if (raw(m, table, i) !== 0) out.push(i);
  return out;
}

/** The walk of `va` by hand: [PDE at PDX = va >> 22, PTE at PTX = (va >> 12) & 1023]. */
function walkByHand(m: Machine, root: number, va: number): [number, number] {
  const pde = raw(m, root, Math.floor(va / 2 ** 22));
  return [pde, raw(m, pde >>> 12, Math.floor(va / PAGE) % 1024)];
}

describe("x86-32 geometry: the tables in RAM", () => {
  it("two pages written at 1 GiB: PDX 256 of the directory, PTX 0 and 1 four bytes apart, both P W U A D", () => {
    const m = x86_32();
    const p = m.spawn("t");
    p.sys.mmap(GiB, 2 * PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    p.mem.write32(GiB + PAGE + 8, 2);
    const root = p.mm.pt.root;
    // 1 GiB / 4 MiB = 256: the only directory entry (nothing else was touched yet).
    expect(used(m, root)).toEqual([256]);
    const pde = raw(m, root, 256);
    // A directory entry grants everything (memsim's USER_TABLE): P W U A D = 0x67.
    expect(pde & 0xfff).toBe(P | W | U | A | D);
    const table = pde >>> 12;
    expect(used(m, table)).toEqual([0, 1]);
    // Entry 1 is the second 32-bit word of the table: no hi word between them.
    expect(raw(m, table, 0) & 0xfff).toBe(P | W | U | A | D);
    expect(raw(m, table, 1) & 0xfff).toBe(P | W | U | A | D);
    expect(walkByHand(m, root, GiB + PAGE)[1]).toBe(raw(m, table, 1));
    // The frame the entry names holds the value written.
    expect(m.kernel.paging.phys.read32((raw(m, table, 1) >>> 12) * PAGE + 8)).toBe(2);
    m.check();
  });

  it("a read-only page has no NX bit (none without PAE): the entry is P U A, and the flags word has no PTE_NX", () => {
    const m = x86_32();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, PROT_READ, ANON);
    expect(p.mem.read32(GiB)).toBe(0);
    const [, pte] = walkByHand(m, p.mm.pt.root, GiB);
    // The zero page mapped read-only: P U A plus AVL0 (PTE_SPECIAL, 0x200).
    expect(pte & 0xfff).toBe(P | U | A | 0x200);
    const ptep = p.mm.pt.lookup(GiB);
    expect(p.mm.pt.pteFlags(ptep) >>> 31).toBe(0);
    m.check();
  });

  it("Machine.boot takes the geometry in both forms; THP and hugePages are refused with a ConfigError", () => {
    expect(Machine.boot({ ramBytes: 8 << 20, mmu: { geometry: "x86-32" } }).spawn("t").mm.pt.top).toBe(2);
    expect(() => Machine.boot({ ramBytes: 8 << 20, mmu: "x86-32", thp: "always" })).toThrow(ConfigError);
    expect(() => Machine.boot({ ramBytes: 8 << 20, mmu: "x86-32", hugePages: 1 })).toThrow(
      "Machine.boot: hugePages needs huge pages, which the x86-32 geometry does not have",
    );
  });
});

describe("x86-32 geometry: processes", () => {
  it("user space ends at 0xC0000000: stack below it, heap at 0x56559000, mmap below mmap_base, ENOMEM past the top", () => {
    const m = x86_32();
    const p = m.spawn("t");
    expect(p.mm.stackTop).toBe(0xc0000000 - PAGE);
    expect(p.sys.brk(0)).toBe(0x56559000);
    expect(p.sys.brk(0x56559000 + 2 * PAGE)).toBe(0x56559000 + 2 * PAGE);
    p.mem.write32(0x56559000 + PAGE, 5);
    expect(p.mem.read32(0x56559000 + PAGE)).toBe(5);
    // mmap_base = stack top - max(8 MiB stack + 1 MiB guard, 128 MiB) = 0xbffff000 - 0x8000000 = 0xb7fff000.
    expect(p.mm.mmapBase).toBe(0xb7fff000);
    const a = p.sys.mmap(0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(a).toBe(0xb7fff000 - PAGE);
    p.mem.write32(a, 9);
    expect(p.sys.mmap(0xc0000000, PAGE, RW, ANON)).toBe(-ENOMEM);
    // 3 GiB cannot fit below the top with the stack and heap in place.
    expect(p.sys.mmap(0, 3 * GiB, RW, MAP_PRIVATE | MAP_ANONYMOUS)).toBe(-ENOMEM);
    p.mem.write32(0xc0000000 - PAGE - 4, 7);
    expect(p.mem.read32(0xc0000000 - PAGE - 4)).toBe(7);
    expect(() => p.mem.read32(0xc0000000 - 4)).toThrow(SegmentationFault);
    const q = m.spawn("q");
    expect(() => q.mem.read32(0xc0000000 + 4)).toThrow(SegmentationFault);
    m.check();
  });

  it("fork shares the page copy-on-write: W cleared and AVL bit 10 set in both entries, a write copies, munmap zeroes", () => {
    const m = x86_32();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    const child = p.fork()!;
    const [, ppte] = walkByHand(m, p.mm.pt.root, GiB);
    const [, cpte] = walkByHand(m, child.mm.pt.root, GiB);
    expect(ppte >>> 12).toBe(cpte >>> 12);
    expect(ppte & (W | AVL_COW)).toBe(AVL_COW);
    expect(cpte & (W | AVL_COW)).toBe(AVL_COW);
    child.mem.write32(GiB, 2);
    expect([p.mem.read32(GiB), child.mem.read32(GiB)]).toEqual([1, 2]);
    const [, after] = walkByHand(m, child.mm.pt.root, GiB);
    expect(after >>> 12).not.toBe(ppte >>> 12);
    expect(after & 0xfff).toBe(P | W | U | A | D);
    m.check();
    expect(p.sys.munmap(GiB, PAGE)).toBe(0);
    expect(walkByHand(m, p.mm.pt.root, GiB)[1]).toBe(0);
    child.exit(0);
    m.check();
  });

  it("MADV_PAGEOUT leaves 4-byte swap entries: slot 0 is 0xffffff00, slot 1 0xfffffe00; a touch reads the values back", () => {
    const m = x86_32({ swapBytes: 1 << 20 });
    const p = m.spawn("t");
    p.sys.mmap(GiB, 2 * PAGE, RW, ANON);
    p.mem.write32(GiB, 111);
    p.mem.write32(GiB + PAGE, 222);
    expect(p.sys.madvise(GiB, 2 * PAGE, MADV_PAGEOUT)).toBe(0);
    const [pde] = walkByHand(m, p.mm.pt.root, GiB);
    // P clear, type 0 in bits 1..5, the slot inverted in bits 8..31: (2^24 - 1 - slot) << 8.
    expect(raw(m, pde >>> 12, 0)).toBe(0xffffff00);
    expect(raw(m, pde >>> 12, 1)).toBe(0xfffffe00);
    expect(p.mm.pt.explain(GiB + PAGE)).toContain("pte 0xfffffe00 (swap type 0 offset 1)");
    m.check();
    expect([p.mem.read32(GiB), p.mem.read32(GiB + PAGE)]).toEqual([111, 222]);
    expect(walkByHand(m, p.mm.pt.root, GiB)[1] & P).toBe(P);
    m.check();
  });

  it("no huge pages: MAP_HUGETLB is EINVAL; with THP forced on at run time a MADV_HUGEPAGE region still faults in 4 KiB pages", () => {
    const m = x86_32();
    const p = m.spawn("t");
    expect(p.sys.mmap(0, 4 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB)).toBe(-EINVAL);
    m.kernel.thp.enabled = "always";
    p.sys.mmap(GiB, 4 << 20, RW, ANON);
    expect(p.sys.madvise(GiB, 4 << 20, MADV_HUGEPAGE)).toBe(0);
    p.mem.write32(GiB + 5 * PAGE, 42);
    const [pde, pte] = walkByHand(m, p.mm.pt.root, GiB + 5 * PAGE);
    expect(pde & 0x80).toBe(0); // no PS
    expect(pte & 0xfff).toBe(P | W | U | A | D);
    expect(used(m, pde >>> 12)).toEqual([5]);
    m.check();
  });
});

describe("x86-32 geometry: mremap and mprotect", () => {
  it("mremap of a 4 MiB-aligned region moves the whole page table to the new PDX; mprotect clears W in the 4-byte entries", () => {
    const m = x86_32();
    const p = m.spawn("t");
    p.sys.mmap(GiB, 4 << 20, RW, ANON);
    p.mem.write32(GiB, 1);
    p.mem.write32(GiB + (4 << 20) - PAGE, 2);
    const table = raw(m, p.mm.pt.root, 256) >>> 12;
    // 0x50000000 >> 22 = 320: the same table frame now hangs from directory entry 320, entry 256 is empty.
    expect(p.sys.mremap(GiB, 4 << 20, 4 << 20, MREMAP_MAYMOVE | MREMAP_FIXED, 0x50000000)).toBe(0x50000000);
    expect(raw(m, p.mm.pt.root, 256)).toBe(0);
    expect(raw(m, p.mm.pt.root, 320) >>> 12).toBe(table);
    expect([p.mem.read32(0x50000000), p.mem.read32(0x50000000 + (4 << 20) - PAGE)]).toEqual([1, 2]);
    m.check();
    expect(p.sys.mprotect(0x50000000, PAGE, PROT_READ)).toBe(0);
    expect(raw(m, table, 0) & 0xfff).toBe(P | U | A | D);
    expect(() => p.mem.write32(0x50000000, 3)).toThrow(SegmentationFault);
    const q = m.spawn("q");
    q.sys.mmap(GiB, PAGE, RW, ANON);
    q.mem.write32(GiB, 4);
    m.check();
  });
});

describe("x86-32 geometry: pictures and the lab API", () => {
  it("explain shows PDX and PTX and the 4-byte entries with JOS's bit names; vmprint lists the directory and its tables", () => {
    const m = x86_32();
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB + 0x10, 3);
    const root = p.mm.pt.root;
    const [pde, pte] = walkByHand(m, root, GiB);
    const h = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
    const pt = pde >>> 12;
    const frame = pte >>> 12;
    expect(p.mm.pt.explain(GiB + 0x10)).toBe(
      [
        `40000010: user page table (x86-32), ASID ${p.mm.pt.asid}, page directory pfn 0x${root.toString(16)}`,
        "  PDX 256 (0x100) PTX 0 (0x000) offset 0x10",
        `  PD pfn 0x${root.toString(16)} [ 256] = pde ${h(pde)} P W U A D -> PT at pfn 0x${pt.toString(16)}`,
        `  PT pfn 0x${pt.toString(16)} [   0] = pte ${h(pte)} P W U A D -> frame pfn 0x${frame.toString(16)}`,
        `  => pa ${h(frame * PAGE + 0x10)}; user read/write; executable (no NX bit without PAE)`,
        "",
      ].join("\n"),
    );
    expect(p.mm.pt.vmprint()).toBe(
      [
        `page directory ${h(root * PAGE)}`,
        ` ..PDX 0x100: pde ${h(pde)} pa ${h(pt * PAGE)} P W U A D`,
        ` .. ..PTX 0x000: pte ${h(pte)} pa ${h(frame * PAGE)} P W U A D`,
        "",
      ].join("\n"),
    );
    expect(p.mm.pt.explain(2 * GiB)).toContain("(none)");
  });

  it("k reports 1024 entries of 4 bytes: tableEntry steps by 4, index 1024 is a RangeError, pteHi is 0", () => {
    let kernel: KernelApi | null = null;
    const m = Machine.boot({
      ramBytes: 16 << 20,
      mmu: "x86-32",
      layers: {
        onSpawn: (_p, k) => {
          kernel = k;
        },
      },
    });
    const p = m.spawn("t");
    p.sys.mmap(GiB, PAGE, RW, ANON);
    p.mem.write32(GiB, 1);
    const k = kernel as unknown as KernelApi;
    expect([k.levels(p.mm), k.ptrsPerTable(p.mm), k.pteSize(p.mm)]).toEqual([2, 1024, 4]);
    const root = k.pgd(p.mm);
    const e = k.tableEntry(p.mm, root, 256);
    expect(e).toBe(root * PAGE + 1024);
    expect(k.tableEntry(p.mm, root, 1023)).toBe(root * PAGE + 4092);
    expect(() => k.tableEntry(p.mm, root, 1024)).toThrow("k.tableEntry: index 1024 is not 0..1023");
    expect(k.pteLo(p.mm, e)).toBe(raw(m, root, 256));
    expect(k.pteHi(p.mm, e)).toBe(0);
    expect(k.walk(p.mm, GiB, "lookup")).toBe((raw(m, root, 256) >>> 12) * PAGE);
  });
});
