/**
 * Teaching address spaces (kernel/mm/mmu_teach.ts): small textbook MMUs
 * whose memory and tables are frames of memsim's RAM. The numbers are
 * worked out by hand from the geometries' diagrams (pgtable_teach.ts):
 *
 * ostep-multilevel, VA 0x611c = 110 0001 0001 1100: PDX 11000 = 24,
 * PTX 01000 = 8, offset 11100 = 28. With the directory in page 108 and the
 * page table in page 33, the PDE is byte 108*32+24 = 3480 = 0xd98 and holds
 * 0x80|33 = 0xa1; the PTE is byte 33*32+8 = 1064 = 0x428 and holds
 * 0x80|53 = 0xb5; the PA is 53*32+28 = 1724 = 0x6bc. (These are the numbers
 * of OSTEP's `paging-multilevel-translate.py -s 0`, first address.)
 *
 * ostep-16k, VA 0x3fc5 = 1111 1111 000101: PDX 15, PTX 15, offset 5. With
 * the directory in page 0 and the page table in page 100, the PDE is at
 * 15*4 = 60 (0x3c) and holds 0x80000000|100 = 0x80000064; the PTE is at
 * 100*64+60 = 6460 (0x193c, in the second 4 KiB of teaching memory) and
 * holds 0x80000000|1000 = 0x800003e8; the PA is 1000*64+5 = 64005 (0xfa05,
 * in the 16th 4 KiB).
 */
import { describe, expect, it } from "vitest";
import {
  explainTeach,
  InvariantViolation,
  KernelPanic,
  linearTeachGeometry,
  Machine,
  TEACH_NO_ROOT,
  TEACH_OUTSIDE,
  type TeachGeometry,
  type TeachSpace,
  xv6Frames,
} from "../../../sim/index.ts";
import { freeFrames } from "./helpers.ts";

function boot(): Machine {
  return Machine.boot({ ramBytes: 4 << 20 });
}

/** The multilevel space of the header: directory in 108, VA 0x611c's page at 53 through the table in 33, byte 0x08 at its offset 28. */
function multilevel(m: Machine): TeachSpace {
  const s = m.teach({ geometry: "ostep-multilevel" });
  expect(s.makeTable(108, 0)).toBe(true);
  s.setRoot(108);
  expect(s.map(0x6100, 53, () => 33)).toBe(true);
  expect(s.write8(1724, 0x08)).toBe(true);
  return s;
}

/** The 16 KiB space of the header: directory in page 0, VA 0x3fc0's page at 1000 through the table in page 100, 0x5a at 64005. */
function sixteenK(m: Machine): TeachSpace {
  const s = m.teach({ geometry: "ostep-16k" });
  expect(s.makeTable(0, 0)).toBe(true);
  s.setRoot(0);
  expect(s.map(0x3fc0, 1000, () => 100)).toBe(true);
  expect(s.write8(64005, 0x5a)).toBe(true);
  return s;
}

/** The InvariantViolation id `f` throws, or "none". */
function violation(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.id;
    throw e;
  }
  return "none";
}

