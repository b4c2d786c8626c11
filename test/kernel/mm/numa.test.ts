import { describe, expect, it } from "vitest";
import { GFP_KERNEL, Machine } from "../../../sim/index.ts";

const MiB = 1 << 20;

/** The node of the zone holding pfn. */
function nodeOf(m: Machine, pfn: number): number {
  return m.kernel.buddy.zoneOf(pfn).nid;
}

/** Allocates order-0 pages on the running CPU until one comes from another node than `home`; returns it and how many came before. */
function spill(m: Machine, home: number): { pfn: number; local: number } {
  for (let local = 0; ; local++) {
    const pfn = m.kernel.pages.allocPages(0, GFP_KERNEL);
    expect(pfn).toBeGreaterThanOrEqual(0);
    if (nodeOf(m, pfn) !== home) return { pfn, local };
  }
}

describe("NUMA nodes at boot", () => {
  it("numaNodes: 2 cuts 64 MiB in two 32 MiB nodes; only node 0 has a DMA zone", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, numaNodes: 2, cpus: 2 });
    // 32 MiB = 8192 frames per node; DMA is node 0's first 16 MiB (4096 frames).
    const zones = m.kernel.buddy.zones.map((z) => [z.nid, z.name, z.startPfn, z.endPfn]);
    expect(zones).toEqual([
      [0, "DMA", 0, 4096],
      [0, "Normal", 4096, 8192],
      [1, "Normal", 8192, 16384],
    ]);
    // CPUs dealt in blocks: CPU c on node floor(c * 2 / 2).
    expect(Array.from(m.kernel.numa.cpuNode)).toEqual([0, 1]);
    expect(
      m.proc
        .buddyinfo()
        .split("\n")
        .map((l) => l.slice(0, 20)),
    ).toEqual(["Node 0, zone      DM", "Node 0, zone   Norma", "Node 1, zone   Norma", ""]);
    m.check();
  });

  it("node meminfo: node 1 holds 32768 kB, all free after boot (boot ran on CPU 0, node 0)", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, numaNodes: 2, cpus: 2 });
    expect(m.proc.nodeMeminfo(1)).toBe(
      "Node 1 MemTotal:          32768 kB\nNode 1 MemFree:           32768 kB\nNode 1 MemUsed:               0 kB\n",
    );
    // Node 0's MemTotal is its managed frames: 8192 minus frame 0, the kernel image and mem_map.
    const managed0 = m.kernel.buddy.zones.filter((z) => z.nid === 0).reduce((n, z) => n + z.managed, 0);
    expect(m.proc.nodeMeminfo(0).split("\n")[0]).toBe(`Node 0 MemTotal:       ${String(managed0 * 4).padStart(8)} kB`);
    expect(() => m.proc.nodeMeminfo(2)).toThrow("node 2: the machine has nodes 0..1");
  });

  it("allocations take the running CPU's node first", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, numaNodes: 2, cpus: 2 });
    expect(nodeOf(m, m.kernel.pages.allocPages(0, GFP_KERNEL))).toBe(0);
    m.kernel.smp.switchTo(1);
    const pfn = m.kernel.pages.allocPages(0, GFP_KERNEL);
    expect(nodeOf(m, pfn)).toBe(1);
    m.kernel.pages.freePages(pfn, 0);
    m.kernel.smp.switchTo(0);
    // A page of node 1 freed by CPU 0 goes on CPU 0's list of node 1's zone, not node 0's.
    const before = m.kernel.buddy.zones[2]?.pcp[0]?.count ?? -1;
    const p1 = m.kernel.pages.allocPagesNode(0, GFP_KERNEL, 1, 0);
    expect(nodeOf(m, p1)).toBe(1);
    m.kernel.pages.freePages(p1, 0);
    expect(m.kernel.buddy.zones[2]?.pcp[0]?.count).toBe(before + 1);
    m.check();
  });

  it("fallback follows the distance table: node 0 spills to node 2 (distance 20) before node 1 (30)", () => {
    const distance = [
      [10, 30, 20],
      [30, 10, 20],
      [20, 20, 10],
    ];
    const nodes = [
      { cpus: [0], memBytes: 8 * MiB },
      { cpus: [1], memBytes: 8 * MiB },
      { cpus: [], memBytes: 8 * MiB },
    ];
    const m = Machine.boot({ numa: { nodes, distance } });
    expect(m.config.ramBytes).toBe(24 * MiB);
    expect(m.config.cpus).toBe(2);
    // Sorted by distance from each node, ties to the lower id: 0 -> 0,2,1; 1 -> 1,2,0; 2 -> 2,0,1 (20 = 20, 0 < 1).
    expect(m.kernel.numa.fallback.map((f) => Array.from(f))).toEqual([
      [0, 2, 1],
      [1, 2, 0],
      [2, 0, 1],
    ]);
    // Node 0 is all DMA (8 MiB < 16 MiB); nodes 1 and 2 one Normal zone each: zone indexes 0, 1, 2.
    expect(m.kernel.buddy.zonelists.all.map((l) => Array.from(l))).toEqual([
      [0, 2, 1],
      [1, 2, 0],
      [2, 0, 1],
    ]);
    const { pfn } = spill(m, 0);
    expect(nodeOf(m, pfn)).toBe(2);
    // The spilled page: a miss and an other-node page on node 2, a foreign page on node 0.
    expect(m.proc.numastat(2)).toBe("numa_hit 0\nnuma_miss 1\nnuma_foreign 0\ninterleave_hit 0\nlocal_node 0\nother_node 1\n");
    expect(m.proc.numastat(0)).toContain("numa_miss 0\nnuma_foreign 1\n");
    expect(m.proc.vmstat()).toContain("numa_miss 1\nnuma_foreign 1\n");
    m.check();
  });

  it("a node mask keeps the allocation on its nodes: node 1 only, asked from CPU 0", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB, numaNodes: 2, cpus: 2 });
    const pfn = m.kernel.pages.allocPagesNode(0, GFP_KERNEL, 0, 0b10);
    // Preferred node 0 is outside the mask, so the page is node 1's: a miss on node 1, other_node (CPU 0 is on node 0).
    expect(nodeOf(m, pfn)).toBe(1);
    expect(m.proc.numastat(1)).toBe("numa_hit 0\nnuma_miss 1\nnuma_foreign 0\ninterleave_hit 0\nlocal_node 0\nother_node 1\n");
    m.check();
  });

  it("one node (the default) shows no numa_* lines in vmstat", () => {
    const m = Machine.boot({ ramBytes: 64 * MiB });
    expect(m.proc.vmstat()).not.toContain("numa_hit");
    expect(m.kernel.numa.nrNodes).toBe(1);
    expect(m.proc.numastat(0)).toMatch(/^numa_hit \d+\nnuma_miss 0\n/);
  });
});

