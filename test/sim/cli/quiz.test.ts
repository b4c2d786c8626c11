/**
 * The quiz's small models agree with what they teach: the kmalloc rule with
 * memsim's own kmalloc, the buddy model with its invariants, the page walk
 * with hand-computed indices, the fit policies with their definitions.
 */
import { describe, expect, it } from "vitest";
import { BuddyModel, orderFor } from "../../../sim/cli/quiz/buddy.ts";
import { FreeListModel } from "../../../sim/cli/quiz/fit.ts";
import { kmallocOnMemsim, kmallocPlace } from "../../../sim/cli/quiz/kmalloc.ts";
import { vaIndices, walk } from "../../../sim/cli/quiz/translate.ts";
import { Machine } from "../../../sim/machine.ts";

describe("quiz models", () => {
  it("the kmalloc rule the quiz states is what memsim's kmalloc does, for every size up to 9000 and beyond", () => {
    const m = Machine.boot({ ramBytes: 8 << 20, debugVm: 0 });
    const sizes = [...Array.from({ length: 9001 }, (_, i) => i), 12000, 16384, 16385, 40000, 131072];
    const differ = sizes.filter((n) => JSON.stringify(kmallocOnMemsim(m, n)) !== JSON.stringify(kmallocPlace(n)));
    expect(differ).toEqual([]);
  });

  it("buddy model: split keeps the lower half, free merges back to one block", () => {
    const b = new BuddyModel(4);
    const a = b.alloc(orderFor(3));
    const c = b.alloc(0);
    expect([a, c, b.describe()]).toEqual([0, 4, "order 0: 5 | order 1: 6 | order 2: - | order 3: 8 | order 4: -"]);
    b.freeBlock(a as number, 2);
    b.freeBlock(c as number, 0);
    expect(b.describe()).toEqual("order 0: - | order 1: - | order 2: - | order 3: - | order 4: 0");
    expect(new BuddyModel(2).alloc(3)).toBeNull();
  });

  it("page walk: indices and offset of a known address, and the frame it reaches", () => {
    const va = 0x7f12_3456_7abc;
    expect(vaIndices(va)).toEqual({ idx: [254, 72, 418, 359], offset: 0xabc });
    const tables = new Map([
      [1, new Map([[254, 2 * 4096 + 7]])],
      [2, new Map([[72, 3 * 4096 + 7]])],
      [3, new Map([[418, 4 * 4096 + 7]])],
      [4, new Map([[359, 0x99 * 4096 + 7]])],
    ]);
    expect(walk(tables, 1, va, true).pa).toBe(0x99abc);
    expect(walk(tables, 1, va + 4096, false).fault).toBe("page fault: not present at PT (error code: user read, not present)");
  });

  it("fit policies pick the chunk their definition names", () => {
    const pick = (policy: "first" | "best" | "worst" | "next") => {
      const f = new FreeListModel(0, 100, policy);
      const ptrs = [10, 5, 30, 5, 20].map((n) => f.malloc(n) as number);
      f.freeChunk(ptrs[0] as number, 10);
      f.freeChunk(ptrs[2] as number, 30);
      return f.malloc(8);
    };
    // free list: [0,10) [15,45) [50+20=70,100): first -> 0, best -> 0 (10), worst -> 15 (30), next -> 70 (after the last allocation at 50..70)
    expect([pick("first"), pick("best"), pick("worst"), pick("next")]).toEqual([0, 0, 15, 70]);
  });
});

describe("the translation quiz walks tables the way memsim's MMU does", () => {
  it("for touched pages of a real process, the quiz's walk over the kernel's own entries reaches the same physical address", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, seed: 3 });
    const p = m.spawn("walk");
    const base = p.sys.mmap(0, 64 * 4096, 3, 0x22);
    for (let i = 0; i < 64; i += 5) p.mem.write8(base + i * 4096, 1);
    for (let i = 0; i < 64; i += 5) {
      const va = base + i * 4096 + 123;
      const text = p.mm.pt.explain(va);
      const tables = new Map<number, Map<number, number>>();
      for (const m2 of text.matchAll(/L\d \S+\s+pfn 0x([0-9a-f]+) \[\s*(\d+)\] = 0x([0-9a-f]{16})/g)) {
        const table = Number.parseInt(m2[1] as string, 16);
        // Bits 0..51 (flags and frame); NX (bit 63) does not fit a double and the quiz does not ask about execution.
        const entry = Number.parseInt((m2[3] as string).slice(3), 16);
        if (!tables.has(table)) tables.set(table, new Map());
        tables.get(table)?.set(Number(m2[2]), entry);
      }
      const pa = Number.parseInt(/=> pa 0x([0-9a-f]+)/.exec(text)?.[1] ?? "-1", 16);
      expect(walk(tables, p.mm.pt.root, va, false).pa).toBe(pa);
    }
  });
});