describe("a teaching address space's tables are bytes in memsim RAM", () => {
  it("ostep-multilevel: one frame; the PDE 0xa1 and PTE 0xb5 sit at its bytes 0xd98 and 0x428, unused entries 0x7f", () => {
    const m = boot();
    const s = multilevel(m);
    const frames = s.frames();
    expect(frames.map((f) => f.base)).toEqual([0]);
    const ram = frames[0]!.pfn * 4096;
    const byte = (pa: number) => m.kernel.phys.read8(ram + pa);
    expect([byte(0xd98), byte(0x428), byte(1724)]).toEqual([0xa1, 0xb5, 0x08]);
    // The rest of the directory (108*32 .. +31) and of the table (33*32 .. +31) reads "not valid, PFN 127".
    const dir = Array.from({ length: 32 }, (_, i) => byte(108 * 32 + i));
    const table = Array.from({ length: 32 }, (_, i) => byte(33 * 32 + i));
    expect(dir.filter((b) => b === 0x7f).length).toBe(31);
    expect(table.filter((b) => b === 0x7f).length).toBe(31);
    // The data page 53 was never written past its byte 28.
    expect(byte(53 * 32)).toBe(0);
    expect(s.physAddr(0xd98)).toBe(ram + 0xd98);
    s.destroy();
  });

  it("ostep-16k: 4-byte entries stored little-endian, valid bit 31 in the last byte; three frames backing the bytes written", () => {
    const m = boot();
    const s = sixteenK(m);
    expect(s.frames().map((f) => f.base)).toEqual([0, 4096, 61440]);
    const bytes = (pa: number) => [0, 1, 2, 3].map((i) => m.kernel.phys.read8(s.physAddr(pa) + i));
    expect(bytes(0x3c)).toEqual([0x64, 0x00, 0x00, 0x80]);
    expect(bytes(0x193c)).toEqual([0xe8, 0x03, 0x00, 0x80]);
    expect(m.kernel.phys.read32(s.physAddr(0x3c))).toBe(0x80000064);
    // Every other directory entry is 0 (emptyEntry), i.e. not valid.
    for (let i = 0; i < 15; i++) expect(m.kernel.phys.read32(s.physAddr(i * 4))).toBe(0);
    expect(m.kernel.phys.read8(s.physAddr(64005))).toBe(0x5a);
    s.destroy();
  });
});

describe("a walk reads the entries from RAM and reports each step", () => {
  it("translates 0x611c to 0x6bc through PDE 24 (0xa1) and PTE 8 (0xb5)", () => {
    const s = multilevel(boot());
    expect(s.walk(0x611c)).toBe(0x6bc);
    const steps = Array.from({ length: s.stepCount }, (_, i) => [s.stepIndex(i), s.stepEntryAddr(i), s.stepRaw(i)]);
    expect(steps).toEqual([
      [24, 0xd98, 0xa1],
      [8, 0x428, 0xb5],
    ]);
    expect(s.read8(0x6bc)).toBe(0x08);
  });

  it("faults at the directory for 0x3da8 (PDX 15: 0x7f) and at the table for 0x6120 (PDX 24, PTX 9: 0x7f at 33*32+9)", () => {
    const s = multilevel(boot());
    expect([s.walk(0x3da8), s.stepCount, s.stepEntryAddr(0), s.stepRaw(0)]).toEqual([-1, 1, 108 * 32 + 15, 0x7f]);
    expect([s.walk(0x6120), s.stepCount, s.stepEntryAddr(1), s.stepRaw(1)]).toEqual([-2, 2, 33 * 32 + 9, 0x7f]);
  });

  it("says TEACH_OUTSIDE past the 15 address bits and TEACH_NO_ROOT before setRoot, reading nothing", () => {
    const m = boot();
    const s = multilevel(m);
    expect([s.walk(0x8000), s.walk(-1), s.stepCount]).toEqual([TEACH_OUTSIDE, TEACH_OUTSIDE, 0]);
    const fresh = m.teach({ geometry: "ostep-multilevel" });
    expect([fresh.walk(0), fresh.stepCount, fresh.frames().length]).toEqual([TEACH_NO_ROOT, 0, 0]);
  });

  it("ostep-16k translates 0x3fc5 to 64005 through 0x80000064 and 0x800003e8", () => {
    const s = sixteenK(boot());
    expect(s.walk(0x3fc5)).toBe(64005);
    expect([s.stepEntryAddr(0), s.stepRaw(0), s.stepEntryAddr(1), s.stepRaw(1)]).toEqual([0x3c, 0x80000064, 0x193c, 0x800003e8]);
    expect(s.read8(64005)).toBe(0x5a);
  });

  it("a linear table of -a 16k -P 1k over 64 KiB: VPN 5 -> PFN 7 makes 0x1423 = 7*1024+0x23 = 7203", () => {
    const g = linearTeachGeometry(16384, 1024, 65536) as TeachGeometry;
    expect([g.vaBits, g.pageBits, g.indexBits]).toEqual([14, 10, [4]]);
    const s = boot().teach({ geometry: g });
    expect(s.makeTable(32, 0)).toBe(true);
    s.setRoot(32);
    expect(s.map(0x1400, 7, () => -1)).toBe(true);
    // The PTE of VPN 5 is at the table's 32*1024 + 5*4 = 32788.
    expect([s.walk(0x1423), s.stepEntryAddr(0), s.stepRaw(0)]).toEqual([7203, 32788, 0x80000007]);
    expect([s.walk(0x1800), s.stepRaw(0)]).toEqual([-1, 0]);
    expect(linearTeachGeometry(12288, 1024, 65536)).toBe("sizes must be powers of two, the page no larger than the space");
  });
});