describe("NUMA boot options: bad input is a clear error", () => {
  const bad: Array<[string, Parameters<typeof Machine.boot>[0], string]> = [
    ["too many nodes", { numaNodes: 9 }, "numaNodes must be an integer from 1 to 8, got 9"],
    ["nodes under 1 MiB", { ramBytes: 2 * MiB, numaNodes: 4 }, "numaNodes 4 leaves less than 1 MiB per node"],
    ["both forms", { numaNodes: 2, numa: { nodes: [{ cpus: [0], memBytes: MiB }] } }, "give numaNodes or numa, not both"],
    [
      "RAM disagrees",
      { ramBytes: 8 * MiB, numa: { nodes: [{ cpus: [0], memBytes: 2 * MiB }] } },
      "numa.nodes hold 2097152 bytes of RAM, but ramBytes is 8388608",
    ],
    [
      "CPU on two nodes",
      {
        numa: {
          nodes: [
            { cpus: [0], memBytes: 2 * MiB },
            { cpus: [0], memBytes: 2 * MiB },
          ],
        },
      },
      "numa.nodes[1].cpus: CPU 0 is out of 0..1 or on two nodes",
    ],
    ["odd node size", { numa: { nodes: [{ cpus: [0], memBytes: MiB + 1 }] } }, "numa.nodes[0].memBytes must be a multiple of 4096"],
    [
      "bad distance",
      {
        numa: {
          nodes: [
            { cpus: [0], memBytes: 2 * MiB },
            { cpus: [], memBytes: 2 * MiB },
          ],
          distance: [
            [10, 20],
            [20, 12],
          ],
        },
      },
      "numa.distance must be 2 rows of 2 integers, 10 on the diagonal",
    ],
  ];
  for (const [name, opts, msg] of bad) it(name, () => expect(() => Machine.boot(opts)).toThrow(msg));
});
