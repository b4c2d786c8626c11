import { describe, expect, it } from "vitest";
import { KCOMPACTD_PERIOD_NS, zoneScore } from "../../../kernel/mm/compaction.ts";
import { __GFP_NOWARN, GFP_KERNEL, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const PAGE = 4096;

/**
 * 16 MiB (one zone, 4096 frames), a fault costing 10 ms on the cost clock:
 * a and b touch pages in turns until about 300 frames are left, b exits,
 * and a's pages lie every other frame. Proactive compaction is off while it
 * is built.
 */
function fragmented() {
  const m = Machine.boot({ ramBytes: 16 << 20, seed: 1, debugVm: 1, clock: { fault: 10_000_000 } });
  m.kernel.setCompactionProactiveness(0);
  const a = m.spawn("a");
  const b = m.spawn("b");
  const pages = Math.floor((m.kernel.buddy.nrFreePages() + m.kernel.buddy.nrPcpPages() - 300) / 2);
  const rw = PROT_READ | PROT_WRITE;
  const va = a.sys.mmap(0, pages * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const extra = a.sys.mmap(0, 128 * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  const vb = b.sys.mmap(0, pages * PAGE, rw, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < pages; i++) {
    a.mem.write32(va + i * PAGE, 0x1000 + i);
    b.mem.write32(vb + i * PAGE, 7);
  }
  b.exit(0);
  m.kernel.drainPcp();
  return { m, a, va, pages, extra, c: m.kernel.compaction };
}

function readsBack(f: ReturnType<typeof fragmented>): number {
  let same = 0;
  for (let i = 0; i < f.pages; i++) if (f.a.mem.read32(f.va + i * PAGE) === 0x1000 + i) same++;
  return same;
}

describe("kcompactd on the cost clock", () => {
  it("wakes on its 500 ms timer, compacts while the node's score is above 90 and stops at 80 or below", () => {
    const f = fragmented();
    const { m, a, extra, c } = f;
    const zone = m.kernel.pages.layer.zones?.[0] as NonNullable<typeof m.kernel.pages.layer.zones>[number];
    // b's frames, every other one, are free single frames: 99% of the free memory is in blocks below 2 MiB.
    expect(c.fragmentationScore()).toBe(99);
    // The timer fired at the last fault of the setup (doing nothing: proactiveness 0) and was set 500 ms on.
    const due = c.nextWake;
    expect(due - m.clock.now()).toBeGreaterThan(0);
    expect(due - m.clock.now()).toBeLessThanOrEqual(500_000_000);
    expect(m.kernel.setCompactionProactiveness(20)).toBe(20);
    // Faults of 10 ms each (and their few accesses) until the clock passes `due`: nothing happens before that.
    let i = 0;
    while (m.clock.now() < due) {
      expect(vmstat(m, "compact_daemon_wake")).toBe(0);
      a.mem.write32(extra + i++ * PAGE, 5);
    }
    // 379.99 ms were left: the 38th fault crosses it, and kcompactd runs once at its safe point.
    expect(i).toBe(38);
    expect(vmstat(m, "compact_daemon_wake")).toBe(1);
    // The run stops at the first page block after which the zone's score is at or below the low watermark
    // (100 - 20 = 80): 510 pages moved, the score is 75 (74 for the node, weighted by 4096 / 4097).
    expect([vmstat(m, "pgmigrate_success"), zoneScore(zone, 10), c.fragmentationScore()]).toEqual([510, 75, 74]);
    // Set 500 ms after the crossing fault's safe point; the access that fault was for came after it (1 ns + 100 ns).
    expect(m.clock.now() + 500_000_000 - c.nextWake).toBe(101);
    expect(readsBack(f)).toBe(f.pages);
    m.check();
    // The next period finds the score (74) below the high watermark (90): no run.
    const next = c.nextWake;
    while (m.clock.now() < next) a.mem.write32(extra + i++ * PAGE, 5);
    expect([vmstat(m, "compact_daemon_wake"), vmstat(m, "pgmigrate_success")]).toEqual([1, 510]);
    m.check();
  });

  it("never runs with proactiveness 0; the knob refuses values outside 0..100", () => {
    const f = fragmented();
    const { m, a, extra, c } = f;
    expect([101, -1, 2.5].map((n) => m.kernel.setCompactionProactiveness(n))).toEqual([0, 0, 0]);
    // 64 faults of 10 ms (more than a period): the timer fires, and does nothing.
    for (let i = 0; i < 64; i++) a.mem.write32(extra + i * PAGE, 5);
    expect(c.nextWake).toBeGreaterThan(KCOMPACTD_PERIOD_NS);
    expect([vmstat(m, "compact_daemon_wake"), vmstat(m, "pgmigrate_success"), c.fragmentationScore()]).toEqual([0, 0, 99]);
    m.check();
  });

  it("defers 64 periods after a run that did not lower the score (nothing movable)", () => {
    const m = Machine.boot({ ramBytes: 16 << 20, seed: 1, debugVm: 1 });
    const c = m.kernel.compaction;
    // Every free frame taken by the kernel, then every other one freed: kernel pages, which no one can move.
    const held: number[] = [];
    for (let pfn = m.kernel.allocPages(0, GFP_KERNEL | __GFP_NOWARN); pfn !== null; pfn = m.kernel.allocPages(0, GFP_KERNEL | __GFP_NOWARN))
      held.push(pfn);
    for (let j = 0; j < held.length; j += 2) m.kernel.freePages(held[j] as number, 0);
    m.kernel.drainPcp();
    const before = c.fragmentationScore();
    expect(before).toBeGreaterThan(90);
    const now = c.nextWake;
    expect(c.tick(now)).toBe(true);
    // One run (compact_daemon_wake), nothing moved, the score unchanged: the next wake is 64 x 500 ms away.
    expect([vmstat(m, "compact_daemon_wake"), vmstat(m, "pgmigrate_success"), c.fragmentationScore()]).toEqual([1, 0, before]);
    expect(c.nextWake).toBe(now + 64 * KCOMPACTD_PERIOD_NS);
    expect(c.tick(now + KCOMPACTD_PERIOD_NS)).toBe(false);
    m.check();
  });
});
