/**
 * The language's teaching address spaces (`teach NAME GEOMETRY`, then
 * `NAME map/write/read/walk/explain/show/destroy`). The numbers are OSTEP's
 * `paging-multilevel-translate -s 0` example, by hand: VA 0x611c is PDX 24,
 * PTX 8, offset 28; with the directory in page 108 and the table in page 33
 * the PDE (byte 108*32+24 = 0xd98) is 0x80|33 = 0xa1, the PTE (33*32+8 =
 * 0x428) is 0x80|53 = 0xb5, and the PA is 53*32+28 = 0x6bc.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../kernel/printk.ts";
import "../../../sim/cli/lang/commands.ts";
import { Session } from "../../../sim/cli/lang/session.ts";

function session(): Session {
  return new Session({ ramBytes: 4 << 20, seed: 1, log: silentLogger });
}

/** Each line's text (an error's starts with "error: "). */
function run(s: Session, lines: string[]): string[] {
  return lines.map((l) => {
    const r = s.exec(l);
    return r.kind === "skip" ? "" : r.text;
  });
}

describe("teach: a teaching address space from the command language", () => {
  it("builds OSTEP's example and walks it from RAM: 0x611c -> 0x6bc through 0xa1 and 0xb5", () => {
    const s = session();
    const out = run(s, ["teach T ostep-multilevel root=108", "T map 0x611c 53 tables=33", "T write 1724 8", "x = T walk 0x611c"]);
    const frame = s.m.kernel.phys; // the walk's memsim addresses are the frame's base plus the teaching address
    expect(out[0]).toBe(
      "T: ostep-multilevel: 15-bit addresses, 32-byte pages, 2 levels (5+5 index bits), 1-byte entries (valid bit 7, PFN bits 6..0), 4096 bytes of memory; root table at page 108",
    );
    expect(out.slice(1, 3)).toEqual(["0x6100 -> page 53 (new table at page 33)", "P0x6bc = 0x8"]);
    const m = /PDE P0xd98 \(memsim P0x([0-9a-f]+)\) = 0xa1 valid, PTE P0x428 \(memsim P0x([0-9a-f]+)\) = 0xb5 valid -> P0x6bc$/.exec(
      out[3]!,
    );
    expect(m).not.toBeNull();
    const [pde, pte] = [Number.parseInt(m![1]!, 16), Number.parseInt(m![2]!, 16)];
    expect([pte - pde, frame.read8(pde), frame.read8(pte)]).toEqual([0x428 - 0xd98, 0xa1, 0xb5]);
    expect(run(s, ["T read $x", "T walk 0x3da8"])).toEqual([
      "P0x6bc = 0x8",
      `0x3da8: PDE P0xd8f (memsim P0x${(pde - 9).toString(16)}) = 0x7f not valid -> fault`,
    ]);
    expect(run(s, ["T explain 0x611c"])[0]!.split("\n").slice(1, 4)).toEqual([
      "  bits   11000 01000 11100",
      "  field  PDX   PTX   offset",
      "  value  24    8     28",
    ]);
  });

  it("refuses what would break the tables, and the checker still passes", () => {
    const s = session();
    const out = run(s, [
      "teach T ostep-multilevel root=108",
      "T map 0x611c 53",
      "T map 0x6100 54",
      "T map 0x6120 108",
      "T write 0xd98 1",
      "T map 0x0 1 tables=53",
      "T map 0x0 1 tables=1,2",
      "T map 0x8000 1",
      "teach T ostep-16k",
      "teach U ostep-16k root=1016",
      "teach U nope",
      "check",
    ]);
    expect(out.slice(1)).toEqual([
      // The first free page for the table: 0 (108 is the directory, 53 the data page).
      "0x6100 -> page 53 (new table at page 0)",
      "error: T map: 0x6100 is mapped already",
      "error: T map: page 108 is part of a table",
      "error: T write: P0xd98 is in a table (entries change through map)",
      "error: T map: the level-1 table: page 53 is in use",
      "error: T map: tables= gives 2 pages, the walk needs 1",
      "error: T map: VA must be from 0 to 32767, got 0x8000",
      "error: teach: the name 'T' is taken",
      // 16 entries of 4 bytes from page 1016 end at 1017*64 = 65088, inside 65536: allowed.
      "U: ostep-16k: 14-bit addresses, 64-byte pages, 2 levels (4+4 index bits), 4-byte entries (valid bit 31, PFN bits 30..0), 65536 bytes of memory; root table at page 1016",
      "error: teach: the name 'U' is taken",
      expect.stringMatching(/^invariant checkers passed: .*teach, teach$/),
    ]);
  });

  it("a linear table (-a 16k -P 1k): VPN 5 -> 7 gives 0x1423 -> 7*1024+0x23 = 0x1c23; destroy gives its frame back", () => {
    const s = session();
    const free = () => /MemFree:\s+(\d+)/.exec(s.m.proc.meminfo())![1];
    run(s, ["drain"]);
    const before = free();
    const out = run(s, ["teach L linear asize=16K page=1K phys=64K root=32", "L map 0x1400 7", "L walk 0x1423", "L show", "drain"]);
    expect(out[2]).toMatch(/^0x1423: PTE P0x8014 \(memsim P0x[0-9a-f]+\) = 0x80000007 valid -> P0x1c23$/);
    expect(out[3]).toMatch(
      /^1 memsim frame \(alloc_pages order 0\): P0x8000-0x8fff in pfn 0x[0-9a-f]+\npage table page: 32 \(P0x8000\), root register = page 32$/,
    );
    expect(free()).toBe(String(Number(before) - 4));
    const after = run(s, ["L destroy", "drain", "L walk 0"]);
    expect([after[0], after[2]]).toEqual(["L: destroyed, 1 frame freed", "error: unknown command 'L' (try 'help')"]);
    expect(free()).toBe(before);
  });
});