describe("explainTeach: the translation in the geometry's own bits", () => {
  it("cuts 0x611c into PDX 11000, PTX 01000, offset 11100 and each entry into V | PFN", () => {
    const s = multilevel(boot());
    const at = (pa: number) => `memsim P0x${s.physAddr(pa).toString(16)}`;
    expect(explainTeach(s, 0x611c)).toBe(
      [
        "VA 0x611c on ostep-multilevel: 15-bit addresses, 32-byte pages, 2 levels (5+5 index bits), 1-byte entries (valid bit 7, PFN bits 6..0), 4096 bytes of memory",
        "  bits   11000 01000 11100",
        "  field  PDX   PTX   offset",
        "  value  24    8     28",
        `  PDE 24     at P0xd98 (page directory at page 108; ${at(0xd98)}): 0xa1 = V 1 | PFN 0100001: valid 1, PFN 0x21`,
        `  PTE 8      at P0x428 (page table at page 33; ${at(0x428)}): 0xb5 = V 1 | PFN 0110101: valid 1, PFN 0x35`,
        "  PA P0x6bc = PFN 0x35 * 32 + offset 28: byte 0x8",
        "",
      ].join("\n"),
    );
    expect(explainTeach(s, 0x3da8).split("\n").slice(-3)).toEqual([
      `  PDE 15     at P0xd8f (page directory at page 108; ${at(0xd8f)}): 0x7f = V 0 | PFN 1111111: valid 0, PFN 0x7f`,
      "  fault: the PDE is not valid",
      "",
    ]);
  });

  it("shows the bits between the valid bit and the PFN of a geometry that has some", () => {
    // valid bit 15, PFN bits 11..0: raw 0x8005 is V 1, reserved 000, PFN 5.
    const g: TeachGeometry = { ...(linearTeachGeometry(1024, 64, 4096) as TeachGeometry), entryBytes: 2, validBit: 15, pfnBits: 12 };
    const s = boot().teach({ geometry: g });
    expect(s.makeTable(32, 0)).toBe(true);
    s.setRoot(32);
    expect(s.map(0, 5, () => -1)).toBe(true);
    expect(explainTeach(s, 3).split("\n")[4]).toMatch(/: 0x8005 = V 1 \| reserved 000 \| PFN 000000000101: valid 1, PFN 0x5$/);
  });
});

