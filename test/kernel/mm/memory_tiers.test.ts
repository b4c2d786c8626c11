import { describe, expect, it } from "vitest";
import { GFP_ATOMIC, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";
import { vmstat } from "../../support/vmstat.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const BASE = 0x100000000;
/** Node 1's first frame: node 0 holds 20 MiB = 5120 frames (DMA 0..4095, Normal 4096..5119). */
const NODE1 = 5120;

/** A fast node 0 (CPU 0, 20 MiB) and a slow memory-only node 1 (4 MiB), with swap. */
function boot(tiering: boolean, faultNs = 1000): { m: Machine; p: Process } {
  const nodes = [
    { cpus: [0], memBytes: 20 * MiB },
    { cpus: [], memBytes: 4 * MiB },
  ];
  const m = Machine.boot({ numa: { nodes, tiering }, swapBytes: 16 * MiB, debugVm: 1, clock: { fault: faultNs } });
  const p = m.spawn("t");
  return { m, p };
}

/** Distance units the cost clock's `remote` kind counted so far. */
function remoteUnits(m: Machine): number {
  return m.clock.breakdown().find((r) => r.kind === "remote")?.count ?? -1;
}

/** Maps `mapped` anonymous pages at BASE (default `pages`) and writes the first `pages` their index. */
function fill(p: Process, pages: number, mapped = pages): void {
  expect(p.sys.mmap(BASE, mapped * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
  for (let i = 0; i < pages; i++) p.mem.write32(BASE + i * PAGE, i);
}

/** Pages of [BASE, BASE + pages * 4096) whose value is not their index. */
function wrongValues(p: Process, pages: number): number {
  let bad = 0;
  for (let i = 0; i < pages; i++) if (p.mem.read32(BASE + i * PAGE) !== i) bad++;
  return bad;
}

/** Present pages of the mapping whose frame is on node 1. */
function onNode1(p: Process, pages: number): number {
  let n = 0;
  for (let i = 0; i < pages; i++) if (p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + i * PAGE)) >= NODE1) n++;
  return n;
}

describe("memory tiering: the boot option", () => {
  it("node 0 (CPUs) demotes to node 1 (no CPUs); without tiering no node has a target", () => {
    expect(Array.from(boot(true).m.kernel.numa.demotionTarget)).toEqual([1, -1]);
    expect(Array.from(boot(false).m.kernel.numa.demotionTarget)).toEqual([-1, -1]);
  });

  it("the zones the tests below count on: node 0's Normal zone has 1024 frames, watermarks min 26, low 32, high 38", () => {
    const { m } = boot(true);
    const z = m.kernel.buddy.zones.map((z) => [z.nid, z.name, z.startPfn, z.endPfn, z.wmarkMin, z.wmarkLow, z.wmarkHigh]);
    expect(z).toEqual([
      [0, "DMA", 0, 4096, 102, 127, 152],
      [0, "Normal", 4096, 5120, 26, 32, 38],
      [1, "Normal", 5120, 6144, 26, 32, 38],
    ]);
  });

  it("tiering needs a node with CPUs and one without", () => {
    const nodes = [
      { cpus: [0], memBytes: 4 * MiB },
      { cpus: [1], memBytes: 4 * MiB },
    ];
    expect(() => Machine.boot({ numa: { nodes, tiering: true } })).toThrow("numa.tiering needs a node with CPUs and a node without");
    expect(() => Machine.boot({ numa: { nodes, tiering: 1 as unknown as boolean } })).toThrow("numa.tiering must be true or false");
  });
});

describe("memory tiering: demotion", () => {
  it("the fault that leaves node 0's Normal zone at its low watermark wakes kswapd, which demotes 6 pages (high 38 - low 32)", () => {
    const { m, p } = boot(true);
    // After spawn node 0's Normal zone has 1022 free frames. 986 touched pages and their 4 page-table pages
    // (PUD, PMD and two PTE tables: 986 > 512) take 990 of them, leaving 32 = low: kswapd wakes and
    // reclaims up to high, 38 - 32 = 6 pages, each moved to node 1 (which has room).
    fill(p, 985, 986);
    expect(vmstat(m, "pgdemote_kswapd")).toBe(0);
    p.mem.write32(BASE + 985 * PAGE, 985);
    expect([vmstat(m, "pgdemote_kswapd"), vmstat(m, "pgdemote_direct"), vmstat(m, "kswapd_wakeups")]).toEqual([6, 0, 1]);
    expect([vmstat(m, "pgmigrate_success"), vmstat(m, "pswpout")]).toEqual([6, 0]);
    expect(onNode1(p, 986)).toBe(6);
    expect(m.kernel.buddy.zones[1]?.freePages).toBe(38);
    // Reading one demoted page refills its TLB entry (migration flushed it) from node 1: one remote fill of
    // distance 20 - 10 = 10 units on the cost clock.
    const i = Array.from({ length: 986 }, (_, k) => k).find((k) => p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + k * PAGE)) >= NODE1) ?? -1;
    const before = remoteUnits(m);
    expect(p.mem.read32(BASE + i * PAGE)).toBe(i);
    expect(remoteUnits(m) - before).toBe(10);
    expect(wrongValues(p, 986)).toBe(0);
    m.check();
  });

  it("direct reclaim: node 0's Normal zone below min before a fault allocates demotes SWAP_CLUSTER_MAX (32) pages", () => {
    const { m, p } = boot(true);
    fill(p, 900);
    // Atomic allocations may go below min: take node 0's Normal frames until 25 (min 26 - 1) are left.
    while ((m.kernel.buddy.zones[1]?.freePages ?? 0) >= 26) expect(m.kernel.pages.allocPagesNode(0, GFP_ATOMIC, 0, 1)).toBeGreaterThan(0);
    expect(vmstat(m, "pgdemote_direct")).toBe(0);
    // The next fault (a new page: the mapping is 900 pages, this one is past it) reclaims 32 pages first.
    expect(p.sys.mmap(BASE + 900 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE + 900 * PAGE);
    p.mem.write32(BASE + 900 * PAGE, 900);
    // 25 + 32 demoted - 1 for the fault = 56 free, above low (32): kswapd does not wake.
    expect([vmstat(m, "pgdemote_direct"), vmstat(m, "pgdemote_kswapd"), vmstat(m, "pswpout")]).toEqual([32, 0, 0]);
    expect(m.kernel.buddy.zones[1]?.freePages).toBe(56);
    expect(onNode1(p, 901)).toBe(32);
    expect(wrongValues(p, 901)).toBe(0);
    m.check();
  });

  it("1900 pages: with tiering the cold ones go to node 1, none to swap, every value reads back", () => {
    const { m, p } = boot(true);
    fill(p, 1900);
    expect(vmstat(m, "pswpout")).toBe(0);
    const demoted = vmstat(m, "pgdemote_kswapd");
    expect(demoted).toBeGreaterThan(800);
    // Node 1 holds the demoted pages and the ones that spilled there when node 0's Normal zone was at low.
    expect(onNode1(p, 1900)).toBeGreaterThanOrEqual(demoted);
    expect(wrongValues(p, 1900)).toBe(0);
    m.check();
  });

  it("2400 pages: once node 1 has no frame above min, node 0's reclaim swaps instead (the normal path)", () => {
    const { m, p } = boot(true);
    fill(p, 2400);
    expect(vmstat(m, "pgdemote_kswapd")).toBeGreaterThan(800);
    expect(vmstat(m, "pswpout")).toBeGreaterThan(0);
    // The oldest pages (swapped or demoted) read back; reading all 2400 would swap most of them in again.
    expect(wrongValues(p, 64)).toBe(0);
    m.check();
  });

  it("without tiering a full machine swaps and demotes nothing", () => {
    const { m, p } = boot(false);
    // 6100 pages are more than the 6029 free frames of both nodes after spawn: reclaim swaps.
    fill(p, 6100);
    expect(vmstat(m, "pswpout")).toBeGreaterThan(0);
    expect([vmstat(m, "pgdemote_kswapd"), vmstat(m, "pgdemote_direct")]).toEqual([0, 0]);
    expect(wrongValues(p, 6100)).toBe(0);
    m.check();
  });
});