describe("teach under random lines", () => {
  // Lines that reach every teach command and its refusals: geometries, pages in and past the memory, tables=.
  const OPTS = ["", "", "root=108", "root=1016", "root=5000", "page=64 asize=1K", "x"];
  const GEOMETRIES = ["ostep-multilevel", "ostep-16k", "linear"];
  const ADDRS = ["0", "3", "33", "0xd80", "0xd98", "1724", "0x611c", "0x3fc0", "0x7fff", "4095", "65535", "-1", "x"];
  const PAGES = ["0", "1", "33", "53", "108", "127", "1000", "1023", "4096"];
  const BYTES = ["0", "255", "0x80", "0xa1", "256"];
  const pick = (xs: string[]) => fc.constantFrom(...xs);
  const teachLine = fc
    .tuple(fc.constantFrom("T", "U", "9"), fc.constantFrom(...GEOMETRIES, "sv39"), fc.constantFrom(...OPTS))
    .map(([n, g, o]) => `teach ${n} ${g} ${o}`);
  // Every story starts with a space named T.
  const firstLine = fc.tuple(fc.constantFrom(...GEOMETRIES), fc.constantFrom(...OPTS)).map(([g, o]) => `teach T ${g} ${o}`);
  const args = fc.oneof(
    fc.tuple(fc.constant("map"), pick(ADDRS), pick(PAGES), pick(["", "", "tables=33", "tables=0,1", "tables=53", "tables=9999"])),
    fc.tuple(fc.constant("write"), pick(ADDRS), pick(BYTES)),
    fc.tuple(pick(["read", "walk", "explain"]), pick(ADDRS)),
    fc.tuple(pick(["show", "destroy", "walk", "map"])),
  );
  const line = fc.oneof(
    { weight: 1, arbitrary: teachLine },
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom("T", "T", "U"), args).map(([t, a]) => [t, ...a].join(" ")) },
  );

  it("every line is an answer or a refusal, never an internal error; the teach checker passes after each, every checker at the end", () => {
    fc.assert(
      fc.property(firstLine, fc.array(line, { maxLength: 30 }), (first, rest) => {
        const lines = [first, ...rest];
        const s = session();
        for (const l of lines) {
          const r = s.exec(l);
          if (/^(internal error|kernel panic|invariant)/.test(r.kind === "skip" ? "" : r.text))
            expect.fail(`${l}: ${r.kind === "skip" ? "" : r.text}`);
          // The teach checkers after every line (the space is the only thing the lines change), all of them at the end.
          if (s.subjects.size > 0) s.m.check("teach");
        }
        s.m.check();
      }),
      { numRuns: 80 },
    );
  });
});