describe("the teaching address space's checker (m.check)", () => {
  it("passes on a built space and names the broken rule when its bytes are corrupted", () => {
    const m = boot();
    const s = multilevel(m);
    m.check();
    // TEACH-7: a PTE made valid behind map()'s back (PTE 9 of table 33 -> page 60).
    s.writeEntry(33 * 32 + 9, 0x80 | 60);
    expect(violation(() => m.check("teach"))).toBe("TEACH-7");
    s.writeEntry(33 * 32 + 9, 0x7f);
    // TEACH-5: the leaf maps the directory's own page.
    s.writeEntry(0x428, 0x80 | 108);
    expect(violation(() => m.check("teach"))).toBe("TEACH-5");
    s.writeEntry(0x428, 0xb5);
    // TEACH-4: a PDE pointing at a data page, not a table.
    s.writeEntry(108 * 32 + 1, 0x80 | 53);
    expect(violation(() => m.check())).toBe("TEACH-4");
    s.writeEntry(108 * 32 + 1, 0x7f);
    expect(violation(() => m.check())).toBe("none");
  });

  it("refuses a geometry that does not add up, and an unknown name", () => {
    const m = boot();
    const bad = { ...(linearTeachGeometry(1024, 64, 4096) as TeachGeometry), indexBits: [3] };
    expect(() => m.teach({ geometry: bad })).toThrow("teach: linear: index bits 3 do not make the 4 VPN bits");
    expect(() => m.teach({ geometry: "nope" as "ostep-16k" })).toThrow(RangeError);
  });

  it("is not a boot geometry: Machine.boot names m.teach instead", () => {
    expect(() => Machine.boot({ ramBytes: 4 << 20, mmu: "ostep-16k" as never })).toThrow(
      'Machine.boot: "ostep-16k" is a teaching geometry, not a process MMU (processes keep 4 KiB pages): make one inside a machine with m.teach({ geometry: "ostep-16k" })',
    );
  });
});

describe("tearing a teaching address space down", () => {
  it("gives every frame back: free frames and MemFree as before, and its checker leaves m.check()", () => {
    const m = boot();
    const free0 = freeFrames(m);
    const s = sixteenK(m);
    // Frames for teaching bytes 0.., 4096.. and 61440.. (directory, table 100, page 1000), then a table
    // in page 300 (byte 19200: the 5th 4 KiB) and data in page 200 (byte 12800: the 4th): 5 frames.
    expect(s.map(0x0000, 200, () => 300)).toBe(true);
    expect(s.write8(200 * 64, 1)).toBe(true);
    expect(s.frames().length).toBe(5);
    expect(freeFrames(m)).toBe(free0 - 5);
    m.check();
    s.destroy();
    expect(freeFrames(m)).toBe(free0);
    m.check();
    expect(() => m.check("teach")).toThrow(RangeError);
    expect(() => s.read8(0)).toThrow(KernelPanic);
    expect(() => s.destroy()).toThrow(KernelPanic);
  });

  it("panics on a mapping that would break the tables: a remap, a table page as data, a table over data or a table", () => {
    const s = multilevel(boot());
    expect(() => s.map(0x6100, 54, () => 34)).toThrow("teach map: remap of 0x6100");
    // VA 0x6120 (PTX 9) shares table 33; page 108 is the directory.
    expect(() => s.map(0x6120, 108, () => 34)).toThrow("teach map: page 108 is part of a table");
    expect([s.pageUse(108), s.pageUse(33), s.pageUse(53), s.pageUse(54)]).toEqual(["table", "table", "data", "free"]);
    expect(() => s.makeTable(53, 1)).toThrow("teach makeTable: page 53 is mapped as data");
    expect(() => s.makeTable(33, 1)).toThrow("teach makeTable: page 33 is already part of a table");
  });
});

describe("a teaching address space takes its frames through the frames layer, as any layer does", () => {
  it("works the same on xv6's frame allocator (layers.frames), MemFree back after destroy", () => {
    const m = Machine.boot({ ramBytes: 4 << 20, layers: { frames: xv6Frames } });
    const memFree = () => /MemFree:\s+(\d+)/.exec(m.proc.meminfo())?.[1];
    const before = memFree();
    const s = multilevel(m);
    expect([s.walk(0x611c), s.stepRaw(0), s.stepRaw(1), s.read8(0x6bc)]).toEqual([0x6bc, 0xa1, 0xb5, 0x08]);
    expect(memFree()).toBe(String(Number(before) - 4));
    m.check();
    s.destroy();
    expect(memFree()).toBe(before);
    m.check();
  });
});
