/**
 * Zonelists (Linux build_zonelists, in node order) and the NUMA allocation
 * counters (zone_statistics). Each node has one zonelist: the zones of every
 * node in that node's fallback order (numa.ts), each node's zones highest
 * first. The buddy allocator (page_alloc.ts) walks it in two passes:
 *
 *   first pass   each node's top zone in fallback order, at its low
 *                watermark: a full local node spills to the nearest node
 *                before it dips into its own reserves (zone_reclaim_mode 0);
 *   second pass  every zone of the zonelist at its min watermark, plus the
 *                lowmem reserve in zones below the request's highest.
 *
 * On one node this is the order memsim always had: Normal at low, then
 * Normal and DMA at min.
 *
 * Counters, in pages, per zone (vmstat numa_*, node N's numastat): an
 * allocation that wanted node P and got a page of zone z on node Z, asked
 * by a CPU of node L, counts numa_miss on z and numa_foreign on P's top
 * zone when Z != P, other_node on z when Z != L. numa_hit and local_node are
 * what is left of the zone's pgalloc, so the per-CPU fast path (always the
 * local node, always the preferred one) counts nothing more.
 */
import type { Zone } from "./mmzone.ts";
import type { NumaTopology } from "./numa.ts";

/** Each node's zonelist, as indexes into the allocator's zone array. */
export interface Zonelists {
  /** all[nid]: every zone, node by node in nid's fallback order, highest zone first. */
  readonly all: readonly Int32Array[];
  /** firstPass[nid]: the top zone of each node, in nid's fallback order. */
  readonly firstPass: readonly Int32Array[];
  /** top[nid]: the node's highest zone; low[nid]: its lowest. */
  readonly top: Int32Array;
  readonly low: Int32Array;
}

/** Builds every node's zonelist. Zones must be sorted by node, then zone index. */
export function buildZonelists(zones: readonly Zone[], topo: NumaTopology): Zonelists {
  const n = topo.nrNodes;
  const top = new Int32Array(n).fill(-1);
  const low = new Int32Array(n).fill(-1);
  for (let i = 0; i < zones.length; i++) {
    const nid = (zones[i] as Zone).nid;
    if (low[nid] === -1) low[nid] = i;
    top[nid] = i;
  }
  const all: Int32Array[] = [];
  const firstPass: Int32Array[] = [];
  for (let nid = 0; nid < n; nid++) {
    const list: number[] = [];
    const tops: number[] = [];
    for (const other of topo.fallback[nid] as Int32Array) {
      if ((top[other] as number) < 0) continue;
      tops.push(top[other] as number);
      for (let i = top[other] as number; i >= (low[other] as number); i--) list.push(i);
    }
    all.push(Int32Array.from(list));
    firstPass.push(Int32Array.from(tops));
  }
  return { all, firstPass, top, low };
}

/** One node's NUMA counters, summed over its zones (node N's numastat). */
export interface NodeNumaStat {
  numa_hit: number;
  numa_miss: number;
  numa_foreign: number;
  interleave_hit: number;
  local_node: number;
  other_node: number;
}

/** Sums the counters of node nid's zones. */
export function nodeNumaStat(zones: readonly Zone[], nid: number): NodeNumaStat {
  const s: NodeNumaStat = { numa_hit: 0, numa_miss: 0, numa_foreign: 0, interleave_hit: 0, local_node: 0, other_node: 0 };
  for (const z of zones) {
    if (z.nid !== nid) continue;
    s.numa_hit += z.pgalloc - z.numaMiss;
    s.numa_miss += z.numaMiss;
    s.numa_foreign += z.numaForeign;
    s.interleave_hit += z.interleaveHit;
    s.local_node += z.pgalloc - z.otherNode;
    s.other_node += z.otherNode;
  }
  return s;
}

/** node N's numastat file (drivers/base/node.c): six "name value" lines. */
export function renderNumastat(s: NodeNumaStat): string {
  return (
    `numa_hit ${s.numa_hit}\nnuma_miss ${s.numa_miss}\nnuma_foreign ${s.numa_foreign}\n` +
    `interleave_hit ${s.interleave_hit}\nlocal_node ${s.local_node}\nother_node ${s.other_node}\n`
  );
}

/** /proc/vmstat's numa_* lines (a NUMA kernel's names), summed over every node. */
export function numaVmstat(zones: readonly Zone[], nrNodes: number, out: Array<[string, number]>): void {
  const t: NodeNumaStat = { numa_hit: 0, numa_miss: 0, numa_foreign: 0, interleave_hit: 0, local_node: 0, other_node: 0 };
  for (let nid = 0; nid < nrNodes; nid++) {
    const s = nodeNumaStat(zones, nid);
    for (const k of Object.keys(t) as Array<keyof NodeNumaStat>) t[k] += s[k];
  }
  out.push(["numa_hit", t.numa_hit], ["numa_miss", t.numa_miss], ["numa_foreign", t.numa_foreign]);
  out.push(["numa_interleave", t.interleave_hit], ["numa_local", t.local_node], ["numa_other", t.other_node]);
}
