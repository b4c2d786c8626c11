import { describe, expect, it } from "vitest";
import { ConfigError, MADV_PAGEOUT, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../sim/index.ts";

/** A process with two fresh private anonymous pages at `a`. */
function story(opts: Parameters<typeof Machine.boot>[0] = {}) {
  const m = Machine.boot({ ramBytes: 16 << 20, seed: 1, ...opts });
  const p = m.spawn("clock");
  const a = p.sys.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  return { m, p, a };
}

describe("the cost clock", () => {
  it("starts at 0 ns on a fresh process that has touched nothing", () => {
    const { m } = story();
    expect(m.clock.now()).toBe(0);
    expect(m.clock.effectiveAccessNs()).toBe(0);
  });

  it("charges a first store: the miss, the fault, and the retried access's miss (2 x 1 + 2 x 100 + 1000 ns)", () => {
    const { m, p, a } = story();
    p.mem.write32(a, 1);
    expect(m.clock.now()).toBe(1202);
    expect(m.clock.breakdown().map((r) => [r.kind, r.count, r.ns])).toEqual([
      ["access", 2, 2],
      ["tlbMiss", 2, 200],
      ["fault", 1, 1000],
      ["swapIn", 0, 0],
      ["swapOut", 0, 0],
      ["diskRead", 0, 0],
      ["diskWrite", 0, 0],
    ]);
  });

  it("charges a TLB hit on the same page 1 ns", () => {
    const { m, p, a } = story();
    p.mem.write32(a, 1);
    p.mem.write32(a + 4, 2);
    expect(m.clock.now()).toBe(1203);
  });

  it("gives the effective access time over the run: 2405 ns over 5 accesses", () => {
    const { m, p, a } = story();
    p.mem.write32(a, 1);
    p.mem.write32(a + 4, 2);
    p.mem.read32(a + 4096); // a read fault maps the zero page
    expect(m.clock.now()).toBe(2405);
    expect(m.clock.effectiveAccessNs()).toBe(481);
  });

  it("counts kernel accesses through the direct map as memory accesses too", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, seed: 1 });
    const kva = m.kernel.kmalloc(64);
    const before = m.clock.breakdown()[0]!.count;
    m.kernel.mem.write32(kva, 7);
    m.kernel.mem.read32(kva);
    expect(m.clock.breakdown()[0]!.count - before).toBe(2);
  });

  it("takes configured costs per kind and keeps the defaults for the rest", () => {
    const { m, p, a } = story({ clock: { fault: 5000, access: 2 } });
    p.mem.write32(a, 1);
    expect(m.clock.costs).toEqual({
      access: 2,
      tlbMiss: 100,
      fault: 5000,
      swapIn: 100_000,
      swapOut: 100_000,
      diskRead: 100_000,
      diskWrite: 100_000,
      ipi: 1000,
      lockWait: 1,
      l1Miss: 10,
      llcMiss: 60,
      remote: 10,
    });
    expect(m.clock.now()).toBe(2 * 2 + 2 * 100 + 5000);
  });

  it("is the same on two machines that run the same story", () => {
    const run = () => {
      const { m, p, a } = story({ seed: 9 });
      for (let i = 0; i < 2 * 4096; i += 512) p.mem.write32(a + i, i);
      const c = p.fork()!;
      c.mem.write32(a, 5);
      return m.clock.now();
    };
    expect(run()).toBe(run());
  });

  it("appears in m.stats() with its breakdown", () => {
    const { m, p, a } = story();
    p.mem.write32(a, 1);
    const s = m.stats().clock as { ns: number; effectiveAccessNs: number; kinds: { kind: string }[] };
    expect(s.ns).toBe(1202);
    expect(s.effectiveAccessNs).toBe(601);
    expect(s.kinds.map((k) => k.kind)).toEqual(["access", "tlbMiss", "fault", "swapIn", "swapOut", "diskRead", "diskWrite"]);
  });

  it("refuses unknown kinds and costs that are not whole nanoseconds", () => {
    expect(() => Machine.boot({ clock: { disk: 5 } as never })).toThrow(
      new ConfigError(
        "Machine.boot: unknown clock cost 'disk' (kinds are access, tlbMiss, fault, swapIn, swapOut, diskRead, diskWrite, ipi, lockWait, l1Miss, llcMiss, remote)",
      ),
    );
    expect(() => Machine.boot({ clock: { fault: 1.5 } })).toThrow(
      new ConfigError("Machine.boot: clock.fault must be an integer from 0 to 1000000000, got 1.5"),
    );
    expect(() => Machine.boot({ clock: 3 as never })).toThrow(new ConfigError("Machine.boot: clock must be an object of costs, got 3"));
  });
});

describe("the cost clock with swap", () => {
  it("charges a page written out and read back 100 us each, and the major fault 1 us", () => {
    const { m, p, a } = story({ swapBytes: 1 << 20 });
    p.mem.write32(a, 0x1234);
    const before = m.clock.now();
    expect(p.sys.madvise(a, 4096, MADV_PAGEOUT)).toBe(0);
    expect(m.clock.now() - before).toBe(100_000);
    expect(p.mem.read32(a)).toBe(0x1234);
    // pageout flushed the entry: the read misses, faults (a major fault that reads the slot), and misses again.
    expect(m.clock.now() - before).toBe(100_000 + 100_000 + 1000 + 2 * (1 + 100));
    expect(m.clock.breakdown().map((r) => [r.kind, r.count])).toEqual([
      ["access", 4],
      ["tlbMiss", 4],
      ["fault", 2],
      ["swapIn", 1],
      ["swapOut", 1],
      ["diskRead", 0],
      ["diskWrite", 0],
    ]);
  });
});
