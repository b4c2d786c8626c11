import { describe, expect, it } from "vitest";
import { GFP_ATOMIC, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE, type Process } from "../../../sim/index.ts";

const MiB = 1 << 20;
const PAGE = 4096;
const BASE = 0x100000000;
/** Node 1's first frame: node 0 holds 20 MiB = 5120 frames (DMA 0..4095, Normal 4096..5119). */
const NODE1 = 5120;

/** A fast node 0 (CPU 0, 20 MiB) and a slow memory-only node 1 (4 MiB), with swap. */
function boot(tiering: boolean): { m: Machine; p: Process } {
  const nodes = [
    { cpus: [0], memBytes: 20 * MiB },
    { cpus: [], memBytes: 4 * MiB },
  ];
  const m = Machine.boot({ numa: { nodes, tiering }, swapBytes: 16 * MiB, debugVm: 1 });
  const p = m.spawn("t");
  return { m, p };
}

function vmstat(m: Machine, name: string): number {
  const line = m.proc
    .vmstat()
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
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
