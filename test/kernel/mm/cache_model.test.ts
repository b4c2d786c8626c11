import { describe, expect, it } from "vitest";
import { ConfigError, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../../sim/index.ts";

const RW = PROT_READ | PROT_WRITE;
const anon = MAP_PRIVATE | MAP_ANONYMOUS;

interface Row {
  dr: number;
  dw: number;
  d1mr: number;
  d1mw: number;
  dlmr: number;
  dlmw: number;
  invalidations: number;
  writebacks: number;
}

/** A process with one mapped page and a second thread, on 2 CPUs with the cache model of `cache`. */
function machine(cache: true | { l1?: { size?: number; ways?: number }; llc?: { size?: number; ways?: number } } = true) {
  const m = Machine.boot({ ramBytes: 16 << 20, cpus: 2, cache });
  const p = m.spawn("app");
  const a = p.sys.mmap(0, 4096, RW, anon);
  p.mem.write8(a + 2048, 0); // faults the page in (a private page, not the zero page); line a stays cold
  const t = p.spawnThread("worker", { stackBytes: 16384 });
  if (t === null) throw new Error("no thread");
  const rows = () => (m.stats().cache as { cpus: Row[] }).cpus;
  return { m, p, a, t, rows };
}

/** Counters of each CPU since `before`. */
function since(before: Row[], after: Row[]): Row[] {
  return after.map((r, c) => {
    const b = before[c] as Row;
    return {
      dr: r.dr - b.dr,
      dw: r.dw - b.dw,
      d1mr: r.d1mr - b.d1mr,
      d1mw: r.d1mw - b.d1mw,
      dlmr: r.dlmr - b.dlmr,
      dlmw: r.dlmw - b.dlmw,
      invalidations: r.invalidations - b.invalidations,
      writebacks: r.writebacks - b.writebacks,
    };
  });
}

/** The cache line of user address `va`, found by a side-effect-free walk (no access reaches the cache model). */
function lineOf(m: Machine, p: ReturnType<Machine["spawn"]>, va: number): number {
  const pa = m.kernel.mmu.peek(p.mm.pt, va);
  return (pa - (pa % 4096) + (va % 4096)) / 64;
}

const row = (o: Partial<Row>): Row => ({ dr: 0, dw: 0, d1mr: 0, d1mw: 0, dlmr: 0, dlmw: 0, invalidations: 0, writebacks: 0, ...o });

describe("the cache model (MESI L1s over a shared LLC)", () => {
  it("is off by default: no cache stats, user views keep the TLB fast path", () => {
    const m = Machine.boot({ ramBytes: 16 << 20 });
    expect(m.stats().cache).toBeUndefined();
    expect(m.kernel.mmu.observing).toBe(false);
    expect(() => m.proc.cachegrind()).toThrow("booted without the cache option");
  });

  it("two CPUs ping-ponging one line: each write after the first misses and invalidates the other CPU's M copy", () => {
    const { m, p, a, t, rows } = machine();
    const before = rows();
    m.run(
      [
        { thread: p, ops: [() => p.mem.write32(a, 1), () => p.mem.write32(a, 3)] },
        { thread: t, ops: [() => p.mem.write32(a, 2), () => p.mem.write32(a, 4)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 0, 1] } },
    );
    // CPU 0: cold write miss (also an LL miss), then a miss that finds CPU 1's M copy.
    // CPU 1: two misses served by CPU 0's M copy (no LL lookup).
    // Each miss after the first invalidates the other CPU's M copy, which writes it back: CPU 0 twice, CPU 1 once.
    expect(since(before, rows())).toEqual([
      row({ dw: 2, d1mw: 2, dlmw: 1, invalidations: 2, writebacks: 2 }),
      row({ dw: 2, d1mw: 2, invalidations: 1, writebacks: 1 }),
    ]);
    const line = lineOf(m, p, a);
    expect(m.kernel.smp.cache?.stateOf(1, line)).toBe("M");
    expect(m.kernel.smp.cache?.stateOf(0, line)).toBe("I");
    m.check();
  });

  it("a read-shared line stays S on both CPUs, with one miss each and no invalidation", () => {
    const { m, p, a, t, rows } = machine();
    const before = rows();
    m.run(
      [
        { thread: p, ops: [() => p.mem.read32(a), () => p.mem.read32(a)] },
        { thread: t, ops: [() => p.mem.read32(a), () => p.mem.read32(a)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 0, 1] } },
    );
    // CPU 0 misses cold (LL miss too) and gets E; CPU 1's miss is served by CPU 0, both end in S; the second reads hit.
    expect(since(before, rows())).toEqual([row({ dr: 2, d1mr: 1, dlmr: 1 }), row({ dr: 2, d1mr: 1 })]);
    const line = lineOf(m, p, a);
    expect([m.kernel.smp.cache?.stateOf(0, line), m.kernel.smp.cache?.stateOf(1, line)]).toEqual(["S", "S"]);
    m.check();
  });

  it("a write to an S line upgrades it to M (a hit) and invalidates the other copy", () => {
    const { m, p, a, t, rows } = machine();
    const before = rows();
    m.run(
      [
        { thread: p, ops: [() => p.mem.read32(a), () => p.mem.write32(a, 9)] },
        { thread: t, ops: [() => p.mem.read32(a)] },
      ],
      { schedule: { kind: "explicit", steps: [0, 1, 0] } },
    );
    // CPU 0: read miss (cold, LL miss), then the write finds S: a hit that invalidates CPU 1's S copy (no write-back).
    expect(since(before, rows())).toEqual([row({ dr: 1, dw: 1, d1mr: 1, dlmr: 1 }), row({ dr: 1, d1mr: 1, invalidations: 1 })]);
    m.check();
  });

  it("a one-set two-way L1 evicts its LRU line, writing a Modified victim back to the LLC", () => {
    const { m, p, a, rows } = machine({ l1: { size: 128, ways: 2 } });
    const before = rows();
    m.run([
      { thread: p, ops: [() => p.mem.write8(a, 1), () => p.mem.write8(a + 64, 1), () => p.mem.write8(a + 128, 1), () => p.mem.read8(a)] },
    ]);
    // The set holds the pre-touched line a+2048 (M) and one empty way. Three cold write misses (LL misses):
    // line 0 takes the empty way, line 1 evicts a+2048 (M: write-back), line 2 evicts line 0 (a second one);
    // reading line 0 again misses D1 but hits the LLC (filled there by its first miss) and evicts line 1 (a third).
    expect(since(before, rows())[0]).toEqual(row({ dr: 1, dw: 3, d1mr: 1, d1mw: 3, dlmw: 3, writebacks: 3 }));
    m.check();
  });

  it("charges D1 and LL misses on the cost clock and prints a cachegrind-like summary", () => {
    const { m, p, a } = machine({ l1: { size: 1024, ways: 2 }, llc: { size: 4096, ways: 4 } });
    const rows0 = m.clock.breakdown().filter((r) => r.kind === "l1Miss" || r.kind === "llcMiss");
    p.mem.write32(a, 1);
    p.mem.read32(a);
    const rows1 = m.clock.breakdown().filter((r) => r.kind === "l1Miss" || r.kind === "llcMiss");
    // One write miss that is also an LL miss; the read hits.
    expect(rows1.map((r) => r.count - (rows0.find((x) => x.kind === r.kind)?.count ?? 0))).toEqual([1, 1]);
    expect(rows1.map((r) => r.costNs)).toEqual([10, 60]);
    const text = m.proc.cachegrind();
    expect(text.split("\n").slice(0, 2)).toEqual([
      "D1 cache: 1024 B, 64 B, 2-way associative (per CPU)",
      "LL cache: 4096 B, 64 B, 4-way associative (shared)",
    ]);
    expect(text).toMatch(/\ntotal\n {2}D {3}refs: +\d+ {2}\(\d+ rd \+ \d+ wr\)\n {2}D1 {2}misses: +\d+/);
    expect(text).toMatch(/ {2}LLd miss rate: +\d+\.\d%/);
  });

  it("rejects a cache shape that is not a power of two", () => {
    expect(() => Machine.boot({ cache: { l1: { size: 1000 } } })).toThrow(ConfigError);
    expect(() => Machine.boot({ cache: { l1: { size: 64, ways: 2 } } })).toThrow(
      new ConfigError("Machine.boot: cache.l1 needs power-of-two size and ways with size >= 64 x ways, got 64/2"),
    );
    expect(() => Machine.boot({ cache: { l2: {} } as never })).toThrow(new ConfigError("Machine.boot: unknown option 'cache.l2'"));
  });
});
