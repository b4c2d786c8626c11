/**
 * Page migration against a model: random anonymous workloads (write, fork,
 * munmap, exit) interleaved with migrations of random mapped pages and with
 * compact_memory. The model is what each process last wrote to each page;
 * after every step every page of every live process reads back its value,
 * every present entry maps a frame holding those bytes, and the invariant
 * checkers pass.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, type Process } from "../../sim/index.ts";

const PAGE = 4096;
const BASE = 0x100000000;
const PAGES = 8;

type Cmd =
  | { kind: "write"; proc: number; page: number; value: number }
  | { kind: "fork"; proc: number }
  | { kind: "munmap"; proc: number; page: number }
  | { kind: "exit"; proc: number }
  | { kind: "migrate"; proc: number; page: number }
  | { kind: "compact" };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    proc: fc.nat(3),
    page: fc.nat(PAGES - 1),
    value: fc.integer({ min: 1, max: 0x7fffffff }),
  }),
  fc.record({ kind: fc.constant("fork" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("munmap" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("exit" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("migrate" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("compact" as const) }),
);

interface Live {
  p: Process;
  /** Per page: the value last written (0 = mapped, never written: reads 0), or -1 when unmapped. */
  pages: number[];
}

const START: Cmd[] = [
  { kind: "write", proc: 0, page: 0, value: 0x5a5a },
  { kind: "migrate", proc: 0, page: 0 },
];

/** Successful migrations over all runs: the property must have moved pages, not only refused them. */
let moved = 0;

function run(cmds: Cmd[]): void {
  const m = Machine.boot({ ramBytes: 16 << 20, seed: 7, debugVm: 1 });
  const first = m.spawn("p0");
  expect(first.sys.mmap(BASE, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  const live: Live[] = [{ p: first, pages: new Array<number>(PAGES).fill(0) }];
  const migrate = m.kernel.taskParts.migrate;
  for (const c of cmds) {
    const l = live[((c as { proc?: number }).proc ?? 0) % live.length] ?? null;
    if (l === null) break;
    if (c.kind === "write" && l.pages[c.page] !== -1) {
      l.p.mem.write32(BASE + c.page * PAGE, c.value);
      l.pages[c.page] = c.value;
    } else if (c.kind === "fork" && live.length < 4) {
      const child = l.p.fork();
      if (child !== null) live.push({ p: child, pages: [...l.pages] });
    } else if (c.kind === "munmap") {
      expect(l.p.sys.munmap(BASE + c.page * PAGE, PAGE)).toBe(0);
      l.pages[c.page] = -1;
    } else if (c.kind === "exit" && live.length > 1) {
      l.p.exit(0);
      live.splice(live.indexOf(l), 1);
    } else if (c.kind === "migrate") {
      const ptep = l.p.mm.pt.lookup(BASE + c.page * PAGE);
      if (ptep >= 0 && l.p.mm.pt.pteFlags(ptep) & 1) {
        if (migrate.migratePage(l.p.mm.pt.ptePfn(ptep), -1) >= 0) moved++;
      }
    } else if (c.kind === "compact") m.kernel.compactMemory();
    for (const x of live) {
      for (let i = 0; i < PAGES; i++) {
        const want = x.pages[i] as number;
        if (want < 0) continue;
        expect(x.p.mem.read32(BASE + i * PAGE)).toBe(want);
        // The entry (when present) maps a frame whose bytes are the page's.
        const ptep = x.p.mm.pt.lookup(BASE + i * PAGE);
        if (ptep >= 0 && x.p.mm.pt.pteFlags(ptep) & 1) expect(m.kernel.phys.read32(x.p.mm.pt.ptePfn(ptep) * PAGE)).toBe(want);
      }
    }
    m.check();
  }
}

describe("page migration (property)", () => {
  it("every byte reads back and every entry maps its bytes across random workloads, migrations and compactions", () => {
    fc.assert(
      // Every story starts by writing and migrating page 0 of the first process, so every run moves at least one page.
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 25 }), (cmds) => run([...START, ...cmds])),
      { numRuns: 12 },
    );
    expect(moved).toBeGreaterThan(0);
  });
});
