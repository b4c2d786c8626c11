/**
 * Memory tiering against a model: a fast node 0 held near its low watermark
 * by a background mapping, and random steps on a small working set (write,
 * read, pressure that makes node 0's kswapd demote, releases that make room
 * on node 0, NUMA-balancing scans
 * whose hinting faults promote, fork, munmap, mprotect to PROT_NONE and
 * back, exit). The model is what each process last wrote to each page;
 * after every step every page of every live process reads back its value
 * (reads of hinting entries take the fault and may promote), every present
 * entry maps a frame holding those bytes, and the invariant checkers pass.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, Machine, PROT_NONE, PROT_READ, PROT_WRITE, type Process } from "../../sim/index.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const BASE = 0x100000000;
const PAGES = 8;
/** The background mapping: 980 pages leave node 0's Normal zone (1024 frames, low 32) a few pages above low. */
const BG = 0x200000000;
const BG_PAGES = 980;
/** Node 1's first frame. */
const NODE1 = 5120;

type Cmd =
  | { kind: "write"; proc: number; page: number; value: number }
  | { kind: "pressure"; pages: number }
  | { kind: "release"; pages: number }
  | { kind: "scan"; proc: number }
  | { kind: "fork"; proc: number }
  | { kind: "munmap"; proc: number; page: number }
  | { kind: "protnone"; proc: number; page: number }
  | { kind: "exit"; proc: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    proc: fc.nat(3),
    page: fc.nat(PAGES - 1),
    value: fc.integer({ min: 1, max: 0x7fffffff }),
  }),
  fc.record({ kind: fc.constant("pressure" as const), pages: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant("release" as const), pages: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("scan" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("fork" as const), proc: fc.nat(3) }),
  fc.record({ kind: fc.constant("munmap" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("protnone" as const), proc: fc.nat(3), page: fc.nat(PAGES - 1) }),
  fc.record({ kind: fc.constant("exit" as const), proc: fc.nat(3) }),
);

interface Live {
  p: Process;
  /** Per page: the value last written (0 = mapped, never written), or -1 when unmapped. */
  pages: number[];
}

/** Over all runs: pages demoted and promoted (the property must have moved pages both ways). */
let demoted = 0;
let promoted = 0;

function vmstat(m: Machine, name: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

function run(cmds: Cmd[]): void {
  const nodes = [
    { cpus: [0], memBytes: 20 * MiB },
    { cpus: [], memBytes: 4 * MiB },
  ];
  const m = Machine.boot({ numa: { nodes, tiering: true }, swapBytes: 8 * MiB, seed: 7, debugVm: 1 });
  const first = m.spawn("p0");
  const rw = PROT_READ | PROT_WRITE;
  expect(first.sys.mmap(BASE, PAGES * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  // The working set first (the oldest pages: the first victims), then the background.
  for (let i = 0; i < PAGES; i++) first.mem.write32(BASE + i * PAGE, i + 1);
  expect(first.sys.mmap(BG, 4096 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BG);
  let bg = 0;
  for (; bg < BG_PAGES; bg++) first.mem.write32(BG + bg * PAGE, 1);
  const live: Live[] = [{ p: first, pages: Array.from({ length: PAGES }, (_, i) => i + 1) }];
  const balancing = m.kernel.taskParts.memory.numaHint;
  for (const c of cmds) {
    const l = live[((c as { proc?: number }).proc ?? 0) % live.length] as Live;
    if (c.kind === "write" && l.pages[c.page] !== -1) {
      l.p.mem.write32(BASE + c.page * PAGE, c.value);
      l.pages[c.page] = c.value;
    } else if (c.kind === "pressure") {
      for (let i = 0; i < c.pages && bg < 4096; i++, bg++) first.mem.write32(BG + bg * PAGE, 1);
    } else if (c.kind === "release") {
      // The newest background pages go (on node 0 mostly): room above node 0's high watermark for promotion.
      const n = Math.min(c.pages, bg);
      const at = BG + (bg - n) * PAGE;
      // A fresh mapping over them (MAP_FIXED unmaps first): pressure may touch them again.
      if (n > 0) expect(first.sys.mmap(at, n * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(at);
      bg -= n;
    } else if (c.kind === "scan") balancing?.scan(l.p.mm);
    else if (c.kind === "fork" && live.length < 4) {
      const child = l.p.fork();
      if (child !== null) live.push({ p: child, pages: [...l.pages] });
    } else if (c.kind === "munmap") {
      expect(l.p.sys.munmap(BASE + c.page * PAGE, PAGE)).toBe(0);
      l.pages[c.page] = -1;
    } else if (c.kind === "protnone" && l.pages[c.page] !== -1) {
      // PROT_NONE and back: the entry's PTE_US goes and comes back through mprotect, hint or not.
      expect(l.p.sys.mprotect(BASE + c.page * PAGE, PAGE, PROT_NONE)).toBe(0);
      expect(l.p.sys.mprotect(BASE + c.page * PAGE, PAGE, rw)).toBe(0);
    } else if (c.kind === "exit" && live.length > 1 && l !== live[0]) {
      l.p.exit(0);
      live.splice(live.indexOf(l), 1);
    }
    for (const x of live) {
      for (let i = 0; i < PAGES; i++) {
        const want = x.pages[i] as number;
        if (want < 0) continue;
        expect(x.p.mem.read32(BASE + i * PAGE)).toBe(want);
        const ptep = x.p.mm.pt.lookup(BASE + i * PAGE);
        if (ptep >= 0 && x.p.mm.pt.pteFlags(ptep) & 1) expect(m.kernel.phys.read32(x.p.mm.pt.ptePfn(ptep) * PAGE)).toBe(want);
      }
    }
    m.check();
  }
  for (let i = 0; i < bg; i++) expect(first.mem.read32(BG + i * PAGE)).toBe(1);
  demoted += vmstat(m, "pgdemote_kswapd") + vmstat(m, "pgdemote_direct");
  promoted += vmstat(m, "pgpromote_success");
  expect(NODE1).toBe(m.kernel.numa.startPfn[1]);
}

describe("memory tiering (property)", () => {
  it("every value reads back and every entry maps its bytes across demotion, scans, promotion, fork, munmap and mprotect", () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 20 }), (cmds) =>
        // Every story starts with pressure (a demotion), a scan of the first process and room on node 0, so pages move both ways.
        run([{ kind: "pressure", pages: 24 }, { kind: "scan", proc: 0 }, { kind: "release", pages: 64 }, ...cmds]),
      ),
      { numRuns: 8 },
    );
    expect(demoted).toBeGreaterThan(0);
    expect(promoted).toBeGreaterThan(0);
  });
});