describe("memory tiering: promotion by NUMA hinting faults", () => {
  /** The 986-page case above (6 pages demoted), then 100 of node 0's pages unmapped so node 0 is above its high watermark. */
  function demotedSix(): { m: Machine; p: Process; demoted: number[] } {
    const { m, p } = boot(true);
    fill(p, 986);
    const demoted: number[] = [];
    for (let i = 0; i < 986; i++) if (p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + i * PAGE)) >= NODE1) demoted.push(i);
    expect(demoted.length).toBe(6);
    // Pages 900..999 of the mapping: 86 touched pages on node 0 (none of the 6 demoted: those are the oldest).
    expect(demoted.every((i) => i < 900)).toBe(true);
    expect(p.sys.munmap(BASE + 900 * PAGE, 100 * PAGE)).toBe(0);
    return { m, p, demoted };
  }

  it("a scan marks the 6 pages on node 1; touching one from CPU 0 brings it back to node 0", () => {
    const { m, p, demoted } = demotedSix();
    const balancing = m.kernel.taskParts.memory.numaHint;
    expect(balancing).not.toBeNull();
    expect(balancing?.scan(p.mm)).toBe(6);
    const first = demoted[0] as number;
    // Node 0's Normal zone: 38 free after kswapd, + 86 unmapped pages = 124 > high (38): room to promote.
    expect(p.mem.read32(BASE + first * PAGE)).toBe(first);
    expect([vmstat(m, "numa_hint_faults"), vmstat(m, "pgpromote_success"), vmstat(m, "numa_pte_updates")]).toEqual([1, 1, 6]);
    expect(p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + first * PAGE))).toBeLessThan(NODE1);
    // The other five are still on node 1 and still hinting; reading them promotes each.
    expect(onNode1(p, 900)).toBe(5);
    expect(wrongValues(p, 900)).toBe(0);
    expect([vmstat(m, "numa_hint_faults"), vmstat(m, "pgpromote_success")]).toEqual([6, 6]);
    expect(onNode1(p, 900)).toBe(0);
    m.check();
  });

  it("node 0 at its high watermark: the hinting fault restores the entry and the page stays on node 1", () => {
    const { m, p } = boot(true);
    fill(p, 986);
    const balancing = m.kernel.taskParts.memory.numaHint;
    expect(balancing?.scan(p.mm)).toBe(6);
    // Node 0's Normal zone has 38 free = high: promotion needs more.
    expect(wrongValues(p, 986)).toBe(0);
    expect([vmstat(m, "numa_hint_faults"), vmstat(m, "pgpromote_success")]).toEqual([6, 0]);
    expect(onNode1(p, 986)).toBe(6);
    // The entries are ordinary again: a second pass faults no more.
    expect(wrongValues(p, 986)).toBe(0);
    expect(vmstat(m, "numa_hint_faults")).toBe(6);
    m.check();
  });

  it("the scan timer (every second of the cost clock, at kswapd's safe point) marks the demoted pages by itself", () => {
    // 20 ms per fault: 50 faults are a second.
    const { m, p } = boot(true, 20_000_000);
    fill(p, 986);
    const demoted: number[] = [];
    for (let i = 0; i < 986; i++) if (p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + i * PAGE)) >= NODE1) demoted.push(i);
    expect(demoted.length).toBe(6);
    expect(p.sys.munmap(BASE + 900 * PAGE, 86 * PAGE)).toBe(0);
    // 60 faults elsewhere (1.2 s): at least one scan after the demotion; it marks the 6 pages of node 1, no others
    // (node 0's Normal zone has 38 + 86 = 124 free: the 60 pages and their page-table page stay above low, on node 0).
    const other = BASE + 0x10000000;
    expect(p.sys.mmap(other, 60 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(other);
    for (let i = 0; i < 60; i++) p.mem.write32(other + i * PAGE, i);
    expect([vmstat(m, "numa_pte_updates"), vmstat(m, "numa_hint_faults")]).toEqual([6, 0]);
    const first = demoted[0] as number;
    expect(p.mem.read32(BASE + first * PAGE)).toBe(first);
    expect([vmstat(m, "numa_hint_faults"), vmstat(m, "pgpromote_success")]).toEqual([1, 1]);
    expect(p.mm.pt.ptePfn(p.mm.pt.lookup(BASE + first * PAGE))).toBeLessThan(NODE1);
    m.check();
  });
});
